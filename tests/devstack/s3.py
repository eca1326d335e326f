"""A real S3-compatible server: Versity Gateway (posix backend), built from tests/s3server.

``bash tests/s3server/build.sh`` builds it from the pinned Go module into ~/.cache/bulletin
(a few minutes the first time) and prints the binary's path. The server checks SigV4
signatures, presigned URLs included, and stores objects as files under ``root``.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from devstack.ports import HOST, LISTEN, free_port

ROOT = Path(__file__).resolve().parents[2]


def build() -> Path:
    """The versitygw binary (built on first use)."""
    proc = subprocess.run(["bash", str(ROOT / "tests" / "s3server" / "build.sh")],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"building versitygw failed:\n{proc.stderr[-3000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


class S3Server:
    """Start with start(); ``endpoint``, ``access_key``, ``secret_key``, ``client()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.access_key = "bulletin-test"
        self.secret_key = "s3-" + secrets.token_hex(12)
        self.region = "us-east-1"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 30) -> S3Server:
        binary = build()
        data, meta = self.root / "data", self.root / "meta"
        data.mkdir(parents=True, exist_ok=True)
        meta.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "ROOT_ACCESS_KEY": self.access_key,
               "ROOT_SECRET_KEY": self.secret_key}
        with (self.root / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [str(binary), "--port", f"{LISTEN}:{self.port}", "--region", self.region,
                 "--quiet", "posix", "--sidecar", str(meta), str(data)],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"versitygw exited: {(self.root / 'server.log').read_text()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"versitygw not listening after {timeout}s") from None
                time.sleep(0.1)

    def client(self) -> Any:
        """A boto3 client with the root credentials."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3", endpoint_url=self.endpoint, region_name=self.region,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          request_checksum_calculation="when_required",
                          response_checksum_validation="when_required"))

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
