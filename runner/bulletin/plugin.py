"""`kubectl bulletin`: a kubectl plugin for ReportSchedules (the `kubectl-bulletin` script)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from bulletin.api.spec import GROUP, PLURAL, VERSION

RUN_REQUEST_ANNOTATION = f"{GROUP}/run-requested-at"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl bulletin", description=__doc__)
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a ReportSchedule now")
    run.add_argument("name")
    return parser


def request_run(custom: object, namespace: str, name: str, token: str) -> None:
    """Ask the operator for a run now by setting the run-request annotation."""
    body = {"metadata": {"annotations": {RUN_REQUEST_ANNOTATION: token}}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body)  # type: ignore[attr-defined]


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    from kubernetes import client, config

    args = _parser().parse_args(argv)
    config.load_kube_config(config_file=args.kubeconfig)
    namespace = args.namespace or config.list_kube_config_contexts(args.kubeconfig)[1][
        "context"
    ].get("namespace", "default")
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    request_run(client.CustomObjectsApi(), namespace, args.name, token)
    print(f"reportschedule.{GROUP}/{args.name} run requested ({RUN_REQUEST_ANNOTATION}={token})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
