"""The `kubectl bulletin` command line: arguments, dispatch, and kubectl-style errors."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from bulletin.plugin.kube import KubeSession, PluginError, UsageError


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


def _days(text: str) -> int:
    """A number of days: 90 or 90d."""
    days = text.removesuffix("d")
    if not days.isdigit() or int(days) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected days, e.g. 90d")
    return int(days)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-n", "--namespace", help="namespace (default: the context's)")
    common.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG)")
    common.add_argument("--context", help="kubeconfig context (default: the current one)")
    return common


def _add_run(sub: Any, common: argparse.ArgumentParser) -> None:
    run = sub.add_parser("run", help="run a ReportSchedule now", parents=[common],
                         description="Ask the operator for a run now and print its id (the"
                         " Job's name) once it started it; exit 1 with its reason if it"
                         " refused.")
    run.add_argument("name")
    run.add_argument("--period", help="report on this period instead (a backfill): 2026-10,"
                     " 2026-W43, 2026-10-05 or 2026-10-01..2026-10-15")
    run.add_argument("--to", action="append", metavar="ADDRESS",
                     help="send only to this address, by email only (a test send); repeatable")
    run.add_argument("--each", choices=["month", "week", "day"],
                     help="with --period A..B (e.g. 2026-01..2026-06): one run per month, week"
                     " or day of the range, oldest first, each after the previous one ended")
    run.add_argument("-w", "--wait", action="store_true", help="wait for the run to end and"
                     " print its result; exit 1 unless it succeeded (or was skipped)")
    run.add_argument("--timeout", type=_positive, default=3600, metavar="SECONDS",
                     help="with --wait or --each: how long to wait for each run (default 3600)")


def _add_reads(sub: Any, common: argparse.ArgumentParser, out: argparse.ArgumentParser,
               bare: argparse.ArgumentParser) -> None:
    history = sub.add_parser("history", parents=[common, out, bare], help="list past runs",
                             description="Runs in status.history, newest first; without NAME,"
                             " the runs of every schedule (of every namespace with -A).")
    history.add_argument("name", nargs="?")
    history.add_argument("-A", "--all-namespaces", action="store_true",
                         help="runs of every namespace's schedules")
    history.add_argument("--limit", type=_positive, help="show at most this many runs")
    history.add_argument("--archive", action="store_true", help="runs from the run archive"
                         " (beyond the status window; needs NAME and read access to its Secret)")
    history.add_argument("--since", type=_days, default=90, metavar="DAYS",
                         help="with --archive: runs of the last DAYS days, e.g. 90d (default)")
    history.add_argument("--archive-secret", metavar="NS/NAME[:KEY]", help="the archive's"
                         " Secret (default: $BULLETIN_ARCHIVE_SECRET or bulletin/bulletin-archive)")

    nxt = sub.add_parser("next", parents=[common, out, bare], help="list the next run times",
                         description="Next run times in the schedule's zone and in UTC;"
                         " the DST column marks a changed UTC offset.")
    nxt.add_argument("name")
    nxt.add_argument("--count", type=_positive, default=5, help="how many (default 5)")
    nxt.add_argument("--from", dest="after", type=_when, metavar="TIME",
                     help="runs after this RFC 3339 time instead of now")

    log = sub.add_parser("logs", parents=[common], help="print a run's pod log",
                         description="The log of the run's pod (its newest try).")
    log.add_argument("name")
    log.add_argument("--run", help="run id, i.e. the Job's name (default: the newest run,"
                     " one just requested included)")
    log.add_argument("-f", "--follow", action="store_true", help="stream the log")

    status = sub.add_parser("status", aliases=["get", "list"], parents=[common, bare],
                            help="list schedules, kubectl get-style")
    status.add_argument("name", nargs="?")
    status.add_argument("-A", "--all-namespaces", action="store_true",
                        help="schedules of every namespace")
    status.add_argument("-l", "--selector", help="label selector, e.g. team=a,tier!=test")
    status.add_argument("-w", "--watch", action="store_true",
                        help="after the table, print a row for each change (until ^C)")
    status.add_argument("-o", "--output", choices=["json", "yaml", "wide"])


def parser() -> argparse.ArgumentParser:
    """The plugin's arguments."""
    common = _common()
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("-o", "--output", choices=["json", "yaml"], help="print raw data")
    bare = argparse.ArgumentParser(add_help=False)
    bare.add_argument("--no-headers", action="store_true", help="tables without a header")
    top = argparse.ArgumentParser(prog="kubectl bulletin",
                                  description="Run, inspect and pause ReportSchedules.")
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_run(sub, common)

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
    _add_reads(sub, common, out, bare)

    for verb, text in (("suspend", "pause scheduled runs (spec.suspend: true)"),
                       ("resume", "resume scheduled runs (spec.suspend: false)")):
        cmd = sub.add_parser(verb, parents=[common], help=text, description=text + "; a GitOps"
                             " tool may set it back, so change its source too.")
        cmd.add_argument("name")
    console = sub.add_parser("console", parents=[common], help="serve the web console locally",
                             description="Serve the Bulletin console on 127.0.0.1 with your"
                             " kubeconfig; the printed URL carries a random token.")
    console.add_argument("--port", type=int, help="port (default: a free one)")
    console.add_argument("--open", action="store_true", help="open it in a browser")
    console.add_argument("--namespaces", default="", help="comma-separated namespaces to list"
                         " when you may not list cluster-wide (default: -n or the context's)")
    console.add_argument("--archive-secret", metavar="NS/NAME[:KEY]", help="the run archive's"
                         " Secret, read with your kubeconfig (default: $BULLETIN_ARCHIVE_SECRET"
                         " or bulletin/bulletin-archive)")
    completion = sub.add_parser("completion", help="print a shell completion script",
                                description="e.g. source <(kubectl bulletin completion bash)")
    completion.add_argument("shell", choices=["bash", "zsh"])
    return top


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bulletin")
    except PackageNotFoundError:
        return "unknown"


def dispatch(kube: KubeSession, args: argparse.Namespace) -> None:
    """Run the chosen subcommand, importing only what it needs (a listing stays quick)."""
    if args.command == "run":
        from bulletin.plugin import backfill, runnow

        if args.each:
            backfill.backfill(kube, args.name, args.period, args.each, args.to, args.timeout)
        else:
            runnow.run(kube, args.name, args.period, args.to,
                       args.timeout if args.wait else None)
        return
    if args.command == "link":
        from bulletin.plugin.runnow import link

        link(kube, args.name, args.run, args.file, args.expires, args.endpoint)
        return
    if args.command == "console":
        import importlib

        # bulletin.console builds on the plugin's reads; the plugin reaches it by name only
        try:
            serve = importlib.import_module("bulletin.console.serve")
        except ModuleNotFoundError as exc:
            raise PluginError(f"error: the console needs {exc.name}: pip install"
                              " 'bulletin[console]' (starlette, uvicorn)") from exc
        serve.local(kube, args.port, args.open,
                    [n.strip() for n in args.namespaces.split(",") if n.strip()],
                    args.archive_secret)
        return
    if args.command == "logs":
        from bulletin.plugin.logs import logs

        logs(kube, args.name, args.run, args.follow)
        return
    from bulletin.plugin import commands

    match args.command:
        case "history" if args.archive:
            from bulletin.plugin.archived import history

            history(kube, args.name, args.output, args.limit, args.no_headers, args.since,
                    args.archive_secret)
        case "history":
            commands.history(kube, args.name, args.output, args.limit, args.no_headers,
                             args.all_namespaces)
        case "next":
            commands.next_runs(kube, args.name, args.count, args.after, args.output,
                               args.no_headers)
        case "suspend" | "resume":
            commands.set_suspend(kube, args.name, args.command == "suspend")
        case "status" | "get" | "list":
            commands.status(kube, args.name, args.all_namespaces, args.output,
                            args.selector, args.no_headers, args.watch)


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """An exception class of a module already imported (else nothing raised it)."""
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def explain(exc: Exception) -> str | None:
    """An error from the API server or the connection, as kubectl prints it; None if neither.
    The kubernetes client's classes are looked up only if it was imported: a listing that
    never used it does not pay for importing it."""
    import http.client

    from bulletin.plugin.kube import server_error
    from bulletin.plugin.rest import RestError

    api = _loaded("kubernetes.client.exceptions", "ApiException")
    if isinstance(exc, RestError) or (api is not None and isinstance(exc, api)):
        return server_error(exc)
    others: list[type[BaseException]] = [OSError, http.client.HTTPException]
    for module, name in (("kubernetes.config.config_exception", "ConfigException"),
                         ("urllib3.exceptions", "HTTPError")):
        if (found := _loaded(module, name)) is not None:
            others.append(found)
    return f"error: {exc}" if isinstance(exc, tuple(others)) else None


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success, 1 on an error from the server or the plugin, 2 on usage."""
    args = parser().parse_args(argv)
    if args.command == "completion":
        from bulletin.plugin.completion import script

        sys.stdout.write(script(parser(), args.shell))
        return 0
    if getattr(args, "each", None) and not args.period:
        print("error: --each needs --period, e.g. --period 2026-01..2026-06 --each month",
              file=sys.stderr)
        return 2
    if getattr(args, "all_namespaces", False) and args.name:
        print("error: a resource cannot be retrieved by name across all namespaces",
              file=sys.stderr)
        return 2
    from bulletin.plugin.kube import connect

    try:
        dispatch(connect(args.kubeconfig, args.context, args.namespace), args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except PluginError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if (message := explain(exc)) is None:
            raise
        print(message, file=sys.stderr)
        return 1
    return 0
