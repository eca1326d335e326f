"""Password-protected report files (spec.protection), opened by independent readers: qpdf for the
PDF, 7-Zip for the ZIP (LibreOffice for the XLSX: tests/integration/test_xlsx_libreoffice.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bulletin.api.errors import ConfigurationError
from bulletin.api.podenv import (
    PROTECTION_PASSWORD,
    Policy,
    delivery_env,
    is_delivery_secret,
    runner_env,
)
from bulletin.api.references import Use, references
from bulletin.protect import protect_report, recipient_password, secret_password
from bulletin.render.protect import protect_csv
from bulletin.runconfig import RunConfig
from pydantic import ValidationError
from report_support import build, make_spec

PASSWORD = "correct horse 42"
PROTECTION = {"passwordSecretRef": {"name": "report-password", "key": "password"},
              "instructions": "Call the payroll desk on 555-0100 for this month's password."}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(argv[0])
    assert tool, f"needs {argv[0]}: tests/setup/deps.sh installs it (qpdf, p7zip-full)"
    return subprocess.run([tool, *argv[1:]], capture_output=True, text=True, timeout=120)


def _protected(tmp_path: Path, formats: list[str], **extra: Any) -> Any:
    spec = make_spec(formats=formats, protection=PROTECTION, **extra)
    assert spec.protection is not None
    return protect_report(build(tmp_path, spec), spec.protection, PASSWORD)


def test_the_pdf_opens_with_the_password_only(tmp_path: Path) -> None:
    report = _protected(tmp_path, ["pdf"])
    [pdf] = report.artifacts
    assert (pdf.path.name, pdf.content_type) == ("weekly-usage.pdf", "application/pdf")
    assert _run("qpdf", "--check", str(pdf.path)).returncode != 0  # no password: refused
    assert "invalid password" in _run("qpdf", "--check", str(pdf.path)).stderr
    shown = _run("qpdf", f"--password={PASSWORD}", "--show-encryption", str(pdf.path))
    assert shown.returncode == 0, shown.stderr
    assert "R = 6" in shown.stdout and "AESv3" in shown.stdout  # AES-256 (PDF 2.0 handler)
    plain = tmp_path / "plain.pdf"
    assert _run("qpdf", f"--password={PASSWORD}", "--decrypt", str(pdf.path),
                str(plain)).returncode == 0
    text = _run("pdftotext", str(plain), "-").stdout
    assert "Weekly usage" in text and "alice" in text
    assert b"alice" not in pdf.path.read_bytes()


def test_csv_files_go_into_an_aes_256_zip(tmp_path: Path) -> None:
    report = _protected(tmp_path, ["csv"])  # two datasets: a ZIP of two CSVs, re-packed
    [archive] = report.artifacts
    assert (archive.path.name, archive.content_type) == ("weekly-usage.zip", "application/zip")
    listing = _run("7z", "l", "-slt", str(archive.path)).stdout
    assert listing.count("Method = AES-256 Deflate") == 2 and "Encrypted = +" in listing
    refused = _run("7z", "x", "-p", f"-o{tmp_path / 'no'}", str(archive.path))
    assert refused.returncode != 0 and "Wrong password" in refused.stdout + refused.stderr
    wrong = _run("7z", "x", "-pwrong", f"-o{tmp_path / 'wrong'}", str(archive.path))
    assert wrong.returncode != 0
    opened = _run("7z", "x", f"-p{PASSWORD}", f"-o{tmp_path / 'open'}", str(archive.path))
    assert opened.returncode == 0, opened.stdout + opened.stderr
    usage = (tmp_path / "open" / "usage.csv").read_text()
    assert usage.startswith("day,user_name,requests,cost\n2026-01-05,alice,100,")
    assert b"alice" not in archive.path.read_bytes()


def test_one_csv_becomes_its_own_zip_and_a_large_one_round_trips(tmp_path: Path) -> None:
    big = tmp_path / "usage.csv"
    big.write_bytes(b"n,hash\n" + b"".join(b"%d,%032x\n" % (i, i * 7919) for i in range(400_000)))
    expected = big.read_bytes()
    archive = protect_csv(big, PASSWORD)
    assert archive.name == "usage.zip" and not big.exists()
    assert _run("7z", "t", f"-p{PASSWORD}", str(archive)).returncode == 0
    _run("7z", "x", f"-p{PASSWORD}", f"-o{tmp_path / 'out'}", str(archive))
    assert (tmp_path / "out" / "usage.csv").read_bytes() == expected


def test_the_message_holds_no_data_only_the_files_and_the_instructions(tmp_path: Path) -> None:
    report = _protected(tmp_path, ["csv", "xlsx", "pdf", "html"],
                        report={"kpis": [{"dataset": "totals", "column": "cost"}]})
    names = sorted(a.path.name for a in report.artifacts)
    assert names == ["weekly-usage.pdf", "weekly-usage.xlsx", "weekly-usage.zip"]
    assert report.kpis == [] and report.email.inline_images == []
    for body in (report.email.text, report.email.html):
        assert "Call the payroll desk on 555-0100" in body
        assert "protected with a password" in body and "weekly-usage.xlsx" in body
        assert "alice" not in body and "99" not in body and PASSWORD not in body
    assert report.email.subject.startswith("Weekly usage")
    xlsx = next(a for a in report.artifacts if a.path.suffix == ".xlsx")
    assert xlsx.path.read_bytes()[:8] == bytes.fromhex("d0cf11e0a1b11ae1")  # an encrypted OLE


def test_the_password_comes_from_its_secret_key_and_is_a_delivery_secret() -> None:
    spec = make_spec(formats=["pdf"], protection=PROTECTION)
    assert spec.protection is not None
    [ref] = [r for r in references(spec) if r.field == "spec.protection.passwordSecretRef"]
    assert (ref.kind, ref.name, ref.use) == ("Secret", "report-password", Use.ENCRYPTION)
    env = runner_env("weekly", spec, Policy())
    [var] = [v for v in env if v["name"] == PROTECTION_PASSWORD]
    assert var["valueFrom"]["secretKeyRef"] == {"name": "report-password", "key": "password",
                                                "optional": True}
    assert is_delivery_secret(PROTECTION_PASSWORD)  # masked in every log line
    assert PROTECTION_PASSWORD not in [v["name"] for v in delivery_env(spec)]
    config = RunConfig.from_env({PROTECTION_PASSWORD: PASSWORD})
    assert secret_password(spec.protection, config) == PASSWORD
    with pytest.raises(ConfigurationError, match="Secret 'report-password' has no key 'password'"):
        secret_password(spec.protection, RunConfig())


def test_a_burst_password_column_falls_back_to_the_secret_or_fails_the_recipient() -> None:
    from bulletin.deliver.retry import Permanent

    spec = make_spec(formats=["pdf"], protection={"instructions": "Ask your manager."},
                     datasets=[{"name": "people", "query": "SELECT 1"},
                               {"name": "totals", "query": "SELECT 2"}],
                     delivery={"email": {"smtpSecretRef": {"name": "smtp"}},
                               "burst": {"dataset": "people", "passwordColumn": "pin"}})
    assert spec.protection is not None
    assert recipient_password(spec.protection, RunConfig(), "own-1") == "own-1"
    with pytest.raises(Permanent, match="no password for this recipient"):
        recipient_password(spec.protection, RunConfig(), "")


@pytest.mark.parametrize(("overrides", "message"), [
    ({"protection": {"instructions": "x"}}, "set passwordSecretRef"),
    ({"protection": PROTECTION, "formats": ["html"]}, "add csv, xlsx or pdf"),
    ({"protection": {**PROTECTION, "instructions": "a\tb"}}, "instructions"),
])
def test_protection_without_a_password_or_files_is_refused(overrides: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_spec(**overrides)


def test_the_sent_message_carries_the_protected_files_and_never_the_password(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from bulletin.deliver.dispatch import deliver_all
    from delivery_support import PERIOD, context, no_sleep
    from devstack.mailsink import MailSink
    from doubles import MemoryLedger

    caplog.set_level("DEBUG")
    spec = make_spec(formats=["csv", "pdf", "html"], protection=PROTECTION)
    assert spec.protection is not None
    report = protect_report(build(tmp_path / "out", spec), spec.protection, PASSWORD)
    sink = MailSink().start()
    try:
        env = {"BULLETIN_SMTP_host": "127.0.0.1", "BULLETIN_SMTP_port": str(sink.port),
               "BULLETIN_SMTP_security": "none", PROTECTION_PASSWORD: PASSWORD}
        [record] = deliver_all(spec, context(env, tmp_path), report, MemoryLedger(), PERIOD,
                               sleep=no_sleep)
    finally:
        sink.stop()
    assert record.state == "Sent", record.error
    [(_, msg)] = sink.messages
    raw = msg.as_bytes()
    assert PASSWORD.encode() not in raw and b"alice" not in raw
    assert PASSWORD not in caplog.text and PASSWORD not in record.model_dump_json()
    files = {str(a.get_filename()): a.get_content() for a in msg.iter_attachments()}
    assert sorted(files) == ["weekly-usage.pdf", "weekly-usage.zip"]
    pdf = tmp_path / "received.pdf"
    pdf.write_bytes(files["weekly-usage.pdf"])
    assert _run("qpdf", f"--password={PASSWORD}", "--check", str(pdf)).returncode == 0
    assert _run("qpdf", "--check", str(pdf)).returncode != 0
    text = msg.get_body(("plain",))
    assert text is not None and "Call the payroll desk on 555-0100" in text.get_content()


def test_a_missing_password_fails_the_run_before_anything_is_built(tmp_path: Path) -> None:
    from bulletin.execution import produce
    from delivery_support import PERIOD, context

    spec = make_spec(formats=["pdf"], protection=PROTECTION)
    with pytest.raises(ConfigurationError, match=r"^spec.protection.passwordSecretRef: Secret"
                       r" 'report-password' has no key 'password' \(or it is empty\); nothing"
                       " was sent$"):
        produce(context({}, tmp_path), spec, PERIOD, "postgresql://unused")
    assert not (tmp_path / "weekly-29000000").exists()
