"""S3-compatible storage (boto3): upload artifacts, presign links, prune expired objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bulletin.api.errors import DeliveryError
from bulletin.api.storage import Encryption, Storage
from bulletin.deliver.retry import Permanent, Transient

if TYPE_CHECKING:
    from bulletin.deliver.netguard import NetPolicy


def run_prefix(namespace: str, name: str, when: datetime, run_id: str) -> str:
    """``<namespace>/<name>/<yyyy>/<mm>/<run>``: where a run's files go."""
    return f"{namespace}/{name}/{when:%Y}/{when:%m}/{run_id}"


def schedule_prefix(namespace: str, name: str) -> str:
    """Everything of one ReportSchedule, the scope of retention."""
    return f"{namespace}/{name}/"


def bound_endpoint(storage: Storage, credentials: Mapping[str, str], secret: str) -> str | None:
    """The endpoint the credentials may go to: the one their Secret names (key ``endpoint``),
    or AWS (None) when it names none. spec.delivery.storage.endpoint, if set, must be that
    same endpoint: a schedule cannot send another Secret's credentials to a server of its own.
    """
    named = (credentials.get("endpoint") or "").strip().rstrip("/") or None
    asked = storage.endpoint.rstrip("/") if storage.endpoint else None
    if asked is not None and asked != named:
        raise Permanent(
            f"spec.delivery.storage.endpoint: the credentials of Secret {secret!r} go only to"
            " the endpoint that Secret names in its key endpoint, and it names "
            + ("another" if named else "none (AWS S3)")
            + "; add or correct the key endpoint in the Secret, or drop spec's endpoint")
    return named


class ObjectStore:
    """A bucket, with credentials from the storage Secret (keys accessKeyId, secretAccessKey,
    optionally sessionToken, and endpoint: the only server they are sent to)."""

    def __init__(self, storage: Storage, credentials: Mapping[str, str], secret: str,
                 policy: NetPolicy | None = None) -> None:
        missing = [k for k in ("accessKeyId", "secretAccessKey") if not credentials.get(k)]
        if missing:
            raise Permanent(f"storage Secret {secret!r} is missing {', '.join(missing)}")
        self.endpoint = bound_endpoint(storage, credentials, secret)
        self.storage = storage
        self._credentials = dict(credentials)
        self._policy = policy  # the runner's: every request is checked against it
        self._client: Any = None

    @property
    def where(self) -> str:
        """Bucket and endpoint, for messages."""
        return f"s3://{self.storage.bucket} at {self.endpoint or 'AWS'}"

    @property
    def client(self) -> Any:
        """The boto3 S3 client (created on first use: boto3 is slow to import)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            path_style = self.storage.path_style
            if path_style is None:
                path_style = self.endpoint is not None
            config = Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if path_style else "auto"},
                # One try per call: delivery's own loop (deliver.retry) retries an upload, on
                # spec.delivery.retry, logged and in the ledger; retention tries again next run.
                retries={"mode": "standard", "total_max_attempts": 1},
                connect_timeout=10, read_timeout=60,
                # Checksums only where S3 requires them: many compatible servers reject others.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            )
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name=self.storage.region,
                aws_access_key_id=self._credentials["accessKeyId"],
                aws_secret_access_key=self._credentials["secretAccessKey"],
                aws_session_token=self._credentials.get("sessionToken") or None,
                config=config,
            )
            if self._policy is not None:
                from bulletin.deliver.netguard import guard_boto3

                guard_boto3(self._client, self._policy)
        return self._client

    def encryption_args(self) -> dict[str, str]:
        """The upload's server-side encryption parameters (spec encryption, Secret kmsKeyId)."""
        if self.storage.encryption is Encryption.SSE_S3:
            return {"ServerSideEncryption": "AES256"}
        if self.storage.encryption is Encryption.SSE_KMS:
            key_id = (self._credentials.get("kmsKeyId") or "").strip()
            return {"ServerSideEncryption": "aws:kms", **({"SSEKMSKeyId": key_id} if key_id
                                                          else {})}
        return {}

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Upload a file (multipart when large), encrypted by the server as spec asks."""
        try:
            self.client.upload_file(str(path), self.storage.bucket, key,
                                    ExtraArgs={"ContentType": content_type,
                                               **self.encryption_args()})
            found = self.client.head_object(Bucket=self.storage.bucket, Key=key).get(
                "ServerSideEncryption") if self.storage.encryption is not Encryption.NONE else None
        except Exception as exc:
            raise classify(exc, f"upload to {self.where}") from exc
        self._confirm(key, found)

    def _confirm(self, key: str, found: str | None) -> None:
        """Permanent, the object deleted, unless the server says it encrypted it as asked."""
        wanted = self.encryption_args().get("ServerSideEncryption")
        if wanted is None or found == wanted or (wanted == "aws:kms" and found == "aws:kms:dsse"):
            return
        try:
            self.client.delete_object(Bucket=self.storage.bucket, Key=key)
            gone = "it was deleted"
        except Exception:
            gone = "deleting it failed too: delete it by hand"
        raise Permanent(
            f"upload to {self.where}: the server did not confirm server-side encryption of"
            f" {PurePosixPath(key).name} (asked {wanted}, it answered"
            f" {found or 'no x-amz-server-side-encryption header'}), so {gone}; turn on"
            f" encryption on the server ({self.storage.encryption}), or set"
            " spec.delivery.storage.encryption: none to store unencrypted")

    def exists(self, key: str) -> bool:
        """Whether ``key`` is in the bucket."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.storage.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
                return False
            raise classify(exc, f"look up {key} in {self.where}") from exc
        except Exception as exc:
            raise classify(exc, f"look up {key} in {self.where}") from exc
        return True

    def presign(self, key: str, expires: int) -> str:
        """A presigned GET URL that downloads ``key`` as a file named like it."""
        filename = PurePosixPath(key).name
        return str(self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.storage.bucket, "Key": key,
                    "ResponseContentDisposition":
                        f"attachment; filename*=UTF-8''{quote(filename)}"},
            ExpiresIn=expires,
        ))

    def prune(self, prefix: str, cutoff: datetime) -> list[str]:
        """Delete objects under ``prefix`` last modified before ``cutoff``; their keys."""
        expired: list[str] = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.storage.bucket, Prefix=prefix)
            for page in pages:
                expired += [o["Key"] for o in page.get("Contents") or []
                            if o["LastModified"] < cutoff]
            for start in range(0, len(expired), 1000):
                batch = [{"Key": k} for k in expired[start:start + 1000]]
                result = self.client.delete_objects(
                    Bucket=self.storage.bucket, Delete={"Objects": batch, "Quiet": True})
                if result.get("Errors"):
                    first = result["Errors"][0]
                    raise Permanent(f"delete {first.get('Key')}: {first.get('Code')}")
        except DeliveryError:
            raise
        except Exception as exc:
            raise classify(exc, f"retention in {self.where}") from exc
        return expired


def classify(exc: BaseException, what: str) -> DeliveryError:
    """S3 5xx, throttling and connection errors are transient; other client errors permanent."""
    from botocore.exceptions import BotoCoreError, ClientError

    inner = getattr(exc, "kwargs", {}).get("error")  # botocore's HTTPClientError wraps it
    if isinstance(inner, DeliveryError):  # netguard.AddressRefused raised while connecting
        exc = inner
    if isinstance(exc, DeliveryError):  # e.g. netguard.AddressRefused
        return type(exc)(f"{what}: {exc}")
    if not isinstance(exc, ClientError) and isinstance(exc.__context__, ClientError):
        exc = exc.__context__  # boto3's S3UploadFailedError wraps the client error
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"{what}: {error.get('Code', 'error')} (HTTP {status})"
        if status >= 500 or status in (408, 429) or error.get("Code") in ("SlowDown",
                                                                         "RequestTimeout"):
            return Transient(message)
        return Permanent(message)
    if isinstance(exc, BotoCoreError | OSError):
        return Transient(f"{what}: {type(exc).__name__}: {exc}")
    return Permanent(f"{what}: {type(exc).__name__}: {exc}")
