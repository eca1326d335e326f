"""BULLETIN_LOG_FORMAT=json for real: the chart's logFormat reaches the operator, the operator
hands it to the runner pods, and every line both write is a JSON object that says what it is
about (runId, namespace and schedule in the runner; namespace and schedule in the operator)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from devstack.mailsink import MailSink
from devstack.operatorproc import OperatorProcess
from devstack.ports import HOST
from devstack.postgres import Postgres
from helmchart import render
from support import Cluster, create_secrets, report_schedule, run_now, wait_for

pytestmark = pytest.mark.own_operator  # before the session's operator: ours uses json


def _deployment_env(*values: str) -> dict[str, str]:
    objects = render("rel", "ops", *values)
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    return {e["name"]: e.get("value", "") for e in
            deployment["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_the_chart_value_reaches_the_operator() -> None:
    assert _deployment_env("logFormat=json")["BULLETIN_LOG_FORMAT"] == "json"
    assert "BULLETIN_LOG_FORMAT" not in _deployment_env()  # text: the default, not written


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{text[-3000:]}") from None
    return parsed


def test_a_run_logs_json_lines_with_its_run_namespace_and_schedule(
    cluster: Cluster, namespace: str, postgres: Postgres, smtp: MailSink, runner_image: str,
    tmp_path: Path,
) -> None:
    log = tmp_path / "operator.log"
    operator = OperatorProcess(
        cluster.kubeconfig, log, scope=[f"--namespace={namespace}"],
        env={"BULLETIN_LOG_FORMAT": "json", "BULLETIN_RUNNER_IMAGE": runner_image,
             "BULLETIN_RUNNER_PULL_POLICY": "Never",
             "BULLETIN_ALLOW_PRIVATE_NETWORKS": f"{HOST}/32"}).start()
    try:
        create_secrets(cluster, namespace, postgres.url, smtp.port)
        cluster.create_rs(namespace, report_schedule("logged"))
        status = run_now(cluster, namespace, "logged", "t1")
        assert status["lastRun"]["result"] == "Succeeded", status["lastRun"]
        run_id = status["lastRun"]["runId"]
        [pod] = cluster.core.list_namespaced_pod(namespace, label_selector=f"job-name={run_id}"
                                                 ).items
        runner = _json_lines(cluster.logs(namespace, pod.metadata.name))
        assert any("Succeeded" in line["message"] for line in runner), runner
        for line in runner:
            assert (line["runId"], line["namespace"], line["schedule"]) == (
                run_id, namespace, "logged"), line
            assert {"time", "level", "logger", "message"} <= line.keys(), line
            assert line["time"].endswith("Z"), line
        # kopf's lines about the schedule (e.g. its handlers' results) name it
        wait_for(lambda: any(line.get("schedule") == "logged"
                             for line in _json_lines(log.read_text())),
                 "an operator line about the schedule", timeout=30)
    finally:
        operator.stop()
    operator_lines = _json_lines(log.read_text())
    assert all({"time", "level", "logger", "message"} <= line.keys() for line in operator_lines)
    about = [line for line in operator_lines if line.get("schedule") == "logged"]
    assert all(line["namespace"] == namespace for line in about), about
