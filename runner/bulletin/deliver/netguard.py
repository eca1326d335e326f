"""Outbound connections to tenant-supplied URLs (webhooks, Slack, Teams, failure webhooks,
storage endpoints) reach public addresses only, unless the operator allows more.

Every address a host name resolves to is checked, and HTTP connects to the checked address
itself (no second lookup, so no DNS-rebinding window); S3 connections likewise. Two operator
settings, passed to runner pods as environment variables:

- ``BULLETIN_ALLOW_PRIVATE_NETWORKS``: CIDRs (``10.0.0.0/8``) and host names (``minio.storage.svc``,
  ``*.corp.example``) that may be reached although not public;
- ``BULLETIN_ALLOWED_URL_HOSTS``: if set, the only hosts webhook, Slack and Teams URLs may name
  (``hooks.slack.com``, ``*.webhook.office.com``).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bulletin.api.podenv import ALLOW_PRIVATE_NETWORKS, ALLOWED_URL_HOSTS
from bulletin.deliver.retry import Permanent
from bulletin.runconfig import IPNetwork, RunConfig

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class AddressRefused(Permanent):
    """A connection the network policy does not allow; nothing was sent."""


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    """``host`` is one of ``patterns`` (``example.com``) or under a ``*.example.com`` one."""
    host = host.lower().rstrip(".")
    return any(host.endswith(p[1:]) if p.startswith("*.") else host == p for p in patterns)


def why_not_public(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public address (None when it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (e.g. the cloud metadata service)"),
        (ip.is_multicast, "a multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "a shared (CGNAT) address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"),
         "a unique-local address"),
        (ip.is_private, "a private address"),
        (not ip.is_global, "a reserved, non-public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


@dataclass(frozen=True)
class NetPolicy:
    """Which hosts and addresses outbound connections may reach."""

    networks: tuple[IPNetwork, ...] = ()
    private_hosts: tuple[str, ...] = ()
    url_hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: RunConfig) -> NetPolicy:
        """The policy set by the operator (see the module docstring), as the run read it."""
        return cls(config.net.networks, config.net.private_hosts, config.net.url_hosts)

    def check_url_host(self, host: str) -> None:
        """AddressRefused unless the operator's URL host allowlist (if any) names ``host``."""
        if self.url_hosts and not host_matches(host, self.url_hosts):
            raise AddressRefused(f"host {host} is not in the operator's allowed URL hosts"
                          f" ({', '.join(self.url_hosts)}; {ALLOWED_URL_HOSTS}); nothing was sent")

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, every one checked; AddressRefused if any is not allowed."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise AddressRefused(f"host {host} does not resolve ({exc.strerror})") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if host_matches(host, self.private_hosts):
            return addresses
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            reason = why_not_public(ip)
            if reason and not any(ip.version == n.version and ip in n for n in self.networks):
                raise AddressRefused(
                    f"host {host} resolves to {address}, {reason}; refused (the"
                    f" operator can allow it with {ALLOW_PRIVATE_NETWORKS}); nothing was sent")
        return addresses


def guarded_client(config: RunConfig) -> Any:
    """An httpx Client whose every connection goes through ``NetPolicy.of(config)``:
    resolved once, checked, and connected to the checked address. No proxies from the
    environment (a proxy would make the check moot)."""
    import httpcore
    import httpx

    policy = NetPolicy.of(config)

    class _Backend(httpcore.SyncBackend):
        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None,
                        socket_options: Iterable[Any] | None = None) -> Any:
            policy.check_url_host(host)
            error: Exception | None = None
            for address in policy.resolve(host, port):
                try:
                    return super().connect_tcp(address, port, timeout, local_address,
                                               socket_options)
                except httpcore.ConnectError as exc:
                    error = exc
            raise error or httpcore.ConnectError(f"no address for {host}")

    # httpcore's ConnectionPool takes a network_backend publicly, but httpx's HTTPTransport
    # builds its pool without passing one, and the public alternative, a whole BaseTransport,
    # would copy httpx's request and response mapping. So the pool's backend is set here, and
    # the assert fails loudly (a unit test runs it) if a new httpcore renames it.
    transport = httpx.HTTPTransport(trust_env=False)
    pool = transport._pool
    assert hasattr(pool, "_network_backend"), "httpcore changed: cannot guard connections"
    pool._network_backend = _Backend()
    return httpx.Client(transport=transport, trust_env=False, follow_redirects=False)


def guard_boto3(client: Any, policy: NetPolicy) -> None:
    """Keep ``client`` (boto3) to the addresses the policy allows: every new connection
    resolves its host once, checks each address and connects to a checked one, so neither a
    non-public address nor a DNS answer that changes after the check (rebinding) is reached.
    A refusal surfaces as AddressRefused (bulletin.deliver.storage.classify unwraps botocore's)."""
    session = client._endpoint.http_session
    assert hasattr(session, "_manager") and hasattr(session, "_pool_classes_by_scheme"), (
        "botocore changed: cannot guard connections")
    pools = {scheme: _pinned_pool(pool, policy)
             for scheme, pool in session._pool_classes_by_scheme.items()}
    session._pool_classes_by_scheme = pools
    session._manager.pool_classes_by_scheme = pools


def _pinned_pool(pool: type, policy: NetPolicy) -> type:
    """``pool`` (a urllib3 connection pool class) whose connections go to checked addresses;
    TLS still verifies the certificate against the host name."""
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    class Pinned(pool.ConnectionCls):  # type: ignore[name-defined]
        def _new_conn(self) -> Any:
            error: Exception | None = None
            for address in policy.resolve(self.host, self.port):
                self._dns_host = address  # urllib3 connects here; SNI stays self.host
                try:
                    return super()._new_conn()
                except (NewConnectionError, ConnectTimeoutError) as exc:
                    error = exc
            raise error or NewConnectionError(self, f"no address for {self.host}")

    return type(pool.__name__, (pool,), {"ConnectionCls": Pinned})
