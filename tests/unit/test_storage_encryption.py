"""Server-side encryption of stored reports (spec.delivery.storage.encryption), against real
S3-compatible servers: MinIO with a static KMS key encrypts, Versity Gateway does not."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from bulletin.deliver.dispatch import deliver_all
from delivery_support import PERIOD, context, no_sleep, report, spec
from devstack.s3 import EncryptingS3Server, S3Server
from doubles import MemoryLedger

PREFIX = "analytics/weekly/2026/11/weekly-29000000"
SECRET_ROWS = b"employee,salary\nada,123456.78\n"


@pytest.fixture
def bucket(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50] + "-e"


def _deliver(server: S3Server, bucket: str, tmp_path: Path, kms_key: str | None = None,
             data: bytes = SECRET_ROWS, **storage: Any) -> list[Any]:
    env = {"BULLETIN_S3_accessKeyId": server.access_key,
           "BULLETIN_S3_secretAccessKey": server.secret_key,
           "BULLETIN_S3_endpoint": server.endpoint,
           **({"BULLETIN_S3_kmsKeyId": kms_key} if kms_key is not None else {})}
    delivery = {"webhooks": [{"name": "unused", "url": "https://hooks.example.com/x"}],
                "storage": {"endpoint": server.endpoint, "bucket": bucket, "archive": True,
                            "credentialsSecretRef": {"name": "s3"}, **storage},
                "retry": {"attempts": 1}}
    built = report(tmp_path / "out", {"payroll.csv": data})
    # Only the archive is looked at: the webhook fails (no such host), after it.
    return deliver_all(spec(delivery), context(env, tmp_path), built, MemoryLedger(), PERIOD,
                       sleep=no_sleep)


def _on_disk(server: S3Server, bucket: str) -> bytes:
    return b"".join(p.read_bytes() for p in (server.root / "data" / bucket).rglob("*")
                    if p.is_file())


def test_sse_s3_by_default_encrypted_on_disk_and_the_link_still_downloads(
        s3_sse: EncryptingS3Server, bucket: str, tmp_path: Path) -> None:
    s3_sse.create_bucket(bucket)
    archive = _deliver(s3_sse, bucket, tmp_path)[0]
    assert (archive.target, archive.state) == ("archive", "Sent"), archive.error
    key = f"{PREFIX}/payroll.csv"
    head = s3_sse.client().head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "AES256"
    raw = _on_disk(s3_sse, bucket)
    assert raw and b"123456.78" not in raw  # what the server wrote is not the plaintext
    url = s3_sse.client().generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=60)
    assert httpx.get(url).content == SECRET_ROWS


def test_sse_kms_with_the_secrets_key_id(
        s3_sse: EncryptingS3Server, bucket: str, tmp_path: Path) -> None:
    s3_sse.create_bucket(bucket)
    archive = _deliver(s3_sse, bucket, tmp_path, kms_key=s3_sse.KMS_KEY,
                       encryption="sse-kms")[0]
    assert archive.state == "Sent", archive.error
    head = s3_sse.client().head_object(Bucket=bucket, Key=f"{PREFIX}/payroll.csv")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith(s3_sse.KMS_KEY)
    assert b"123456.78" not in _on_disk(s3_sse, bucket)


def test_an_unknown_kms_key_stores_nothing(
        s3_sse: EncryptingS3Server, bucket: str, tmp_path: Path) -> None:
    s3_sse.create_bucket(bucket)
    archive = _deliver(s3_sse, bucket, tmp_path, kms_key="no-such-key",
                       encryption="sse-kms")[0]
    assert archive.state == "Failed"
    assert "KeyNotFound" in (archive.error or "") and "no-such-key" not in (archive.error or "")
    assert "Contents" not in s3_sse.client().list_objects_v2(Bucket=bucket)


def test_a_server_that_does_not_confirm_encryption_is_refused_and_the_object_deleted(
        s3: S3Server, bucket: str, tmp_path: Path) -> None:
    s3.create_bucket(bucket)
    archive = _deliver(s3, bucket, tmp_path)[0]
    assert (archive.state, archive.attempts) == ("Failed", 1)  # permanent: never retried
    assert archive.error == (
        f"upload to s3://{bucket} at {s3.endpoint}: the server did not confirm server-side"
        " encryption of payroll.csv (asked AES256, it answered no x-amz-server-side-encryption"
        " header), so it was deleted; turn on encryption on the server (sse-s3), or set"
        " spec.delivery.storage.encryption: none to store unencrypted")
    assert "Contents" not in s3.client().list_objects_v2(Bucket=bucket)
    assert archive.object_keys == []


def test_encryption_none_stores_on_a_server_that_does_not_encrypt(
        s3: S3Server, bucket: str, tmp_path: Path) -> None:
    s3.create_bucket(bucket)
    archive = _deliver(s3, bucket, tmp_path, encryption="none")[0]
    assert archive.state == "Sent", archive.error
    body = s3.client().get_object(Bucket=bucket, Key=f"{PREFIX}/payroll.csv")["Body"].read()
    assert body == SECRET_ROWS


def test_a_multipart_upload_is_encrypted_too(
        s3_sse: EncryptingS3Server, bucket: str, tmp_path: Path) -> None:
    s3_sse.create_bucket(bucket)
    data = os.urandom(20 * 1024 * 1024)  # above boto3's 8 MiB multipart threshold
    archive = _deliver(s3_sse, bucket, tmp_path, kms_key=s3_sse.KMS_KEY, data=data,
                       encryption="sse-kms")[0]
    assert archive.state == "Sent", archive.error
    head = s3_sse.client().head_object(Bucket=bucket, Key=f"{PREFIX}/payroll.csv")
    assert head["ServerSideEncryption"] == "aws:kms" and head["ContentLength"] == len(data)
    got = s3_sse.client().get_object(Bucket=bucket, Key=f"{PREFIX}/payroll.csv")["Body"].read()
    assert got == data
