"""kopf tuning: object workers bounded by the handler threads, listing in pages."""

from __future__ import annotations

import kopf
import pytest
from bulletin_operator.settings import WORKER_SLOTS, config, configure


def test_object_workers_are_bounded_by_the_handler_threads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BULLETIN_WORKERS", "7")
    config.cache_clear()  # a new start: the configuration is read once
    settings = kopf.OperatorSettings()
    configure(settings)
    assert settings.execution.max_workers == 7
    assert settings.queueing.worker_limit == 7 * WORKER_SLOTS
    assert settings.queueing.idle_timeout < 1
    assert settings.watching.chunk_size == 500
    monkeypatch.delenv("BULLETIN_WORKERS")
    config.cache_clear()
