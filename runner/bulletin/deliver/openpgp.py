"""OpenPGP (spec.delivery.email.encryption): recipients' public keys from the mounted ConfigMap
or Secret, and PGP/MIME messages (RFC 3156) encrypted to them with gpg, which the runner image
carries. Each call uses a fresh, empty gpg home: keys are read from their files, never kept."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from email.encoders import encode_7or8bit
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP
from email.utils import parseaddr
from pathlib import Path

from bulletin.deliver.retry import Permanent
from bulletin.deliver.smime import OUTER, inner

ARMOR = b"-----BEGIN PGP PUBLIC KEY BLOCK-----"


def _gpg(args: Sequence[str], data: bytes = b"") -> bytes:
    gpg = shutil.which("gpg")
    if gpg is None:
        raise Permanent("OpenPGP needs gpg, which this runner image lacks; nothing was sent")
    with tempfile.TemporaryDirectory(prefix="gnupg-") as home:
        done = subprocess.run([gpg, "--homedir", home, "--batch", "--no-tty", "--quiet",
                               "--no-auto-key-locate", "--trust-model", "always", *args],
                              input=data, capture_output=True, timeout=120)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise Permanent(f"OpenPGP: gpg: {reason[0][:200]}; nothing was sent")
    return done.stdout


def load_keys(directory: Path) -> dict[str, list[Path]]:
    """Address (lower case) -> the key files (armored public keys) whose user IDs name it."""
    found: dict[str, list[Path]] = {}
    for path in sorted(p for p in directory.iterdir() if not p.name.startswith(".")):
        if not path.is_file() or ARMOR not in path.read_bytes():
            continue
        listing = _gpg(["--with-colons", "--show-keys", str(path)]).decode(errors="replace")
        for line in listing.splitlines():
            fields = line.split(":")
            if fields[0] == "uid" and len(fields) > 9 and fields[1] not in ("r", "e"):
                address = parseaddr(fields[9].replace("\\x3a", ":"))[1].strip().lower()
                if "@" in address:
                    found.setdefault(address, []).append(path)
    return found


def encrypt(message: EmailMessage, keys: Sequence[Path]) -> bytes:
    """``message`` as PGP/MIME readable with any of ``keys``: body and attachments inside, the
    routing headers (OUTER) outside."""
    recipients = [arg for key in keys for arg in ("--recipient-file", str(key))]
    armored = _gpg(["--armor", "--encrypt", *recipients], inner(message).as_bytes(policy=SMTP))
    outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted", policy=SMTP)
    for name in OUTER:
        if message[name] is not None:
            outer[name] = message[name]
    outer.preamble = "This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)"
    outer.attach(MIMEApplication("Version: 1\r\n", "pgp-encrypted", encode_7or8bit,
                                 policy=SMTP))
    outer.attach(MIMEApplication(armored.decode("ascii"), "octet-stream", encode_7or8bit,
                                 policy=SMTP, name="encrypted.asc"))
    return outer.as_bytes()
