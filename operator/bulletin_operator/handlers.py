"""The operator's kopf handlers (`kopf run -m bulletin_operator.handlers`), one module per
concern: start and stop (startup), reconcile (reconciling), run now (runrequests), the link
audit (linkaudit), the run archive (archiving) and the watchers of what schedules depend on
(watchers). Each handler validates into the model, builds with pure functions and applies
through the store. Importing them registers them with kopf, in this order."""

from __future__ import annotations

from bulletin_operator.settings import configure_logging

configure_logging()

from bulletin_operator import (  # noqa: E402,F401 - registers the handlers, logging first
    archiving,
    linkaudit,
    reconciling,
    runrequests,
    startup,
    watchers,
)
