"""Real S3-compatible servers: Versity Gateway (posix backend), built from tests/s3server, which
stores objects unencrypted (it ignores server-side encryption requests), and MinIO, built from
tests/s3sse, which encrypts them (SSE-S3, and SSE-KMS with one static key, KMS_KEY).

``bash tests/s3server/build.sh`` (or s3sse) builds it from the pinned Go module into
~/.cache/bulletin (a few minutes the first time) and prints the binary's path. The servers check
SigV4 signatures, presigned URLs included, and store objects as files under ``root``.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Self

from devstack.ports import HOST, LISTEN, free_port

ROOT = Path(__file__).resolve().parents[2]


def build(kind: str = "s3server") -> Path:
    """The server's binary, tests/<kind>/build.sh's (built on first use)."""
    proc = subprocess.run(["bash", str(ROOT / "tests" / kind / "build.sh")],
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"building {kind} failed:\n{proc.stderr[-3000:]}")
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

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The server's command line and environment."""
        data, meta = self.root / "data", self.root / "meta"
        data.mkdir(parents=True, exist_ok=True)
        meta.mkdir(parents=True, exist_ok=True)
        env = {"ROOT_ACCESS_KEY": self.access_key, "ROOT_SECRET_KEY": self.secret_key}
        return [str(build()), "--port", f"{LISTEN}:{self.port}", "--region", self.region,
                "--quiet", "posix", "--sidecar", str(meta), str(data)], env

    def start(self, timeout: float = 30) -> Self:
        argv, env = self.command()
        with (self.root / "server.log").open("ab") as log:
            self.proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited: {(self.root / 'server.log').read_text()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{argv[0]} not listening after {timeout}s") from None
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


class EncryptingS3Server(S3Server):
    """MinIO on one drive (``root/data``) with a static KMS key named KMS_KEY: it encrypts
    objects uploaded with SSE-S3 or SSE-KMS (that key only) and says so in its replies."""

    KMS_KEY = "bulletin-reports"

    def command(self) -> tuple[list[str], dict[str, str]]:
        data = self.root / "data"
        data.mkdir(parents=True, exist_ok=True)
        key = base64.b64encode(secrets.token_bytes(32)).decode()
        env = {"MINIO_ROOT_USER": self.access_key, "MINIO_ROOT_PASSWORD": self.secret_key,
               "MINIO_KMS_SECRET_KEY": f"{self.KMS_KEY}:{key}", "MINIO_BROWSER": "off",
               "MINIO_REGION": self.region, "MINIO_UPDATE": "off"}
        return [str(build("s3sse")), "server", "--quiet", "--address",
                f"{LISTEN}:{self.port}", str(data)], env
