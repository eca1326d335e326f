"""Password protection of one report file: PDF with AES-256 (pypdf), XLSX with Office agile
encryption (msoffcrypto-tool), CSV (or a plain ZIP of CSVs) into an AES-256 ZIP."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

from bulletin.render.aeszip import Opener, write_aes_zip


def protect_pdf(path: Path, password: str) -> Path:
    """Encrypt the PDF in place (AES-256; the password opens it with every permission)."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=path)
    writer.encrypt(user_password=password, owner_password=None, algorithm="AES-256")
    return _replace(path, path, writer.write)


def protect_xlsx(path: Path, password: str) -> Path:
    """Encrypt the workbook in place (ECMA-376 agile encryption, AES-256 and SHA-512)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    def write(out: IO[bytes]) -> None:
        with path.open("rb") as source:
            OOXMLFile(source).encrypt(password, out)

    return _replace(path, path, write)


def protect_csv(path: Path, password: str) -> Path:
    """``<name>.csv`` into ``<name>.zip`` (a ZIP of CSVs: each entry), AES-256 encrypted; the
    new path. The unprotected file is deleted."""
    dest = path.with_suffix(".zip")
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as plain:
            names = plain.namelist()
            return _replace(path, dest, lambda out: write_aes_zip(
                out, [(n, _member(plain, n)) for n in names], password))
    return _replace(path, dest, lambda out: write_aes_zip(out, [(path.name, lambda: path.open(
        "rb"))], password))


def _member(archive: zipfile.ZipFile, name: str) -> Opener:
    def opener() -> AbstractContextManager[IO[bytes]]:
        return archive.open(name)
    return opener


def _replace(source: Path, dest: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write through ``write`` into a temporary file beside ``dest``, then put it in place of
    ``source``."""
    tmp = dest.with_name(f".{dest.name}.protected")
    try:
        with tmp.open("wb") as out:
            write(out)
        tmp.replace(dest)
    finally:
        tmp.unlink(missing_ok=True)
    if dest != source:
        source.unlink()
    return dest
