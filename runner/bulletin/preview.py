"""`bulletin preview`: render a ReportSchedule manifest to files, without a cluster and without
delivering anything. Data comes from a database URL or a sample data file."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from bulletin.api.errors import BulletinError, CommandError, describe
from bulletin.api.spec import KIND, ReportScheduleSpec
from bulletin.assembly.burst import Recipient, recipients, report_spec
from bulletin.period import Period, PeriodError, parse_override
from bulletin.previewperiod import outside, preview_period
from bulletin.report import BuiltReport, build_report
from bulletin.runconfig import NetSettings, RunConfig
from bulletin.sources.prometheus import PrometheusError

if TYPE_CHECKING:
    from bulletin.sources.prometheus import Prometheus

USAGE = """bulletin preview -f schedule.yaml -o out/ [--data-url URL | --sample FILE]
                        [--prometheus-headers FILE] [--at ISO-TIME]
                        [--formats csv,xlsx,pdf,html] [--templates DIR]

Sample data (YAML or JSON): rows per dataset as lists of mappings, optionally the summary
dataset's row for the previous period, and the period the rows are for (as --period takes it;
used without --at, else --at's period; rows dated outside the period get a warning):

  period: 2026-W02
  datasets:
    usage:
      - {day: 2026-01-05, user_name: alice, requests: 120, cost: 1.44}
  previous:
    totals:
      - {requests: 1000, cost: 12.0}

A promql dataset's sample is a saved Prometheus range query reply (what
curl 'http://prometheus:9090/api/v1/query_range?query=...&start=...&end=...&step=1h' prints),
under the key prometheus:

  datasets:
    queues:
      prometheus: {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"queue": "mail"}, "values": [[1767654000, "5"], [1767740400, "6"]]}]}}

Without --sample, promql datasets query spec.source.prometheus.url (or --prometheus-url) from
this machine, with the headers in --prometheus-headers (one `Name: value` per line, as in the
Secret).
"""


class PreviewError(CommandError):
    """The preview could not start: bad arguments, manifest or sample file."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bulletin preview", usage=USAGE,
                                     description="Render a ReportSchedule to files.")
    parser.add_argument("-f", "--file", required=True, type=Path, help="ReportSchedule manifest")
    parser.add_argument("-o", "--out", required=True, type=Path, help="output directory")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--data-url", help="SQLAlchemy database URL to run the queries on")
    source.add_argument("--sample", type=Path, help="sample data file (YAML or JSON)")
    parser.add_argument("--prometheus-url", help="Prometheus base URL, for a spec whose URL is"
                        " in a Secret (urlSecretRef)")
    parser.add_argument("--prometheus-headers", type=Path,
                        help="file of HTTP headers for spec.source.prometheus (Name: value)")
    parser.add_argument("--at", help="run as if at this ISO time (default: the sample's"
                        " period, else now), e.g. 2026-01-12T09:00:00+01:00")
    parser.add_argument("--formats", help="override spec.formats, e.g. csv,xlsx,pdf,html")
    parser.add_argument("--templates", type=Path, help="custom templates directory"
                        " (report.html, subject.txt, body.html)")
    return parser.parse_args(list(argv))


def load_manifest(path: Path) -> tuple[str, str, ReportScheduleSpec]:
    """Name, namespace and spec of the first ReportSchedule in ``path``."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise PreviewError(f"{path}: {exc}") from exc
    for doc in documents:
        if isinstance(doc, Mapping) and doc.get("kind") == KIND:
            meta = doc.get("metadata") or {}
            try:
                spec = ReportScheduleSpec.model_validate(doc.get("spec") or {})
            except ValidationError as exc:
                raise PreviewError(f"{path}: {describe(exc)}") from exc
            return str(meta.get("name") or path.stem), str(meta.get("namespace") or "default"), spec
    raise PreviewError(f"{path}: no {KIND} found")


def load_sample(path: Path) -> dict[str, Any]:
    """Sample data: {"datasets": {name: [row, ...]}, "previous": {name: [row]}, "period": P}."""
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise PreviewError(f"{path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("datasets"), dict):
        raise PreviewError(f"{path}: expected a mapping with a 'datasets' key (see --help)")
    if data.get("period") is not None:
        try:
            parse_override(str(data["period"]), ZoneInfo("UTC"))
        except PeriodError as exc:
            raise PreviewError(f"{path}: {exc}") from exc
    return data


def local_prometheus(spec: ReportScheduleSpec, headers: Path | None,
                     url: str | None = None) -> Prometheus | None:
    """spec.source.prometheus queried from this machine: any address (the user's own network,
    not a tenant's), the URL from the spec or ``url``, headers from a file."""
    from bulletin.deliver.netguard import guarded_client
    from bulletin.sources.prometheus import Prometheus, parse_headers

    if spec.source.prometheus is None:
        return None
    url = url or spec.source.prometheus.url
    if url is None:
        raise PreviewError("spec.source.prometheus takes its URL from a Secret (urlSecretRef):"
                           " pass it with --prometheus-url")
    return Prometheus(url, guarded_client,
                      parse_headers(headers.read_text()) if headers else {},
                      RunConfig(net=NetSettings.of("0.0.0.0/0 ::/0", None)),
                      spec.source.statement_timeout_seconds, spec.source.connect_timeout_seconds)


class StderrProgress:
    """Progress lines on stderr, with the elapsed time."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.start = time.monotonic()

    def __call__(self, message: str) -> None:
        print(f"[{time.monotonic() - self.start:6.1f}s] {message}", file=self.stream, flush=True)


def write_email(built: BuiltReport, spec: ReportScheduleSpec, out: Path, *, name: str,
                namespace: str, period: Period, recipient: Recipient | None = None
                ) -> list[Path]:
    """What would have been sent: email.eml (the whole message), email.html and email.txt;
    for a burst, ``recipient``'s."""
    from bulletin.deliver.compose import compose
    from bulletin.deliver.content import template_vars
    from bulletin.deliver.email import build_message

    target = spec.delivery.email
    to, cc, bcc = (list(target.to), list(target.cc), list(target.bcc)) if target else ([], [], [])
    variables = template_vars(title=spec.report.title or name, namespace=namespace,
                              schedule=name, run_id="preview", period=period, report=built)
    if recipient is not None:
        to = [recipient.address]
        variables["recipient"] = {"address": recipient.address, **recipient.params}
    letter = compose(spec, built.email, to=to, cc=cc, attachments=built.artifacts,
                     subject_vars=variables)
    subject = letter.subject
    msg = build_message(letter)
    written = [out / "email.eml"]
    written[0].write_bytes(bytes(msg))
    if built.email.html is not None:
        html = built.email.html
        for image in built.email.inline_images:  # so a browser shows what a mail client would
            (out / image.filename).write_bytes(image.data)
            html = html.replace(f"cid:{image.cid}", image.filename)
        (out / "email.html").write_text(html)
        written.append(out / "email.html")
    lines = [
        f"To: {', '.join(to)}",
        *([f"Cc: {', '.join(cc)}"] if cc else []),
        *([f"Bcc: {', '.join(bcc)}"] if bcc else []),
        f"Subject: {subject}",
        "Attachments:",
        *(f"  {a.path.name} ({a.content_type}, {a.path.stat().st_size:,} bytes)"
          for a in built.artifacts),
        *(f"  inline {i.filename} (cid:{i.cid}): {i.alt}" for i in built.email.inline_images),
        f"Rows: {built.rows:,} ({', '.join(f'{k}: {v:,}' for k, v in built.datasets.items())})",
        "",
        built.email.text,
    ]
    (out / "email.txt").write_text("\n".join(lines))
    written.append(out / "email.txt")
    return written


def main(argv: Sequence[str]) -> int:
    """Run a preview; 0 on success, 1 when the report failed, 2 on usage errors."""
    args = parse_args(argv)
    progress = StderrProgress(sys.stderr)
    try:
        name, namespace, spec = load_manifest(args.file)
        sample = load_sample(args.sample) if args.sample else None
        at = datetime.fromisoformat(args.at) if args.at else None
        if args.formats:
            spec = ReportScheduleSpec.model_validate(
                {**spec.model_dump(by_alias=True), "formats": args.formats.split(",")})
        period = preview_period(spec, at, sample)
    except ValidationError as exc:
        print(f"bulletin preview: --formats: {describe(exc)}", file=sys.stderr)
        return 2
    except (PreviewError, ValueError) as exc:
        print(f"bulletin preview: {exc}", file=sys.stderr)
        return 2
    if sample is None and not args.data_url and any(d.query for d in spec.datasets):
        print("bulletin preview: give --data-url URL or --sample FILE", file=sys.stderr)
        return 2
    try:
        prometheus = None if sample is not None else local_prometheus(
            spec, args.prometheus_headers, args.prometheus_url)
    except (OSError, PrometheusError) as exc:
        print(f"bulletin preview: --prometheus-headers: {exc}", file=sys.stderr)
        return 2
    except PreviewError as exc:
        print(f"bulletin preview: {exc}", file=sys.stderr)
        return 2
    progress(f"{namespace}/{name}: period {period.label()} ({period.time_zone}),"
             f" formats {', '.join(spec.formats)}")
    for warning in outside(sample, period, period.tz) if sample else []:
        print(f"bulletin preview: warning: {warning}", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        if spec.delivery.burst is None:
            files = preview_one(spec, args, args.out, name=name, namespace=namespace,
                                period=period, sample=sample, progress=progress,
                                prometheus=prometheus)
        else:
            files = []
            found = recipients(spec, period, args.data_url, sample)
            progress(f"burst: {len(found)} recipient(s), one folder each")
            for n, recipient in enumerate(found, 1):
                files += preview_one(report_spec(spec), args, args.out / folder(n, recipient),
                                     name=name, namespace=namespace, period=period,
                                     sample=sample, progress=progress, recipient=recipient,
                                     prometheus=prometheus)
    except BulletinError as exc:
        print(f"bulletin preview: the run would fail: {exc}", file=sys.stderr)
        return 1
    progress("wrote " + ", ".join(str(p) for p in files))
    return 0


def folder(n: int, recipient: Recipient) -> str:
    """A burst recipient's folder: its position and address, safe as a file name."""
    safe = re.sub(r"[^A-Za-z0-9@._-]", "_", recipient.address)[:100].lstrip(".")
    return f"{n:04d}-{safe or 'no-address'}"


def preview_one(spec: ReportScheduleSpec, args: argparse.Namespace, out: Path, *, name: str,
                namespace: str, period: Period, sample: Mapping[str, Any] | None,
                progress: StderrProgress, recipient: Recipient | None = None,
                prometheus: Prometheus | None = None) -> list[Path]:
    """Render one report (a burst recipient's, with their parameters) and its email into
    ``out``; the files written."""
    out.mkdir(parents=True, exist_ok=True)
    built = build_report(spec, schedule_name=name, namespace=namespace, period=period,
                         db_url=args.data_url, outdir=out, templates_dir=args.templates,
                         sample=sample, progress=progress,
                         params=recipient.params if recipient else None,
                         prometheus=prometheus)
    return [a.path for a in built.artifacts] + write_email(
        built, spec, out, name=name, namespace=namespace, period=period, recipient=recipient)
