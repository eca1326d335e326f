"""JSON log lines (BULLETIN_LOG_FORMAT=json): one object per line with time, level, logger,
message and what the line is about; exceptions as a field; secrets masked as in text lines."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

import kopf
import pytest
from bulletin.api import logformat, podenv
from bulletin.api.spec import ReportScheduleSpec
from bulletin.redact import redacted_logs
from bulletin_operator.builders import RunnerSettings, run_now_job

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"runId": "weekly-29650000", "namespace": "analytics", "schedule": "weekly"}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger writing JSON into a buffer (as the runner's handler does)."""
    out = io.StringIO()
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    root.handlers[:] = [logging.StreamHandler(out)]
    root.setLevel(logging.INFO)
    logformat.apply(logformat.JSON, FIELDS)
    yield out
    root.handlers[:] = saved
    root.setLevel(level)
    sys.excepthook = sys.__excepthook__
    logging.captureWarnings(False)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_object_with_time_level_logger_message_and_the_run(
        captured: io.StringIO) -> None:
    logging.getLogger("bulletin.deliver").warning("email: attempt %d failed\nsecond line", 2)
    [line] = lines(captured)
    assert line["level"] == "WARNING" and line["logger"] == "bulletin.deliver"
    assert line["message"] == "email: attempt 2 failed\nsecond line"
    assert {k: line[k] for k in FIELDS} == FIELDS
    assert line["time"].endswith("Z")
    assert datetime.fromisoformat(line["time"].replace("Z", "+00:00")).utcoffset() == timedelta(0)
    assert "exception" not in line


def test_an_exception_is_a_field_and_secrets_are_masked_in_it(captured: io.StringIO) -> None:
    secret = "pa55-w0rd-xyz"
    with redacted_logs([secret]):
        try:
            raise ConnectionError(f"postgresql://u:{secret}@db/x refused")
        except ConnectionError:
            logging.getLogger("bulletin.runner").exception("query for %s failed", secret)
    [line] = lines(captured)
    assert line["level"] == "ERROR" and line["message"] == "query for **** failed"
    assert "ConnectionError" in line["exception"] and "Traceback" in line["exception"]
    assert secret not in captured.getvalue()


def test_warnings_are_json_lines_too(captured: io.StringIO) -> None:
    import warnings

    warnings.warn("something old", DeprecationWarning, stacklevel=1)
    [line] = lines(captured)
    assert line["logger"] == "py.warnings" and "something old" in line["message"]


def _kopf_logger(kind: str, name: str, namespace: str | None) -> kopf.ObjectLogger:
    raw: dict[str, Any] = {"apiVersion": "v1", "kind": kind,
                           "metadata": {"name": name, "namespace": namespace, "uid": "u1"}}
    body = kopf.Body(cast(kopf.RawBody, raw))
    return kopf.ObjectLogger(body=body, settings=kopf.OperatorSettings())


def test_operator_object_lines_name_the_namespace_and_schedule(captured: io.StringIO) -> None:
    logformat.apply(logformat.JSON)  # as the operator does: no fields of its own
    _kopf_logger("ReportSchedule", "weekly-usage", "team-a").info("Handler succeeded.")
    _kopf_logger("Namespace", "team-b", None).info("allowlist changed")
    job = _kopf_logger("Job", "weekly-usage-123", "team-a")
    job.info("its run is already in the history", extra={"schedule": "weekly-usage"})
    schedule, namespace, job_line = lines(captured)
    assert (schedule["namespace"], schedule["schedule"]) == ("team-a", "weekly-usage")
    assert schedule["message"] == "Handler succeeded." and schedule["logger"] == "kopf.objects"
    assert namespace["namespace"] == "team-b" and "schedule" not in namespace
    assert (job_line["namespace"], job_line["schedule"], job_line["object"]) == (
        "team-a", "weekly-usage", "Job/weekly-usage-123")


def test_the_format_is_text_or_json() -> None:
    assert logformat.log_format({}) == "text"
    assert logformat.log_format({"BULLETIN_LOG_FORMAT": " JSON "}) == "json"
    with pytest.raises(ValueError, match="unknown format 'yaml'"):
        logformat.log_format({"BULLETIN_LOG_FORMAT": "yaml"})


def test_the_operator_passes_json_to_runner_pods_and_text_not_at_all() -> None:
    spec = ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * *"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "main", "query": "SELECT 1"}],
        "delivery": {"webhooks": [{"name": "ops", "url": "https://example.com/hook"}]}})
    from bulletin_operator.builders import Owner

    owner = Owner(name="weekly", namespace="analytics", uid="u1")

    def env(settings: RunnerSettings) -> list[dict[str, Any]]:
        job = run_now_job(owner, spec, settings, "t1", None)
        return list(job["spec"]["template"]["spec"]["containers"][0]["env"])

    assert podenv.value_in(env(RunnerSettings(log_format="json")), podenv.LOG_FORMAT) == "json"
    assert all(e["name"] != podenv.LOG_FORMAT for e in env(RunnerSettings()))


def _runner(**env: str) -> subprocess.CompletedProcess[str]:
    """bulletin-runner as a process, with only ``env`` (no API server to reach)."""
    base = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent",
            "PYTHONPATH": f"{ROOT / 'runner'}{os.pathsep}{ROOT / 'operator'}"}
    code = "import sys, bulletin.run as r; sys.exit(r.main())"
    return subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True,
                          text=True, timeout=60)


def test_every_line_of_a_crashing_runner_is_json_without_the_database_password(
        tmp_path: Path) -> None:
    # An API server whose (unresolvable) name is the password: the crash's message carries it.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://db-pass-42.invalid:1"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    proc = _runner(BULLETIN_LOG_FORMAT="json", BULLETIN_NAMESPACE="analytics",
                   BULLETIN_SCHEDULE="weekly", BULLETIN_RUN_ID="weekly-29650000",
                   BULLETIN_DB_URL="postgresql://u:db-pass-42@db/x", KUBECONFIG=str(kubeconfig),
                   BULLETIN_API_OUTAGE_SECONDS="2")  # retries (logged) for 2 s, then the crash
    assert proc.returncode == 1, proc.stderr
    parsed = [json.loads(line) for line in proc.stderr.splitlines()]
    assert parsed and all({k: p[k] for k in FIELDS} == FIELDS for p in parsed), proc.stderr
    assert any("exception" in p and "invalid" in p["exception"] for p in parsed), proc.stderr
    assert "db-pass-42" not in proc.stderr


def test_a_bad_environment_is_one_json_line_in_json_mode() -> None:
    proc = _runner(BULLETIN_LOG_FORMAT="json", BULLETIN_SCHEDULE="weekly")
    assert proc.returncode == 2
    [line] = [json.loads(x) for x in proc.stderr.splitlines()]
    assert line["level"] == "ERROR" and line["schedule"] == "weekly"
    assert line["message"].startswith("bulletin-runner: missing environment: BULLETIN_NAMESPACE")


def test_an_unknown_format_is_refused_in_text() -> None:
    proc = _runner(BULLETIN_LOG_FORMAT="yaml", BULLETIN_NAMESPACE="a", BULLETIN_SCHEDULE="b")
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("bulletin-runner: BULLETIN_LOG_FORMAT: unknown format"
                                   " 'yaml'; use text or json")
