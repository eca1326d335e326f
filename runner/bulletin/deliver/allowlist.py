"""Recipient domain allowlists, set per operator and per namespace (both apply when both are set).

Each list is comma- or space-separated: ``example.com`` allows that domain only,
``*.example.com`` its subdomains. An unset or empty list allows everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bulletin.api.address import ADDRESS_HINT, is_plain_address
from bulletin.api.podenv import ALLOWED_DOMAINS, NAMESPACE_ALLOWED_DOMAINS
from bulletin.deliver.retry import Permanent


def parse(value: str | None) -> list[str]:
    """The entries of one list, lower case."""
    return [d.strip().lower() for d in (value or "").replace(",", " ").split() if d.strip()]


def _matches(domain: str, entry: str) -> bool:
    if entry.startswith("*."):
        return domain.endswith(entry[1:])
    return domain == entry


def blocked(addresses: Iterable[str], env: Mapping[str, str]) -> list[str]:
    """The addresses whose domain some list in effect does not allow."""
    lists = [entries for entries in (parse(env.get(ALLOWED_DOMAINS)),
                                     parse(env.get(NAMESPACE_ALLOWED_DOMAINS))) if entries]
    out = []
    for address in addresses:
        domain = address.rpartition("@")[2].lower().rstrip(".")
        if not all(any(_matches(domain, e) for e in entries) for entries in lists):
            out.append(address)
    return out


def describe(env: Mapping[str, str]) -> str:
    """The lists in effect, for error messages."""
    parts = [f"{label}: {', '.join(parse(env.get(var)))}"
             for label, var in (("operator", ALLOWED_DOMAINS),
                                ("namespace", NAMESPACE_ALLOWED_DOMAINS)) if parse(env.get(var))]
    return "; ".join(parts)


def check(addresses: Sequence[str], env: Mapping[str, str], where: str) -> None:
    """Permanent unless every address is a plain address the lists in effect allow; every
    address Bulletin sends to (reports, failure notices) passes through here first."""
    if bad := [a for a in addresses if not is_plain_address(a)]:
        raise Permanent(f"{where}: {', '.join(repr(a) for a in bad)} {ADDRESS_HINT};"
                        " nothing was sent")
    if refused := blocked(addresses, env):
        raise Permanent(f"{where}: recipients outside the allowed domains ({describe(env)}):"
                        f" {', '.join(refused)}; nothing was sent")
