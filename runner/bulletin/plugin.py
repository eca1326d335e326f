"""`kubectl bulletin`: a kubectl plugin for ReportSchedules (the `kubectl-bulletin` script)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bulletin.api.runrequest import RUN_OPTIONS_ANNOTATION, RUN_REQUEST_ANNOTATION, RunOptions
from bulletin.api.spec import GROUP, PLURAL, VERSION
from bulletin.period import PeriodError, parse_override


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    parser = argparse.ArgumentParser(prog="kubectl bulletin", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a ReportSchedule now", parents=[common])
    run.add_argument("name")
    run.add_argument("--period", help="report on this period instead (a backfill): 2026-10,"
                     " 2026-W43, 2026-10-05 or 2026-10-01..2026-10-15")
    run.add_argument("--to", action="append", metavar="ADDRESS",
                     help="send only to this address, by email only (a test send); repeatable")
    link = sub.add_parser(
        "link", parents=[common], help="print fresh download links to a run's files in storage",
        description="Presign links with the storage Secret, read with your own access.")
    link.add_argument("name")
    link.add_argument("--run", help="run id (default: the newest run with stored files)")
    link.add_argument("--file", help="only this file, e.g. usage.csv")
    link.add_argument("--expires", type=int, help="link lifetime in seconds (default: the"
                      " schedule's storage.linkExpirySeconds)")
    link.add_argument("--endpoint", help="sign for this endpoint instead of the spec's, e.g."
                      " a port-forward to an in-cluster server")
    return parser


def request_run(
    custom: Any, namespace: str, name: str, token: str, options: RunOptions
) -> None:
    """Ask the operator for a run now: the run-request token, and its options (or none)."""
    wire = options.wire()
    annotations = {RUN_REQUEST_ANNOTATION: token,
                   RUN_OPTIONS_ANNOTATION: json.dumps(wire) if wire else None}
    body = {"metadata": {"annotations": annotations}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, body)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    from kubernetes import client, config

    args = _parser().parse_args(argv)
    config.load_kube_config(config_file=args.kubeconfig)
    namespace = args.namespace or config.list_kube_config_contexts(args.kubeconfig)[1][
        "context"
    ].get("namespace", "default")
    if args.command == "link":
        from bulletin.links import LinkError, print_links

        try:
            print_links(client.ApiClient(), namespace, args.name, run=args.run, file=args.file,
                        expires=args.expires, endpoint=args.endpoint)
        except LinkError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    token = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        options = RunOptions(period=args.period, to=args.to)
        if options.period:
            parse_override(options.period, ZoneInfo("UTC"))  # fail here, not in the run
    except (PeriodError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    request_run(client.CustomObjectsApi(), namespace, args.name, token, options)
    print(f"reportschedule.{GROUP}/{args.name} run requested ({RUN_REQUEST_ANNOTATION}={token})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
