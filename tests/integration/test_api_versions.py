"""docs/api-versions.md in practice: a ReportSchedule stored as v1alpha1 survives the CRD being
re-applied with a new served version (v1beta1, same schema, conversion None, as the first
step of the policy), is read unchanged through both, an object written through the new version
is reconciled by the operator (which reads v1alpha1), and both survive going back."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devstack.operatorproc import OperatorProcess
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from support import Cluster, condition, report_schedule, wait_for

CRD = "reportschedules.bulletin.dev"
GROUP, PLURAL = "bulletin.dev", "reportschedules"
ROOT = Path(__file__).resolve().parents[2]


def _get(cluster: Cluster, version: str, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.custom.get_namespaced_custom_object(
        GROUP, version, namespace, PLURAL, name)
    return found


def _served(cluster: Cluster, version: str, namespace: str) -> bool:
    try:
        cluster.custom.list_namespaced_custom_object(GROUP, version, namespace, PLURAL)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


@pytest.fixture
def with_v1beta1(cluster: Cluster, namespace: str) -> Iterator[client.ApiextensionsV1Api]:
    """The CRD re-applied with v1beta1 served beside v1alpha1 (storage); put back after."""
    ext = client.ApiextensionsV1Api(cluster.api)
    crd = ext.read_custom_resource_definition(CRD)
    ours = crd.spec.versions[0]
    assert [v.name for v in crd.spec.versions] == ["v1alpha1"] and ours.storage
    beta = copy.deepcopy(ours)
    beta.name, beta.storage = "v1beta1", False
    crd.spec.versions = [ours, beta]
    ext.replace_custom_resource_definition(CRD, crd)
    wait_for(lambda: _served(cluster, "v1beta1", namespace), "v1beta1 served")
    try:
        yield ext
    finally:
        _put_back(cluster, namespace)


def _put_back(cluster: Cluster, namespace: str) -> None:
    """The CRD as crds/ has it (v1alpha1 only), as `kubectl apply` of a release does."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f",
                    str(ROOT / "crds" / "bulletin.dev_reportschedules.yaml"))
    wait_for(lambda: not _served(cluster, "v1beta1", namespace), "v1beta1 no longer served")


def test_a_stored_v1alpha1_object_survives_a_new_served_version(
        cluster: Cluster, namespace: str, with_v1beta1: client.ApiextensionsV1Api,
        operator: OperatorProcess) -> None:
    stored = cluster.create_rs(namespace, report_schedule("before"))
    as_beta = _get(cluster, "v1beta1", namespace, "before")
    assert as_beta["apiVersion"] == "bulletin.dev/v1beta1"
    assert as_beta["spec"] == stored["spec"]

    body = report_schedule("through-beta")
    body["apiVersion"] = "bulletin.dev/v1beta1"
    created = cluster.custom.create_namespaced_custom_object(GROUP, "v1beta1", namespace,
                                                             PLURAL, body)
    # The operator reads v1alpha1: it sees and reconciles the object written as v1beta1.
    wait_for(lambda: condition(_get(cluster, "v1alpha1", namespace, "through-beta"),
                               "Ready").get("observedGeneration") == 1,
             "the object written as v1beta1 reconciled (Ready for its generation)")
    crd = with_v1beta1.read_custom_resource_definition(CRD)
    assert crd.status.stored_versions == ["v1alpha1"]  # both objects are stored as v1alpha1

    _put_back(cluster, namespace)
    for name, spec in (("before", stored["spec"]), ("through-beta", created["spec"])):
        assert _get(cluster, "v1alpha1", namespace, name)["spec"] == spec
