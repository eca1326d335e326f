"""kopf's record of the last handled configuration, as digests instead of a copy of the spec.

kopf keeps that record in an annotation, and all annotations of an object share 256 KiB: a
spec as large as the CRD allows (twenty 64 KiB queries) would not fit, every patch would fail
and kopf would retry forever. Our handlers need to know *that* the spec (or metadata) changed,
never how, so a digest per top-level stanza is enough for kopf's change detection and its
``field="spec"`` filters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, cast

import kopf


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """An annotations diff-base of a few dozen bytes, whatever the object's size."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None
              ) -> kopf.BodyEssence:
        """kopf's essence of ``body``, each top-level stanza replaced by its digest."""
        essence = super().build(body=body, extra_fields=extra_fields)
        digested = {key: {"digest": _digest(value)} for key, value in dict(essence).items()}
        return cast(kopf.BodyEssence, digested)
