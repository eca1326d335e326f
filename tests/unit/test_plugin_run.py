"""`kubectl bulletin run` waits for the operator's answer (no cluster needed): accepted when the
run-now Job exists, refused with the reason of the RunNowRefused Event naming the token, an
error when nobody answers; `logs` picks the run just requested."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from bulletin.api.names import run_now_job_name
from bulletin.plugin import accept, cli, runnow
from bulletin.plugin import kube as kube_module
from bulletin.plugin.accept import NotAccepted, Observation, decide, refusal_reason, wait_answer
from bulletin.plugin.kube import PluginError
from bulletin.plugin.logs import latest_run, newest_job
from kubernetes.client.exceptions import ApiException

TOKEN = "2026-01-05T10:00:00.000001Z"
OTHER = "2026-01-05T09:00:00.000001Z"
BUSY = f"run-now {TOKEN!r} not started: Job daily-now-1234abcd is still running; try again after it"


def test_the_refusal_naming_the_token_gives_the_reason() -> None:
    earlier = f"run-now {OTHER!r} not started: secret 'db' is not labelled"
    assert refusal_reason(TOKEN, [earlier]) is None
    assert refusal_reason(TOKEN, [earlier, BUSY]) == \
        "Job daily-now-1234abcd is still running; try again after it"


@pytest.mark.parametrize(("seen", "echoed_for", "answer"), [
    (Observation(job_exists=True, echoed=True, refusals=()), 0.0, True),
    (Observation(job_exists=True, echoed=False, refusals=()), None, True),
    (Observation(job_exists=False, echoed=True, refusals=(BUSY,)), 0.0,
     "Job daily-now-1234abcd is still running; try again after it"),
    (Observation(job_exists=False, echoed=False, refusals=()), None, None),
    (Observation(job_exists=False, echoed=True, refusals=()), 1.0, None),  # Event on its way
    (Observation(job_exists=False, echoed=True, refusals=()), accept.EVENT_GRACE,
     "no Job was started and no RunNowRefused Event says why"),
])
def test_decide(seen: Observation, echoed_for: float | None, answer: bool | str | None) -> None:
    assert decide(TOKEN, seen, echoed_for) == answer


class FakeKube:
    """A schedule whose operator answers after some polls: ``job_after`` polls the Job exists,
    ``refuse_after`` polls it has echoed the token and posted a refusal."""

    namespace = "analytics"

    def __init__(self, job_after: int | None = None, refuse_after: int | None = None) -> None:
        self.polls, self.job_after, self.refuse_after = 0, job_after, refuse_after
        self.batch = SimpleNamespace(read_namespaced_job=self._job)
        self.core = SimpleNamespace(list_namespaced_event=self._events)

    def _refused(self) -> bool:
        return self.refuse_after is not None and self.polls >= self.refuse_after

    def _job(self, name: str, namespace: str) -> object:
        self.polls += 1
        if self.job_after is not None and self.polls >= self.job_after:
            return SimpleNamespace(metadata=SimpleNamespace(name=name))
        raise ApiException(status=404)

    def _events(self, namespace: str, field_selector: str) -> SimpleNamespace:
        assert field_selector == "involvedObject.name=daily,reason=RunNowRefused"
        return SimpleNamespace(items=[SimpleNamespace(message=BUSY)] if self._refused() else [])

    def get(self, name: str) -> dict[str, Any]:
        return {"status": {"lastRunRequest": TOKEN if self._refused() else OTHER}}


def fake_clock() -> tuple[Callable[[], float], Callable[[float], None]]:
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    return (lambda: now[0]), sleep


def test_accepted_once_the_job_exists() -> None:
    clock, sleep = fake_clock()
    kube: Any = FakeKube(job_after=3)
    assert wait_answer(kube, "daily", TOKEN, clock=clock, sleep=sleep) == \
        run_now_job_name("daily", TOKEN)
    assert kube.polls == 3


def test_refused_with_the_operators_reason() -> None:
    clock, sleep = fake_clock()
    with pytest.raises(NotAccepted) as refused:
        wait_answer(FakeKube(refuse_after=2), "daily", TOKEN,  # type: ignore[arg-type]
                    clock=clock, sleep=sleep)
    assert str(refused.value) == ("error: the operator refused to run daily now: Job"
                                  " daily-now-1234abcd is still running; try again after it")


def test_no_answer_is_an_error_after_the_timeout() -> None:
    clock, sleep = fake_clock()
    with pytest.raises(PluginError, match=r"did not answer .* within 5s"):
        wait_answer(FakeKube(), "daily", TOKEN, timeout=5,  # type: ignore[arg-type]
                    clock=clock, sleep=sleep)
    assert clock() > 5


def test_run_prints_the_run_id_or_exits_1_with_the_reason(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    patches: list[dict[str, Any]] = []
    kube = FakeKube(job_after=1)
    kube.custom = SimpleNamespace(  # type: ignore[attr-defined]
        patch_namespaced_custom_object=lambda *args, **kw: patches.append(args[-1]))
    monkeypatch.setattr(kube_module, "connect", lambda *args: kube)
    monkeypatch.setattr(runnow, "datetime", SimpleNamespace(
        now=lambda tz: datetime(2026, 1, 5, 10, 0, 0, 1, tzinfo=UTC)))
    assert cli.main(["run", "daily"]) == 0
    assert capsys.readouterr().out == ("reportschedule.bulletin.dev/daily run requested, started"
                                       f" as {run_now_job_name('daily', TOKEN)}\n")
    assert patches[0]["metadata"]["annotations"]["bulletin.dev/run-requested-at"] == TOKEN

    kube.job_after, kube.refuse_after, kube.polls = None, 1, 0
    assert cli.main(["run", "daily"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == ("error: the operator refused to run daily now: Job daily-now-1234abcd is"
                   " still running; try again after it\n")


def job(name: str, created: str) -> SimpleNamespace:
    return SimpleNamespace(metadata=SimpleNamespace(
        name=name, creation_timestamp=datetime.fromisoformat(created)))


def test_logs_follow_the_newest_job_not_the_last_recorded_run() -> None:
    jobs = [job("daily-29400540", "2026-01-05T06:00:00+00:00"),
            job("daily-now-1234abcd", "2026-01-05T10:00:00+00:00")]
    assert newest_job(jobs) == "daily-now-1234abcd"
    assert newest_job([]) is None
    selectors: list[str] = []

    def list_jobs(namespace: str, label_selector: str) -> SimpleNamespace:
        selectors.append(label_selector)
        return SimpleNamespace(items=jobs)

    status = {"lastRunRequest": TOKEN, "lastRun": {"runId": "daily-29400540",
                                                   "startTime": "2026-01-05T06:00:00Z"}}
    kube: Any = SimpleNamespace(
        namespace="analytics", batch=SimpleNamespace(list_namespaced_job=list_jobs),
        get=lambda name: {"metadata": {"annotations": {"bulletin.dev/run-requested-at": TOKEN}},
                          "status": status})
    assert latest_run(kube, "daily") == "daily-now-1234abcd"
    assert selectors == ["bulletin.dev/schedule=daily"]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "complete -F _kubectl_bulletin kubectl-bulletin" in script
    assert 'run) opts="' in script and "--wait" in script and "--no-headers" in script
    if shell == "bash":
        words = "kubectl-bulletin st"
        probe = (f'{script}\nCOMP_WORDS=({words}); COMP_CWORD=1; _kubectl_bulletin;'
                 ' echo "${COMPREPLY[@]}"')
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True,
                              check=True, timeout=30)
        assert done.stdout.split() == ["status"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        cli.main(["--version"])
    assert raised.value.code == 0
    assert capsys.readouterr().out.startswith("kubectl bulletin ")


def test_the_plugins_api_names_are_the_crds() -> None:
    from bulletin.api import spec
    from bulletin.plugin import kube

    assert (kube.GROUP, kube.VERSION, kube.PLURAL) == (spec.GROUP, spec.VERSION, spec.PLURAL)


def test_history_of_every_schedule_newest_first() -> None:
    from bulletin.plugin.tables import all_history_table, runs_of

    def obj(namespace: str, name: str, *starts: str) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": name},
                "spec": {"schedule": {"timeZone": "UTC"}},
                "status": {"history": [{"runId": f"{name}-{i}", "startTime": s,
                                        "trigger": "Scheduled", "endTime": s,
                                        "result": "Succeeded"}
                                       for i, s in enumerate(starts)]}}

    objs = [obj("a", "daily", "2026-01-05T06:00:00Z", "2026-01-04T06:00:00Z"),
            obj("b", "weekly", "2026-01-04T09:00:00Z")]
    pairs = runs_of(objs, 2)
    assert [r.run_id for _, r in pairs] == ["daily-0", "weekly-0"]
    now = datetime(2026, 1, 5, 7, tzinfo=UTC)
    header, *rows = all_history_table(pairs, now, namespace=True).splitlines()
    assert header.split()[:3] == ["NAMESPACE", "SCHEDULE", "RUN"]
    assert [r.split()[:4] for r in rows] == [["a", "daily", "daily-0", "Scheduled"],
                                             ["b", "weekly", "weekly-0", "Scheduled"]]


def test_watch_shows_each_change_once() -> None:
    from bulletin.plugin.commands import follow

    def obj(name: str, version: str) -> dict[str, Any]:
        return {"metadata": {"namespace": "a", "name": name, "resourceVersion": version}}

    lists = iter([[obj("daily", "1"), obj("weekly", "1")],
                  [obj("daily", "2"), obj("weekly", "1")],
                  [obj("daily", "2"), obj("weekly", "1"), obj("monthly", "3")]])
    shown: list[list[str]] = []
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        follow(lambda: next(lists), [obj("daily", "1"), obj("weekly", "1")],
               lambda changed: shown.append([o["metadata"]["name"] for o in changed]),
               sleep=sleep)
    assert shown == [["daily"], ["monthly"]]
