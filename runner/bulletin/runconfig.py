"""A run's configuration: its pod env (bulletin.api.podenv), read once when the run starts and
passed down typed. Nothing below the entry point reads the environment itself."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from bulletin.api import podenv
from bulletin.api.errors import ConfigurationError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def entries(value: str | None) -> tuple[str, ...]:
    """The entries of a comma- or space-separated list, lower case."""
    return tuple(e.strip().lower() for e in (value or "").replace(",", " ").split() if e.strip())


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP connection settings, from the Secret named by spec.delivery.email.smtpSecretRef."""

    host: str
    port: int
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str | None = None

    @classmethod
    def of(cls, keys: Mapping[str, str]) -> SmtpSettings:
        """From the Secret's keys (host, port, security, username, password, from)."""
        host = keys.get("host")
        if not host:
            raise ConfigurationError("the SMTP Secret has no 'host' key; add host and port")
        security = keys.get("security", "starttls").lower()
        if security not in ("starttls", "tls", "none"):
            raise ConfigurationError("the SMTP Secret key 'security' must be starttls, tls or none")
        default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
        try:
            port = int(keys.get("port") or default_port)
        except ValueError as exc:
            raise ConfigurationError("the SMTP Secret key 'port' must be a number") from exc
        return cls(host=host, port=port, security=security,
                   username=keys.get("username") or None, password=keys.get("password") or None,
                   sender=keys.get("from") or None)


@dataclass(frozen=True)
class NetSettings:
    """The operator's network policy for outbound URLs (BULLETIN_ALLOW_PRIVATE_NETWORKS: CIDRs
    and host names that may be reached although not public; BULLETIN_ALLOWED_URL_HOSTS)."""

    networks: tuple[IPNetwork, ...] = ()
    private_hosts: tuple[str, ...] = ()
    url_hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, private: str | None, url_hosts: str | None) -> NetSettings:
        networks: list[IPNetwork] = []
        hosts: list[str] = []
        for entry in entries(private):
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.append(entry)
        return cls(tuple(networks), tuple(hosts), entries(url_hosts))


def _prefixed(env: Mapping[str, str], prefix: str) -> Mapping[str, str]:
    return MappingProxyType({k[len(prefix):]: v for k, v in env.items() if k.startswith(prefix)})


@dataclass(frozen=True)
class RunConfig:
    """Every setting of the run's pod: Secret values the operator mapped in, the operator's
    policies, and this pod's shard. ``values`` keeps the BULLETIN_* variables by name, for the
    per-target Secrets (webhooks, chat, Prometheus) and for redaction."""

    values: Mapping[str, str] = field(default_factory=dict)
    db_url: str = ""
    templates_dir: Path | None = None
    certificates_dir: Path | None = None
    onfailure_webhook: str | None = None
    protection_password: str | None = None
    smtp: Mapping[str, str] = field(default_factory=dict)  # the SMTP Secret's keys
    storage: Mapping[str, str] = field(default_factory=dict)  # the storage Secret's keys
    allowed_domains: tuple[str, ...] = ()
    namespace_allowed_domains: tuple[str, ...] = ()
    net: NetSettings = NetSettings()
    shard_index: str = ""  # JOB_COMPLETION_INDEX (bulletin.shards.Shard checks it)
    shard_count: str = ""
    job_uid: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunConfig:
        """Read the pod's env once (see bulletin.api.podenv for every variable)."""
        values = MappingProxyType({k: v for k, v in env.items()
                                   if k.startswith("BULLETIN_") or k == podenv.COMPLETION_INDEX})

        def path(var: str) -> Path | None:
            return Path(values[var]) if values.get(var) else None

        return cls(
            values=values,
            db_url=values.get(podenv.DB_URL, ""),
            templates_dir=path(podenv.TEMPLATES_DIR),
            certificates_dir=path(podenv.CERTIFICATES_DIR),
            onfailure_webhook=values.get(podenv.ONFAILURE_WEBHOOK) or None,
            protection_password=values.get(podenv.PROTECTION_PASSWORD) or None,
            smtp=_prefixed(values, podenv.SMTP_PREFIX),
            storage=_prefixed(values, podenv.S3_PREFIX),
            allowed_domains=entries(values.get(podenv.ALLOWED_DOMAINS)),
            namespace_allowed_domains=entries(values.get(podenv.NAMESPACE_ALLOWED_DOMAINS)),
            net=NetSettings.of(values.get(podenv.ALLOW_PRIVATE_NETWORKS),
                               values.get(podenv.ALLOWED_URL_HOSTS)),
            shard_index=values.get(podenv.COMPLETION_INDEX, ""),
            shard_count=values.get(podenv.BURST_SHARDS, ""),
            job_uid=values.get(podenv.JOB_UID, ""),
        )

    def secret(self, var: str) -> str | None:
        """The value of the Secret key mapped to variable ``var`` (None: missing or empty)."""
        return self.values.get(var) or None

    def secrets(self) -> list[str]:
        """Secret values this run holds, to be redacted from anything it writes."""
        from bulletin.redact import delivery_secrets, url_secrets

        secrets = [*url_secrets(self.db_url), *delivery_secrets(self.values)]
        return secrets + [s for s in (self.db_url, self.onfailure_webhook) if s]
