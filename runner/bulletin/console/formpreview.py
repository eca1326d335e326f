"""Preview from the schedule form: the report rendered from the form, as `bulletin preview`
renders it, with the source's Secrets read as the user. Only where the console runs on the
user's own machine (local mode, `kubectl bulletin console`): there its queries reach what the
user's machine reaches. A hosted console is no tenant's runner pod: none of the runner's
network fences hold there, so it does not run a form's queries and says so."""

from __future__ import annotations

import base64
import secrets
import shutil
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from threading import Lock
from typing import Any

from bulletin.api.delivery import SecretKeyRef
from bulletin.api.errors import BulletinError, CommandError
from bulletin.api.spec import ReportScheduleSpec
from bulletin.plugin.kube import KubeSession
from bulletin.redact import redact

KEPT = 8  # previews kept (oldest removed first)


@dataclass(frozen=True)
class Rendered:
    """A rendered preview: its id, rows per dataset, files (name, bytes), the period's label
    and the email as text (addresses, subject, attachments, body)."""

    id: str
    datasets: dict[str, int]
    files: list[tuple[str, int]]
    period: str
    email: str


@dataclass
class PreviewFiles:
    """Rendered previews in a private temporary folder, by random id, the newest KEPT."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bulletin-preview-")))
    _ids: OrderedDict[str, Path] = field(default_factory=OrderedDict)
    _lock: Lock = field(default_factory=Lock)

    def new(self) -> tuple[str, Path]:
        """A fresh id and its empty folder."""
        preview_id = secrets.token_urlsafe(16)
        folder = self.root / preview_id
        folder.mkdir(mode=0o700)
        with self._lock:
            self._ids[preview_id] = folder
            while len(self._ids) > KEPT:
                shutil.rmtree(self._ids.popitem(last=False)[1], ignore_errors=True)
        return preview_id, folder

    def file(self, preview_id: str, name: str) -> Path | None:
        """The file ``name`` of preview ``preview_id``; None when there is no such file."""
        with self._lock:
            folder = self._ids.get(preview_id)
        if folder is None:
            return None
        found = {p.name: p for p in folder.iterdir() if p.is_file()}
        return found.get(name)


def secret_value(kube: KubeSession, ref: SecretKeyRef) -> str:
    """The Secret's value, read as the user."""
    data = kube.core.read_namespaced_secret(ref.name, kube.namespace).data or {}
    if ref.key not in data:
        raise PreviewRefused(f"Secret {ref.name} in {kube.namespace} has no key {ref.key}.")
    return base64.b64decode(data[ref.key]).decode()


class PreviewRefused(CommandError):
    """Why this form is not previewed (for the user)."""


def render(kube: KubeSession, spec_wire: dict[str, Any], name: str,
           files: PreviewFiles) -> Rendered:
    """Render the form's report on this machine; PreviewRefused or the run's error."""
    from bulletin.preview import local_prometheus, write_email
    from bulletin.previewperiod import preview_period
    from bulletin.report import build_report
    from bulletin.sources.prometheus import parse_headers

    spec = ReportScheduleSpec.model_validate(spec_wire)
    if spec.delivery.burst is not None:
        raise PreviewRefused("A burst renders one report per recipient: preview it with"
                             " `bulletin preview`, which writes a folder for each.")
    source, values = spec.source, []
    db_url = (secret_value(kube, source.connection_secret_ref)
              if source.connection_secret_ref else None)
    values.append(db_url or "")
    prometheus = None
    if source.prometheus is not None:
        refs = source.prometheus
        url = secret_value(kube, refs.url_secret_ref) if refs.url_secret_ref else None
        prometheus = local_prometheus(spec, None, url)
        if prometheus is not None and refs.headers_secret_ref is not None:
            headers = parse_headers(secret_value(kube, refs.headers_secret_ref))
            prometheus = replace(prometheus, headers=headers)
            values += headers.values()
        values.append(url or "")
    period = preview_period(spec, None, None)
    preview_id, out = files.new()
    try:
        built = build_report(spec, schedule_name=name, namespace=kube.namespace, period=period,
                             db_url=db_url, outdir=out, templates_dir=None,
                             prometheus=prometheus)
    except BulletinError as exc:  # the message may quote the URL: never its secrets
        raise PreviewRefused(f"The run would fail: {redact(str(exc), values)}") from None
    write_email(built, spec, out, name=name, namespace=kube.namespace, period=period)
    return Rendered(preview_id, dict(built.datasets),
                    [(p.name, p.stat().st_size) for p in sorted(out.iterdir()) if p.is_file()],
                    period.label(), (out / "email.txt").read_text())
