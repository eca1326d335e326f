"""`make demo`: one report end to end on a local control plane, then everything stops.

Runs inside the harness's network namespace (`make demo` enters it). Builds the two images,
starts the control plane and a real node (kubelet, containerd, runc) and imports the images,
installs the CRD and the chart with `helm install` (the operator runs as a pod from its image),
starts an SMTP server that saves mail under .demo/mail and PostgreSQL with sample data; applies
examples/weekly-usage.yaml, asks for a run with `kubectl bulletin run` (the runner pod runs the
runner image), waits for it, and prints `kubectl get reportschedules` and where the mail and the
report are.
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

from bulletin.api.references import USABLE_LABEL, Use

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


def _secret(name: str, use: Use, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "analytics",
                         "labels": {USABLE_LABEL: use.value}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


def main() -> int:
    """Run the demo; exit 0 when the report was delivered."""
    import images
    from localkube.node import local_cluster

    from devstack.install import helm_install
    from devstack.mailsink import MailSink
    from devstack.ports import HOST
    from devstack.postgres import Postgres

    shutil.rmtree(DEMO, ignore_errors=True)
    DEMO.mkdir()
    print("building the images (cached by their inputs)")
    built = images.build()
    for image in built.values():
        print(f"  {image.name}: {image.above_base_mb} MB above the base")
    with ExitStack() as stack:
        print("starting the local control plane and a real node (kubelet, containerd, runc)")
        started = time.monotonic()
        plane, node = stack.enter_context(local_cluster(DEMO / "cluster"))
        for image in built.values():
            node.import_image(image.archive)
        print(f"  ready in {time.monotonic() - started:.1f}s; kubeconfig {plane.kubeconfig}")

        def kubectl(*args: str, input_: str | None = None) -> str:
            return _kubectl(plane.bin_dir / "kubectl", plane.kubeconfig, *args, input_=input_)

        kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        kubectl("wait", "--for=condition=Established", "crd/reportschedules.bulletin.dev")
        print("$ helm install bulletin charts/bulletin -n bulletin-system --create-namespace")
        helm_install(plane.kubeconfig, "bulletin", "bulletin-system", built["operator"].name,
                     built["runner"].name)
        print(kubectl("get", "pods", "-n", "bulletin-system"))
        mail = MailSink(save_dir=DEMO / "mail").start()
        stack.callback(mail.stop)
        pg = Postgres(DEMO / "postgres").start()
        stack.callback(pg.stop)
        pg.execute((ROOT / "examples" / "sample-data.sql").read_text())
        print(f"SMTP server on {HOST}:{mail.port} and PostgreSQL with sample data up")

        kubectl("create", "namespace", "analytics")
        secrets = [_secret("analytics-db", Use.DATABASE, {"url": pg.url}),
                   _secret("smtp", Use.SMTP, {"host": HOST, "port": str(mail.port),
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
            print(f"run did not succeed: {last}")
            print(kubectl("logs", "-n", "bulletin-system", "deployment/bulletin-operator",
                          "--tail=40"))
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
