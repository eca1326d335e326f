"""The SMTP Secret's keys reach the runner: what the pod env carries is what the sender reads."""

from __future__ import annotations

import pytest
from bulletin.api.podenv import delivery_env
from bulletin.deliver.email import Smtp
from bulletin.runconfig import RunConfig
from delivery_support import spec

SECRET = {"host": "mail.example.com", "port": "25", "security": "none", "username": "u",
          "password": "p", "from": "reports@example.com", "allowInsecureAuth": "true"}


def _kubelet_env(secret: dict[str, str]) -> dict[str, str]:
    """The env the kubelet would give the runner for a Secret with these keys."""
    env = delivery_env(spec({"email": {"to": ["a@example.com"],
                                       "smtpSecretRef": {"name": "smtp"}}}))
    out = {}
    for entry in env:
        ref = entry["valueFrom"]["secretKeyRef"]
        if ref["name"] == "smtp" and ref["key"] in secret:
            out[entry["name"]] = secret[ref["key"]]
    return out


def test_allow_insecure_auth_in_the_secret_reaches_the_sender() -> None:
    smtp = Smtp.of(RunConfig.from_env(_kubelet_env(SECRET)).smtp, "smtp")
    assert smtp.allow_insecure_auth
    smtp.check_auth()  # auth over plain SMTP is allowed because the Secret says so


def test_without_it_auth_over_plain_smtp_is_refused() -> None:
    secret = {k: v for k, v in SECRET.items() if k != "allowInsecureAuth"}
    smtp = Smtp.of(RunConfig.from_env(_kubelet_env(secret)).smtp, "smtp")
    assert not smtp.allow_insecure_auth
    with pytest.raises(Exception, match="allowInsecureAuth"):
        smtp.check_auth()
