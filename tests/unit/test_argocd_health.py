"""The Argo CD health check for ReportSchedules, in the layout of Argo CD's
resource_customizations (docs/argocd/bulletin.dev/ReportSchedule): every case of its
health_test.yaml, run by gopher-lua as Argo CD runs it, gives the status and message the case
expects; and kstatus (Flux, kpt) reads the same objects as docs/gitops.md's table says.

The testdata are real objects captured from the cluster by
tests/integration/test_gitops_status.py (which checks that each state there gives the status its
case expects); progressing-new.yaml is healthy.yaml before the operator wrote any status.
"""

from __future__ import annotations

import pytest
from kstatus_checker import HEALTH_DIR, argocd_health, health_cases, kstatus, load_testdata

CASES = health_cases()

# What kstatus computes for each testdata object (docs/gitops.md's kstatus column).
KSTATUS = {
    "testdata/healthy.yaml": "Current",
    "testdata/healthy-last-run-skipped.yaml": "Current",
    "testdata/progressing.yaml": "InProgress",
    "testdata/progressing-new.yaml": "Current",
    "testdata/suspended.yaml": "Current",
    "testdata/degraded-invalid-spec.yaml": "Failed",
    "testdata/degraded-invalid-spec-suspended.yaml": "Failed",
    "testdata/degraded-last-run-failed.yaml": "Current",
    "testdata/degraded-partially-delivered.yaml": "Current",
    "testdata/degraded-paused.yaml": "Failed",
}


def test_every_testdata_file_has_a_case_and_every_case_a_kstatus() -> None:
    on_disk = {f"testdata/{p.name}" for p in (HEALTH_DIR / "testdata").glob("*.yaml")}
    assert {path for path, _, _ in CASES} == on_disk == set(KSTATUS)
    assert len(CASES) == len(on_disk)  # no state listed twice


@pytest.mark.parametrize(("input_path", "status", "message"), CASES,
                         ids=[path for path, _, _ in CASES])
def test_health_test_case(input_path: str, status: str, message: str) -> None:
    assert argocd_health(load_testdata(input_path)) == (status, message)


@pytest.mark.parametrize("input_path", sorted(KSTATUS))
def test_kstatus_of_the_same_object(input_path: str) -> None:
    assert kstatus(load_testdata(input_path))[0] == KSTATUS[input_path]


def test_suspend_does_not_hide_an_invalid_spec() -> None:
    """Only spec.suspend differs between the invalid spec suspended or not: both Degraded."""
    obj = load_testdata("testdata/degraded-invalid-spec-suspended.yaml")
    assert obj["spec"]["suspend"] is True
    assert argocd_health(obj)[0] == "Degraded"
    obj["spec"]["suspend"] = False
    assert argocd_health(obj)[0] == "Degraded"


def test_a_failed_run_while_suspended_is_suspended() -> None:
    """A deliberate suspend wins over a past run's failure, as in Argo CD's CronJob check."""
    obj = load_testdata("testdata/degraded-last-run-failed.yaml")
    obj["spec"]["suspend"] = True
    assert argocd_health(obj) == ("Suspended", "spec.suspend is true")


def test_a_run_in_progress_is_healthy() -> None:
    """lastRun without a result is a run still going: the schedule is as Ready says."""
    obj = load_testdata("testdata/degraded-last-run-failed.yaml")
    del obj["status"]["lastRun"]["result"]
    del obj["status"]["lastRun"]["endTime"]
    assert argocd_health(obj) == ("Healthy", "CronJob broken runs '0 9 * * MON'")


def test_a_stale_stalled_condition_is_progressing() -> None:
    """A spec fixed after Stalled, not yet seen by the operator: Progressing, as kstatus says
    InProgress, not Degraded for the old generation's problem."""
    obj = load_testdata("testdata/degraded-invalid-spec.yaml")
    obj["metadata"]["generation"] += 1
    assert argocd_health(obj)[0] == "Progressing"
    assert kstatus(obj)[0] == "InProgress"
