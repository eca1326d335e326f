"""The resource the operator's handlers watch, as kopf's decorators take it."""

from __future__ import annotations

from bulletin.api.spec import GROUP, PLURAL, VERSION

RESOURCE = (GROUP, VERSION, PLURAL)
RETRY_SECONDS = 5  # a request that met an API outage is tried again this soon (kopf: 60 s)
