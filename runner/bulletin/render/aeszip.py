"""ZIP archives with AES-256 encrypted entries (WinZip AE-2, as 7-Zip and WinZip read them).

Each entry is deflated, then encrypted with AES-256 in CTR mode (WinZip's little-endian counter
from 1) under a key derived from the password and a random salt (PBKDF2-HMAC-SHA1, 1000
rounds), and authenticated with HMAC-SHA1 (10 bytes); AE-2 stores no CRC of the plaintext.
Written with ``cryptography`` rather than pyzipper, whose pycryptodomex would grow the runner
image. No ZIP64: an entry or archive over 4 GiB is refused.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import IO

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from bulletin.api.errors import RenderError

CHUNK = 1 << 20
LIMIT = 0xFFFFFFFF
AES = 99  # the compression method of WinZip AES entries
FLAGS = 0x0001 | 0x0800  # encrypted, UTF-8 names
VERSION = 51  # 5.1: AES encryption
Opener = Callable[[], AbstractContextManager[IO[bytes]]]


class ZipTooLarge(RenderError, ValueError):
    """An entry or the archive would need ZIP64."""


class _Ctr:
    """WinZip's AES-CTR: the keystream is AES(key, counter), counter little-endian from 1."""

    def __init__(self, key: bytes) -> None:
        self._ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        self._counter, self._spare = 1, b""

    def apply(self, data: bytes) -> bytes:
        blocks = max(0, -(-(len(data) - len(self._spare)) // 16))
        counters = b"".join(n.to_bytes(16, "little")
                            for n in range(self._counter, self._counter + blocks))
        self._counter += blocks
        stream = self._spare + self._ecb.update(counters)
        self._spare = stream[len(data):]
        mixed = int.from_bytes(data, "little") ^ int.from_bytes(stream[:len(data)], "little")
        return mixed.to_bytes(len(data), "little")


def _dos_time(when: datetime) -> tuple[int, int]:
    return ((when.hour << 11) | (when.minute << 5) | (when.second // 2),
            ((when.year - 1980) << 9) | (when.month << 4) | when.day)


def _encrypt_entry(out: IO[bytes], source: IO[bytes], password: bytes) -> tuple[int, int]:
    """Write salt, verifier, ciphertext and MAC of ``source`` deflated; (stored, plain) sizes."""
    salt = os.urandom(16)
    derived = PBKDF2HMAC(hashes.SHA1(), 66, salt, 1000).derive(password)
    ctr, mac = _Ctr(derived[:32]), hmac.HMAC(derived[32:64], hashes.SHA1())
    out.write(salt + derived[64:])
    deflate, plain, stored = zlib.compressobj(6, zlib.DEFLATED, -15), 0, 18 + 10
    while chunk := source.read(CHUNK):
        plain += len(chunk)
        stored += _sealed(out, ctr, mac, deflate.compress(chunk))
    stored += _sealed(out, ctr, mac, deflate.flush())
    out.write(mac.finalize()[:10])
    if plain > LIMIT or stored > LIMIT:
        raise ZipTooLarge("a file over 4 GiB cannot go into a protected ZIP")
    return stored, plain


def _sealed(out: IO[bytes], ctr: _Ctr, mac: hmac.HMAC, data: bytes) -> int:
    sealed = ctr.apply(data)
    mac.update(sealed)
    out.write(sealed)
    return len(sealed)


def write_aes_zip(out: IO[bytes], entries: Iterable[tuple[str, Opener]], password: str) -> None:
    """Write the archive into ``out`` (seekable), each (name, opener) entry AES-256 encrypted
    under ``password``."""
    time, date = _dos_time(datetime.now(UTC))
    extra = struct.pack("<HHH2sBH", 0x9901, 7, 2, b"AE", 3, zlib.DEFLATED)
    central = []
    for name, opener in entries:
        raw, offset = name.encode(), out.tell()
        out.write(b"\0" * (30 + len(raw) + len(extra)))
        with opener() as source:
            stored, plain = _encrypt_entry(out, source, password.encode())
        fields = struct.pack("<HHHHHIIIHH", VERSION, FLAGS, AES, time, date, 0, stored,
                             plain, len(raw), len(extra))
        end = out.tell()
        out.seek(offset)
        out.write(b"PK\x03\x04" + fields + raw + extra)
        out.seek(end)
        central.append(b"PK\x01\x02" + struct.pack("<H", VERSION) + fields
                       + struct.pack("<HHHII", 0, 0, 0, 0, offset) + raw + extra)
    start = out.tell()
    out.write(b"".join(central))
    if out.tell() > LIMIT:
        raise ZipTooLarge("a protected ZIP over 4 GiB is not supported")
    out.write(b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, len(central), len(central),
                                            out.tell() - start, start, 0))
