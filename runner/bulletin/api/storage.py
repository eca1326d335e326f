"""S3-compatible object storage for the archive and links (spec.delivery.storage)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from bulletin.api.base import OBJECT_NAME, ApiModel


class SecretRef(ApiModel):
    """A Secret in the ReportSchedule's namespace."""

    name: Annotated[str, Field(min_length=1, max_length=253, pattern=OBJECT_NAME,
                               description="Secret name.")]


class Encryption(StrEnum):
    """Server-side encryption of every stored object (spec.delivery.storage.encryption)."""

    SSE_S3 = "sse-s3"
    SSE_KMS = "sse-kms"
    NONE = "none"


class Storage(ApiModel):
    """S3-compatible object storage for the archive and for links to large reports.

    Objects are stored as <namespace>/<name>/<yyyy>/<mm>/<runId>/<file>. Each run deletes this
    schedule's objects older than retentionDays.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.retentionDays == 0"
                    " || self.retentionDays * 86400 >= self.linkExpirySeconds",
                    "message": "spec.delivery.storage: links must not outlive the objects:"
                    " retentionDays * 86400 must be at least linkExpirySeconds",
                }
            ]
        }
    )

    endpoint: Annotated[
        str | None,
        Field(max_length=2048, pattern=r"^https?://",
              description="Endpoint URL, e.g. https://minio.storage.svc:9000; default the one"
              " the credentials Secret names (key endpoint), else AWS S3. If set, it must be"
              " the Secret's endpoint: credentials go only to the server their Secret names."),
    ] = None
    bucket: Annotated[
        str, Field(min_length=3, max_length=63, description="Bucket name (it must exist).")
    ]
    region: Annotated[
        str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
                   description="Region (default us-east-1).")
    ] = "us-east-1"
    path_style: Annotated[
        bool | None,
        Field(description="Path-style addressing (endpoint/bucket/key). Default: on when"
              " endpoint is set (MinIO and most self-hosted servers), off for AWS."),
    ] = None
    credentials_secret_ref: Annotated[
        SecretRef,
        Field(description="Secret with keys accessKeyId and secretAccessKey, optionally"
              " sessionToken, and endpoint (the S3 server's URL, e.g."
              " https://minio.storage.svc:9000; without it: AWS S3): the credentials are sent"
              " to that endpoint only; with encryption sse-kms optionally kmsKeyId (the KMS key"
              " id or ARN; without it the server's default key)."),
    ]
    encryption: Annotated[
        Encryption,
        Field(description="Server-side encryption the server must apply to every object:"
              " sse-s3 (default; AES-256 with the server's keys), sse-kms (a KMS key, kmsKeyId"
              " in the Secret) or none. Unless none, an object the server does not confirm"
              " as encrypted (its x-amz-server-side-encryption header) is deleted and the"
              " delivery fails."),
    ] = Encryption.SSE_S3
    archive: Annotated[
        bool,
        Field(description="Store every run's artifacts, not only those sent as links."),
    ] = False
    retention_days: Annotated[
        int,
        Field(ge=0, le=36500, description="Delete this schedule's objects older than this many"
              " days at the end of each run; 0 keeps them forever. Default 90."),
    ] = 90
    link_expiry_seconds: Annotated[
        int,
        Field(ge=60, le=604800, description="Lifetime of presigned links (default 7 days, the"
              " most S3 allows)."),
    ] = 604800
