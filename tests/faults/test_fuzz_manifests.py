"""Fuzzed manifests against the real API server and an operator of their own: 1,000 ReportSchedules
drawn from the CRD's own schema and mutated from valid ones. Each is refused at admission with a
message naming a field, or the operator settles it: Ready=True, or Stalled=True with a message
naming a field. The operator stays up, logs no traceback and keeps no handler retrying.

The seed is printed; BULLETIN_FUZZ_SEED=<seed> replays the same manifests."""

from __future__ import annotations

import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from devstack.operatorproc import OperatorProcess, local_env
from faults.fuzz_manifests import Spec, draw, mutations, schema_specs
from kubernetes.client.rest import ApiException
from support import Cluster, condition, report_schedule, wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.faults, pytest.mark.own_operator,
              pytest.mark.timeout(900)]


@pytest.fixture
def operator(cluster: Cluster, runner_image: str) -> Iterator[OperatorProcess]:
    """An operator with a log of its own: no earlier fault test's outage can show up in it."""
    proc = OperatorProcess(cluster.kubeconfig, cluster.workdir / "operator-fuzz.log",
                           env=local_env(runner_image))
    proc.start()
    yield proc
    proc.stop()

FROM_SCHEMA, MUTATED = 400, 600
KOPF_PREFIX = "kopf.bulletin.dev/"
DIFFBASE = KOPF_PREFIX + "last-handled-configuration"
NAMES_FIELD = re.compile(r"(?<![\w-])\.?spec(\.[A-Za-z]|\[|:| in body)")
TROUBLE = ("Traceback", "Will retry", "failed with an exception", "Unhandled")


def _create(cluster: Cluster, namespace: str, name: str, spec: Spec) -> str | None:
    """None when admitted, else the API server's message (a 4xx: a refusal)."""
    body = {**report_schedule(name), "spec": spec}
    try:
        cluster.custom.create_namespaced_custom_object(
            "bulletin.dev", "v1alpha1", namespace, "reportschedules", body,
            field_validation="Strict")
    except ApiException as exc:
        if exc.status is None or not 400 <= exc.status < 500:
            raise
        try:  # the Status message, not its details (which name fields by themselves)
            message = json.loads(exc.body)["message"]
        except (TypeError, ValueError, KeyError):
            message = exc.body
        return f"{exc.status}: {message}"
    return None


def _listed(cluster: Cluster, namespace: str) -> dict[str, dict[str, Any]]:
    found = cluster.custom.list_namespaced_custom_object(
        "bulletin.dev", "v1alpha1", namespace, "reportschedules")
    return {obj["metadata"]["name"]: obj for obj in found["items"]}


def _settled(obj: dict[str, Any]) -> str | None:
    """'ready' or 'stalled' once the operator has answered this generation, else None."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"]["generation"]:
        return None
    if condition(obj, "Ready").get("status") == "True":
        return "ready"
    if condition(obj, "Stalled").get("status") == "True":
        return "stalled"
    return None


def test_fuzzed_manifests_are_refused_or_settle(cluster: Cluster, operator: OperatorProcess,
                                                namespace: str) -> None:
    seed = int(os.environ.get("BULLETIN_FUZZ_SEED") or secrets.randbelow(2 ** 32))
    print(f"\nBULLETIN_FUZZ_SEED={seed}")  # replay: BULLETIN_FUZZ_SEED=<seed> make test-faults
    log_start = operator.log.stat().st_size
    kinds: dict[str, str] = {}
    specs: dict[str, Spec] = {}
    futures: dict[str, Future[str | None]] = {}
    with ThreadPoolExecutor(8) as pool:  # creates overlap with the drawing

        def submit(kind: str, spec: Spec) -> None:
            name = f"fz-{len(futures):04d}"
            kinds[name], specs[name] = kind, spec
            futures[name] = pool.submit(_create, cluster, namespace, name, spec)

        draw(schema_specs(), FROM_SCHEMA, seed, lambda spec: submit("schema", spec))
        draw(mutations(), MUTATED, seed, lambda pair: submit(pair[0], pair[1]))
        refused = {name: f.result() for name, f in futures.items() if f.result() is not None}
    assert len(futures) >= 0.9 * (FROM_SCHEMA + MUTATED), f"only {len(futures)} drawn"
    unnamed = {n: m for n, m in refused.items() if not NAMES_FIELD.search(m or "")}
    assert not unnamed, f"seed {seed}: refusals naming no field: {_sample(unnamed, specs)}"

    admitted = set(futures) - set(refused)
    outcome: dict[str, str] = {}

    def all_settled() -> bool:
        for name, obj in _listed(cluster, namespace).items():
            if name in admitted and (state := _settled(obj)):
                outcome[name] = state
        return outcome.keys() >= admitted

    wait_for(all_settled, "every admitted schedule Ready or Stalled", timeout=240, interval=2,
             explain=lambda: f"seed {seed}; unsettled: "
             + _sample({n: str(specs[n]) for n in admitted - outcome.keys()}, specs)
             + "\n" + cluster.diagnose(namespace)[-3000:])

    listed = _listed(cluster, namespace)
    vague = {n: condition(listed[n], "Stalled").get("message", "") for n, s in outcome.items()
             if s == "stalled"}
    vague = {n: m for n, m in vague.items() if not NAMES_FIELD.search(m)}
    assert not vague, f"seed {seed}: Stalled with a message naming no field: {vague}"

    # No handler keeps retrying: kopf's progress annotations are gone and, across a round trip
    # through the operator (a fresh schedule made Ready), no Stalled schedule was written again.
    retrying = {n: [k for k in (o["metadata"].get("annotations") or {})
                    if k.startswith(KOPF_PREFIX) and k != DIFFBASE]
                for n, o in listed.items()}
    assert not {n: k for n, k in retrying.items() if k}, f"seed {seed}: retrying: {retrying}"
    versions = {n: listed[n]["metadata"]["resourceVersion"] for n, s in outcome.items()
                if s == "stalled"}
    assert _create(cluster, namespace, "fz-sentinel", report_schedule("x")["spec"]) is None
    wait_for(lambda: _settled(_listed(cluster, namespace)["fz-sentinel"]) == "ready",
             "the sentinel schedule Ready", timeout=60)
    after = _listed(cluster, namespace)
    rewritten = [n for n, rv in versions.items() if after[n]["metadata"]["resourceVersion"] != rv]
    assert not rewritten, f"seed {seed}: Stalled schedules written again: {rewritten[:10]}"

    assert operator.proc is not None and operator.proc.poll() is None, "the operator exited"
    with operator.log.open("rb") as log:
        log.seek(log_start)
        tail = log.read().decode(errors="replace")
    trouble = [line for line in tail.splitlines() if any(t in line for t in TROUBLE)]
    assert not trouble, f"seed {seed}: operator log:\n" + "\n".join(trouble[:20])

    tally = Counter((kinds[n], "refused") for n in refused)
    tally.update((kinds[n], s) for n, s in outcome.items())
    print(f"seed {seed}: {len(futures)} manifests: {len(refused)} refused at admission, "
          f"{sum(s == 'ready' for s in outcome.values())} Ready, "
          f"{sum(s == 'stalled' for s in outcome.values())} Stalled; "
          + ", ".join(f"{k}/{s}={c}" for (k, s), c in sorted(tally.items())))


def _sample(found: dict[str, Any], specs: dict[str, Spec], limit: int = 5) -> str:
    return "\n".join(f"{n}: {str(m)[:400]} <- {str(specs[n])[:300]}"
                     for n, m in list(found.items())[:limit])
