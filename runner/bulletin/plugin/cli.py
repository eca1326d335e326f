"""The `kubectl bulletin` command line: arguments, dispatch, and kubectl-style errors."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from bulletin.plugin import backfill, commands, logs, runnow
from bulletin.plugin.kube import Kube, PluginError, connect, server_error


def _when(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time: {text!r}") from exc
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone, e.g. 2027-03-20T00:00:00Z")
    return when


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    return common


def parser() -> argparse.ArgumentParser:
    """The plugin's arguments."""
    common = _common()
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("-o", "--output", choices=["json", "yaml"], help="print raw data")
    top = argparse.ArgumentParser(prog="kubectl bulletin",
                                  description="Run, inspect and pause ReportSchedules.")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a ReportSchedule now", parents=[common])
    run.add_argument("name")
    run.add_argument("--period", help="report on this period instead (a backfill): 2026-10,"
                     " 2026-W43, 2026-10-05 or 2026-10-01..2026-10-15")
    run.add_argument("--to", action="append", metavar="ADDRESS",
                     help="send only to this address, by email only (a test send); repeatable")
    run.add_argument("--each", choices=["month", "week", "day"],
                     help="with --period A..B (e.g. 2026-01..2026-06): one run per month, week"
                     " or day of the range, oldest first, each after the previous one ended")
    run.add_argument("--timeout", type=_positive, default=3600, metavar="SECONDS",
                     help="with --each: how long to wait for each run (default 3600)")

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

    history = sub.add_parser("history", parents=[common, out], help="list past runs",
                             description="Runs in status.history, newest first.")
    history.add_argument("name")
    history.add_argument("--limit", type=_positive, help="show at most this many runs")

    nxt = sub.add_parser("next", parents=[common, out], help="list the next run times",
                         description="Next run times in the schedule's zone and in UTC;"
                         " the DST column marks a changed UTC offset.")
    nxt.add_argument("name")
    nxt.add_argument("--count", type=_positive, default=5, help="how many (default 5)")
    nxt.add_argument("--from", dest="after", type=_when, metavar="TIME",
                     help="runs after this RFC 3339 time instead of now")

    log = sub.add_parser("logs", parents=[common], help="print a run's pod log",
                         description="The log of the run's pod (its newest try).")
    log.add_argument("name")
    log.add_argument("--run", help="run id, i.e. the Job's name (default: the newest run)")
    log.add_argument("-f", "--follow", action="store_true", help="stream the log")

    for verb, text in (("suspend", "pause scheduled runs (spec.suspend: true)"),
                       ("resume", "resume scheduled runs (spec.suspend: false)")):
        cmd = sub.add_parser(verb, parents=[common], help=text, description=text + "; a GitOps"
                             " tool may set it back, so change its source too.")
        cmd.add_argument("name")

    status = sub.add_parser("status", parents=[common], help="list schedules, kubectl get-style")
    status.add_argument("name", nargs="?")
    status.add_argument("-A", "--all-namespaces", action="store_true",
                        help="schedules of every namespace")
    status.add_argument("-o", "--output", choices=["json", "yaml", "wide"])
    return top


def dispatch(kube: Kube, args: argparse.Namespace) -> None:
    """Run the chosen subcommand."""
    match args.command:
        case "run" if args.each:
            backfill.backfill(kube, args.name, args.period, args.each, args.to, args.timeout)
        case "run":
            runnow.run(kube, args.name, args.period, args.to)
        case "link":
            runnow.link(kube, args.name, args.run, args.file, args.expires, args.endpoint)
        case "history":
            commands.history(kube, args.name, args.output, args.limit)
        case "next":
            commands.next_runs(kube, args.name, args.count, args.after, args.output)
        case "logs":
            logs.logs(kube, args.name, args.run, args.follow)
        case "suspend" | "resume":
            commands.set_suspend(kube, args.name, args.command == "suspend")
        case "status":
            commands.status(kube, args.name, args.all_namespaces, args.output)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 1 on an error from the server or the plugin, 2 on usage."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config import ConfigException
    from urllib3.exceptions import HTTPError

    args = parser().parse_args(argv)
    if getattr(args, "each", None) and not args.period:
        print("error: --each needs --period, e.g. --period 2026-01..2026-06 --each month",
              file=sys.stderr)
        return 2
    if getattr(args, "all_namespaces", False) and args.name:
        print("error: a resource cannot be retrieved by name across all namespaces",
              file=sys.stderr)
        return 2
    try:
        kube = connect(args.kubeconfig, args.context, args.namespace)
        dispatch(kube, args)
    except runnow.UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except PluginError as exc:
        print(exc, file=sys.stderr)
        return 1
    except ApiException as exc:
        print(server_error(exc), file=sys.stderr)
        return 1
    except (ConfigException, HTTPError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
