"""Email addresses as Bulletin accepts them: a bare addr-spec (``user@example.com``) that
survives a parse round trip unchanged. No display names, quotes, comments, lists, spaces or
line breaks: those are how a tenant would smuggle in a second recipient or a header."""

from __future__ import annotations

import re
from email.utils import parseaddr

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS_PATTERN = rf"^{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})*$"
ADDRESS_HINT = ("must be a plain address like user@example.com: no display name, quotes,"
                " comments, commas, spaces or line breaks")
_ADDRESS = re.compile(ADDRESS_PATTERN)


def is_plain_address(value: str) -> bool:
    """``value`` is a bare addr-spec that parses back to itself."""
    return (len(value) <= 254 and _ADDRESS.fullmatch(value) is not None
            and parseaddr(value) == ("", value))


def plain_address(value: str) -> str:
    """``value`` if it is a plain address; ValueError (with the fix) otherwise."""
    if not is_plain_address(value):
        raise ValueError(f"{value!r} {ADDRESS_HINT}")
    return value
