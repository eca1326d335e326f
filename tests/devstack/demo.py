"""`make demo`: one report end to end on a local control plane, then everything stops.

Starts the control plane and pod executor, installs the CRD, starts the operator, an SMTP server
that saves mail under .demo/mail, and PostgreSQL with sample data; applies
examples/weekly-usage.yaml, asks for a run with `kubectl bulletin run`, waits for it, and prints
`kubectl get reportschedules` and where the mail and the report are.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bulletin.api.references import USABLE_LABEL

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / ".demo"


def _kubectl(bin_: Path, kubeconfig: Path, *args: str, input_: str | None = None) -> str:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    proc = subprocess.run([str(bin_), *args], env=env, input=input_, capture_output=True,
                          text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"kubectl {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "analytics",
                         "labels": {USABLE_LABEL: "true"}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def main() -> int:
    """Run the demo; exit 0 when the report was delivered."""
    from localkube.controlplane import ControlPlane
    from localkube.executor import PodExecutor

    from devstack.mailsink import MailSink
    from devstack.operatorproc import OperatorProcess
    from devstack.postgres import Postgres

    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    with ExitStack() as stack:
        print("starting the local control plane (etcd, kube-apiserver, kube-controller-manager)")
        started = time.monotonic()
        plane = ControlPlane(DEMO / "cluster")
        plane.start()
        stack.callback(plane.stop)
        executor = PodExecutor(plane.kubeconfig, DEMO / "pods")
        executor.start()
        stack.callback(executor.stop)
        print(f"  ready in {time.monotonic() - started:.1f}s; kubeconfig {plane.kubeconfig}")

        def kubectl(*args: str, input_: str | None = None) -> str:
            return _kubectl(plane.bin_dir / "kubectl", plane.kubeconfig, *args, input_=input_)

        kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        kubectl("wait", "--for=condition=Established", "crd/reportschedules.bulletin.dev")
        operator = OperatorProcess(plane.kubeconfig, DEMO / "operator.log").start()
        stack.callback(operator.stop)
        mail = MailSink(save_dir=DEMO / "mail").start()
        stack.callback(mail.stop)
        pg = Postgres(DEMO / "postgres").start()
        stack.callback(pg.stop)
        pg.execute((ROOT / "examples" / "sample-data.sql").read_text())
        print(f"operator, SMTP server on 127.0.0.1:{mail.port} and PostgreSQL with sample data up")

        kubectl("create", "namespace", "analytics")
        secrets = [_secret("analytics-db", {"url": pg.url}),
                   _secret("smtp", {"host": "127.0.0.1", "port": str(mail.port),
                                    "security": "none", "from": "reports@example.com"})]
        kubectl("apply", "-f", "-", input_="\n".join(json.dumps(s) for s in secrets))
        kubectl("apply", "-f", str(ROOT / "examples" / "weekly-usage.yaml"))
        kubectl("wait", "-n", "analytics", "--for=condition=Ready", "--timeout=60s",
                "reportschedule/weekly-usage")
        print(kubectl("bulletin", "run", "weekly-usage", "-n", "analytics").strip())

        deadline = time.monotonic() + 180
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            obj = json.loads(kubectl("get", "-n", "analytics", "reportschedule/weekly-usage",
                                     "-o", "json"))
            last = (obj.get("status") or {}).get("lastRun") or {}
            if last.get("endTime"):
                break
            time.sleep(1)
        print()
        print("$ kubectl get reportschedules -n analytics")
        print(kubectl("get", "reportschedules", "-n", "analytics"))
        if last.get("result") != "Succeeded":
            print(f"run did not succeed: {last}\n(operator log: {DEMO / 'operator.log'})")
            return 1
        reports = DEMO / "reports"
        reports.mkdir()
        for _rcpt, msg in mail.messages:
            for part in msg.iter_attachments():
                name = part.get_filename() or "attachment"
                payload = part.get_payload(decode=True)
                (reports / name).write_bytes(payload if isinstance(payload, bytes) else b"")
        print(f"mail delivered: {len(mail.messages)} message(s) in {DEMO / 'mail'}")
        print(f"report files:   {', '.join(str(p) for p in sorted(reports.iterdir()))}")
        print(f"run {last['runId']}: {last['rows']} rows, {last['bytes']} bytes, "
              f"to {', '.join(last.get('recipients', []))}")
        print("stopping everything")
    return 0


if __name__ == "__main__":
    sys.exit(main())
