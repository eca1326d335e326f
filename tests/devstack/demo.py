"""`make demo`: one report end to end on a local control plane, then everything stops.

Runs inside the harness's network namespace (`make demo` enters it). Builds the two images,
starts the control plane and a real node (kubelet, containerd, runc) and imports the images,
installs the CRD and the chart with `helm install` (the operator runs as a pod from its image),
starts an SMTP server that saves mail under .demo/mail and PostgreSQL with sample data; applies
examples/weekly-usage.yaml, asks for a run with `kubectl bulletin run` (the runner pod runs the
runner image), waits for it, and prints `kubectl get reportschedules` and where the mail and the
report are.

`make demo-up` runs the same demo in the background and keeps it all running afterwards
(``devstack.democtl``: ``run(hold=...)`` calls ``hold`` instead of stopping).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulletin.api.references import USABLE_LABEL, Use

ROOT = Path(__file__).resolve().parents[2]
# Where the demo keeps its cluster, mail and reports (tests put theirs elsewhere).
DEMO = Path(os.environ.get("BULLETIN_DEMO_DIR") or ROOT / ".demo")


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


@dataclass
class Cluster:
    """The started demo: the cluster's kubeconfig and tools, the test servers."""

    kubeconfig: Path
    bin_dir: Path
    smtp: str
    postgres: str
    mail: Any  # devstack.mailsink.MailSink

    def kubectl(self, *args: str, input_: str | None = None) -> str:
        """Run the cluster's kubectl with its kubeconfig; exit on failure."""
        return _kubectl(self.bin_dir / "kubectl", self.kubeconfig, *args, input_=input_)


def _start(stack: ExitStack) -> Cluster:
    """Build the images, start the cluster, install the chart and start the test servers."""
    import images
    from localkube.node import local_cluster

    from devstack.install import helm_install
    from devstack.mailsink import MailSink
    from devstack.ports import HOST
    from devstack.postgres import Postgres

    print("building the images (cached by their inputs)")
    built = images.build()
    for image in built.values():
        print(f"  {image.name}: {image.above_base_mb} MB above the base")
    print("starting the local control plane and a real node (kubelet, containerd, runc)")
    started = time.monotonic()
    plane, node = stack.enter_context(local_cluster(DEMO / "cluster"))
    for image in built.values():
        node.import_image(image.archive)
    print(f"  ready in {time.monotonic() - started:.1f}s; kubeconfig {plane.kubeconfig}")
    mail = MailSink(save_dir=DEMO / "mail").start()
    stack.callback(mail.stop)
    pg = Postgres(DEMO / "postgres").start()
    stack.callback(pg.stop)
    pg.execute((ROOT / "examples" / "sample-data.sql").read_text())
    demo = Cluster(plane.kubeconfig, plane.bin_dir, f"{HOST}:{mail.port}",
                   f"{HOST}:{pg.port}", mail)
    demo.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    demo.kubectl("wait", "--for=condition=Established", "crd/reportschedules.bulletin.dev")
    print("$ helm install bulletin charts/bulletin -n bulletin-system --create-namespace")
    helm_install(plane.kubeconfig, "bulletin", "bulletin-system", built["operator"].name,
                 built["runner"].name)
    print(demo.kubectl("get", "pods", "-n", "bulletin-system"))
    print(f"SMTP server on {demo.smtp} and PostgreSQL with sample data up")
    demo.kubectl("create", "namespace", "analytics")
    secrets = [_secret("analytics-db", Use.DATABASE, {"url": pg.url}),
               _secret("smtp", Use.SMTP, {"host": HOST, "port": str(mail.port),
                                          "security": "none", "from": "reports@example.com"})]
    demo.kubectl("apply", "-f", "-", input_="\n".join(json.dumps(s) for s in secrets))
    demo.kubectl("apply", "-f", str(ROOT / "examples" / "weekly-usage.yaml"))
    demo.kubectl("wait", "-n", "analytics", "--for=condition=Ready", "--timeout=60s",
                 "reportschedule/weekly-usage")
    return demo


def _run_once(demo: Cluster, timeout: float = 180) -> dict[str, Any]:
    """`kubectl bulletin run` the example and wait for the run's end; its status.lastRun."""
    print(demo.kubectl("bulletin", "run", "weekly-usage", "-n", "analytics").strip())
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        obj = json.loads(demo.kubectl("get", "-n", "analytics", "reportschedule/weekly-usage",
                                      "-o", "json"))
        last = (obj.get("status") or {}).get("lastRun") or {}
        if last.get("endTime"):
            break
        time.sleep(1)
    print()
    print("$ kubectl get reportschedules -n analytics")
    print(demo.kubectl("get", "reportschedules", "-n", "analytics"))
    return last


def _report(demo: Cluster, last: dict[str, Any]) -> None:
    """Save the mail's attachments under .demo/reports and say where everything is."""
    reports = DEMO / "reports"
    reports.mkdir(exist_ok=True)
    for _rcpt, msg in demo.mail.messages:
        for part in msg.iter_attachments():
            name = part.get_filename() or "attachment"
            payload = part.get_payload(decode=True)
            (reports / name).write_bytes(payload if isinstance(payload, bytes) else b"")
    print(f"mail delivered: {len(demo.mail.messages)} message(s) in {DEMO / 'mail'}")
    print(f"report files:   {', '.join(str(p) for p in sorted(reports.iterdir()))}")
    print(f"run {last['runId']}: {last['rows']} rows, {last['bytes']} bytes, "
          f"to {', '.join(last.get('recipients', []))}")


def run(hold: Callable[[Cluster, bool], None] | None = None) -> int:
    """Run the demo in DEMO (which must exist); 0 when the report was delivered. With ``hold``,
    call ``hold(demo, succeeded)`` before stopping everything (it returns when it is time)."""
    with ExitStack() as stack:
        demo = _start(stack)
        last = _run_once(demo)
        ok = last.get("result") == "Succeeded"
        if ok:
            _report(demo, last)
        else:
            print(f"run did not succeed: {last}")
            print(demo.kubectl("logs", "-n", "bulletin-system", "deployment/bulletin-operator",
                               "--tail=40"))
        if hold is not None:
            hold(demo, ok)
        print("stopping everything")
    return 0 if ok else 1


def main() -> int:
    """`make demo`: run the demo in a fresh .demo and stop everything; exit 0 when delivered."""
    from devstack import democtl

    if democtl.serve_pid() is not None:
        print("a demo started with `make demo-up` is running; `make demo-down` stops it",
              file=sys.stderr)
        return 1
    democtl.remove_demo_dir()
    DEMO.mkdir()
    code = run()
    print("the console: `make demo-up`, then `make demo-console` prints a URL to open in this"
          " machine's browser (the demo's cluster is only reachable inside its network"
          " namespace; demo-console forwards a loopback port to it)")
    return code


if __name__ == "__main__":
    sys.exit(main())
