"""RunConfig: the runner pod's env, read once at start into typed settings."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from bulletin.context import RunContext
from bulletin.deliver.email import Smtp
from bulletin.deliver.retry import Permanent
from bulletin.runconfig import NetSettings, RunConfig

ENV = {
    "BULLETIN_NAMESPACE": "analytics", "BULLETIN_SCHEDULE": "weekly",
    "BULLETIN_RUN_ID": "weekly-29000000",
    "BULLETIN_DB_URL": "postgresql://reports:s3cret-pw@db/app",
    "BULLETIN_TEMPLATES_DIR": "/etc/bulletin/templates",
    "BULLETIN_SMTP_host": "mail.example.com", "BULLETIN_SMTP_port": "2525",
    "BULLETIN_SMTP_password": "smtp-pass-1",
    "BULLETIN_S3_accessKeyId": "AKIA1", "BULLETIN_S3_secretAccessKey": "s3-secret-1",
    "BULLETIN_ALLOWED_DOMAINS": "Example.com, *.corp.example",
    "BULLETIN_ALLOW_PRIVATE_NETWORKS": "10.0.0.0/8 minio.storage.svc",
    "BULLETIN_ALLOWED_URL_HOSTS": "hooks.slack.com",
    "BULLETIN_SLACK_URL": "https://hooks.slack.com/services/T0/B0/xyz123",
    "JOB_COMPLETION_INDEX": "1", "BULLETIN_BURST_SHARDS": "3",
    "HOME": "/root", "AWS_SECRET_ACCESS_KEY": "not-ours",
}


def test_the_pod_env_becomes_typed_settings() -> None:
    config = RunContext.from_env(ENV).config
    assert config.db_url == ENV["BULLETIN_DB_URL"]
    assert config.templates_dir == Path("/etc/bulletin/templates")
    assert config.certificates_dir is None and config.onfailure_webhook is None
    assert dict(config.smtp) == {"host": "mail.example.com", "port": "2525",
                                 "password": "smtp-pass-1"}
    assert dict(config.storage) == {"accessKeyId": "AKIA1", "secretAccessKey": "s3-secret-1"}
    assert config.allowed_domains == ("example.com", "*.corp.example")
    assert config.net == NetSettings((ipaddress.ip_network("10.0.0.0/8"),),
                                     ("minio.storage.svc",), ("hooks.slack.com",))
    assert (config.shard_index, config.shard_count) == ("1", "3")
    assert "HOME" not in config.values and "AWS_SECRET_ACCESS_KEY" not in config.values
    assert config.secret("BULLETIN_SLACK_URL") == ENV["BULLETIN_SLACK_URL"]
    assert config.secret("BULLETIN_TEAMS_URL") is None


def test_its_secrets_are_every_value_to_redact() -> None:
    secrets = RunConfig.from_env(ENV).secrets()
    for value in ("s3cret-pw", ENV["BULLETIN_DB_URL"], "smtp-pass-1", "s3-secret-1",
                  ENV["BULLETIN_SLACK_URL"]):
        assert value in secrets
    assert "not-ours" not in secrets


def test_smtp_settings_fail_only_the_email_target() -> None:
    assert Smtp.of(RunConfig.from_env(ENV).smtp, "smtp").settings.port == 2525
    with pytest.raises(Permanent, match="SMTP Secret 'smtp' is missing or empty"):
        Smtp.of(RunConfig().smtp, "smtp")
    with pytest.raises(Permanent, match="SMTP Secret 'smtp': the SMTP Secret has no 'host'"):
        Smtp.of({"port": "25"}, "smtp")
