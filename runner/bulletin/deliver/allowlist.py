"""Recipient domain allowlists, set per operator and per namespace (both apply when both are set).

Each list is comma- or space-separated: ``example.com`` allows that domain only,
``*.example.com`` its subdomains. An unset or empty list allows everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bulletin.api.address import ADDRESS_HINT, is_plain_address
from bulletin.deliver.retry import Permanent
from bulletin.runconfig import RunConfig


def _matches(domain: str, entry: str) -> bool:
    if entry.startswith("*."):
        return domain.endswith(entry[1:])
    return domain == entry


def blocked(addresses: Iterable[str], config: RunConfig) -> list[str]:
    """The addresses whose domain some list in effect does not allow."""
    lists = [entries for entries in (config.allowed_domains, config.namespace_allowed_domains)
             if entries]
    out = []
    for address in addresses:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if not all(any(_matches(domain, e) for e in entries) for entries in lists):
            out.append(address)
    return out


def describe(config: RunConfig) -> str:
    """The lists in effect, for error messages."""
    parts = [f"{label}: {', '.join(entries)}"
             for label, entries in (("operator", config.allowed_domains),
                                    ("namespace", config.namespace_allowed_domains)) if entries]
    return "; ".join(parts)


def check(addresses: Sequence[str], config: RunConfig, where: str) -> None:
    """Permanent unless every address is a plain address the lists in effect allow; every
    address Bulletin sends to (reports, failure notices) passes through here first."""
    if bad := [a for a in addresses if not is_plain_address(a)]:
        raise Permanent(f"{where}: {', '.join(repr(a) for a in bad)} {ADDRESS_HINT};"
                        " nothing was sent")
    if refused := blocked(addresses, config):
        raise Permanent(f"{where}: recipients outside the allowed domains ({describe(config)}):"
                        f" {', '.join(refused)}; nothing was sent")
