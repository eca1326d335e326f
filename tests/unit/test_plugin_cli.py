"""The kubectl plugin's command line and error messages (no cluster needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bulletin.plugin import cli
from bulletin.plugin.commands import gitops_owner
from bulletin.plugin.kube import server_error
from kubernetes.client.exceptions import ApiException


def test_not_found_reads_like_kubectl() -> None:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "reason": "NotFound",
                           "message": 'reportschedules.bulletin.dev "x" not found', "code": 404})
    assert server_error(exc) == \
        'Error from server (NotFound): reportschedules.bulletin.dev "x" not found'
    bare = ApiException(status=503, reason="Service Unavailable")
    assert server_error(bare) == "Error from server (Service Unavailable): status 503"


@pytest.mark.parametrize(("argv", "complaint"), [
    (["status", "x", "-A"], "cannot be retrieved by name across all namespaces"),
    (["next", "x", "--from", "2027-03-20T00:00:00"], "needs a zone"),
    (["next", "x", "--count", "0"], "must be at least 1"),
    (["history", "x", "-o", "wide"], "invalid choice"),
])
def test_usage_errors_exit_2_on_stderr(argv: list[str], complaint: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        code = cli.main(argv)
        raise SystemExit(code)
    assert raised.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and complaint in err


def test_a_missing_kubeconfig_is_an_error_not_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["status", "--kubeconfig", f"{tmp_path}/none"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.parametrize(("meta", "owner"), [
    ({"annotations": {"argocd.argoproj.io/tracking-id": "app:bulletin.dev/ReportSchedule:a/b"}},
     "Argo CD (argocd.argoproj.io/tracking-id)"),
    ({"labels": {"kustomize.toolkit.fluxcd.io/name": "reports"}},
     "Flux (kustomize.toolkit.fluxcd.io/name)"),
    ({"labels": {"team": "a"}}, None),
])
def test_gitops_marks(meta: dict[str, dict[str, str]], owner: str | None) -> None:
    assert gitops_owner({"metadata": meta}) == owner
