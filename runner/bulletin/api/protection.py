"""Password-protected report files (spec.protection)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from bulletin.api.base import ApiModel
from bulletin.api.delivery import SecretKeyRef

NO_PASSWORD = ("spec.protection: set passwordSecretRef (or, with delivery.burst,"
               " burst.passwordColumn for a password per recipient)")
COLUMN_WITHOUT_PROTECTION = ("spec.delivery.burst.passwordColumn protects each recipient's files:"
                             " set spec.protection (with its instructions) too")
NOTHING_TO_PROTECT = ("spec.protection protects files: add csv, xlsx or pdf to spec.formats"
                      " (html is the message itself)")
# CEL rules of spec (admission), the same checks as protection_error.
PROTECTION_RULES: list[dict[str, Any]] = [
    {"rule": "!has(self.protection) || has(self.protection.passwordSecretRef)"
     " || (has(self.delivery.burst) && has(self.delivery.burst.passwordColumn))",
     "message": NO_PASSWORD},
    {"rule": "!has(self.delivery.burst) || !has(self.delivery.burst.passwordColumn)"
     " || has(self.protection)", "message": COLUMN_WITHOUT_PROTECTION},
    {"rule": "!has(self.protection) || !has(self.formats) || self.formats.exists(f, f != 'html')",
     "message": NOTHING_TO_PROTECT},
]


class Protection(ApiModel):
    """Every report file protected with a password: PDF with AES-256, XLSX with Office (ECMA-376
    agile) encryption, CSV inside an AES-256 ZIP. The message then holds none of the report's
    data (no tables, charts or KPIs, also not in webhooks and chat): it says the files are
    protected and how to get the password, in the owner's words. Archived and linked files are
    the protected ones."""

    password_secret_ref: Annotated[
        SecretKeyRef | None,
        Field(description="Secret key holding the password (the Secret must be labelled"
              " bulletin.dev/usable-by-reports=encryption). Optional with"
              " delivery.burst.passwordColumn, where it is the password of recipients whose"
              " column is empty."),
    ] = None
    instructions: Annotated[
        str,
        Field(min_length=1, max_length=2000, pattern=r"^[^\x00-\x09\x0b-\x1f\x7f]*$",
              description="How recipients get the password, out of band, e.g. \"Call the"
              " payroll desk on 555-0100 for this month's password.\"; shown in the message as"
              " written. Never put the password here."),
    ]


def protection_error(protection: Protection | None, password_column: str | None,
                     formats: list[str]) -> str | None:
    """What is wrong with spec.protection and burst.passwordColumn together, or None."""
    if protection is None:
        return COLUMN_WITHOUT_PROTECTION if password_column else None
    if protection.password_secret_ref is None and not password_column:
        return NO_PASSWORD
    return None if any(f != "html" for f in formats) else NOTHING_TO_PROTECT
