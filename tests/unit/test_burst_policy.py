"""spec.delivery.burst at scale: its bounds, the administrator's burst policy, storage as a
burst target."""

from __future__ import annotations

from typing import Any

import kopf
import pytest
from bulletin.api.burst import BurstPolicy, policy_refusal
from bulletin.api.spec import ReportScheduleSpec
from bulletin_operator import settings
from pydantic import ValidationError

DATASETS = [{"name": "customers", "query": "SELECT email, id FROM customers"},
            {"name": "orders", "query": "SELECT * FROM orders WHERE customer = :id"}]
STORAGE = {"bucket": "statements", "credentialsSecretRef": {"name": "s3"}}


def _spec(delivery: dict[str, Any]) -> ReportScheduleSpec:
    return ReportScheduleSpec.model_validate({
        "schedule": {"cron": "0 9 * * MON"},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": DATASETS, "delivery": delivery})


def test_a_burst_takes_100000_recipients_over_shards() -> None:
    spec = _spec({"email": {"smtpSecretRef": {"name": "smtp"}},
                  "burst": {"dataset": "customers", "maxRecipients": 100_000, "shards": 20,
                            "parallelism": 4}})
    burst = spec.delivery.burst
    assert burst is not None and (burst.max_recipients, burst.shards, burst.parallelism) == (
        100_000, 20, 4)
    with pytest.raises(ValidationError, match="less than or equal to 100"):
        _spec({"email": {"smtpSecretRef": {"name": "smtp"}},
               "burst": {"dataset": "customers", "shards": 101}})


def test_storage_is_a_burst_target_alone_or_with_email() -> None:
    alone = _spec({"storage": STORAGE, "burst": {"dataset": "customers"}})
    assert alone.delivery.email is None and alone.delivery.storage is not None
    both = _spec({"email": {"smtpSecretRef": {"name": "smtp"}}, "storage": STORAGE,
                  "burst": {"dataset": "customers"}})
    assert both.delivery.storage is not None
    with pytest.raises(ValidationError, match="remove webhooks, slack and teams"):
        _spec({"storage": STORAGE, "burst": {"dataset": "customers"},
               "teams": {"webhookSecretRef": {"name": "t", "key": "url"}}})
    with pytest.raises(ValidationError, match="set at least one target"):
        _spec({"storage": STORAGE})  # storage alone is no target without a burst


def test_the_policy_names_the_field_and_the_fix() -> None:
    policy = BurstPolicy(max_shards=8, max_parallelism=2)
    fits = _spec({"storage": STORAGE, "burst": {"dataset": "customers", "shards": 8,
                                                "parallelism": 2}}).delivery.burst
    assert policy_refusal(fits, policy) is None and policy_refusal(None, policy) is None
    shards = _spec({"storage": STORAGE,
                    "burst": {"dataset": "customers", "shards": 9}}).delivery.burst
    assert policy_refusal(shards, policy) == (
        "spec.delivery.burst.shards: 9 is above the administrator's limit 8 (chart value"
        " burstPolicy.maxShards): lower shards to at most 8, or ask the administrator to"
        " raise the limit")
    wide = _spec({"storage": STORAGE, "burst": {"dataset": "customers", "shards": 8,
                                                "parallelism": 3}}).delivery.burst
    assert "burst.parallelism: 3 is above the administrator's limit 2 (chart value" \
           " burstPolicy.maxParallelism)" in str(policy_refusal(wide, policy))


def test_the_operator_reads_the_chart_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.BURST_POLICY, '{"maxShards": 3, "maxParallelism": 2}')
    settings.config.cache_clear()
    assert settings.config().burst_policy == BurstPolicy(max_shards=3, max_parallelism=2)
    monkeypatch.setenv(settings.BURST_POLICY, '{"maxShards": 0}')
    settings.config.cache_clear()
    with pytest.raises(kopf.PermanentError, match="chart value burstPolicy"):
        settings.config()
    monkeypatch.delenv(settings.BURST_POLICY)
    settings.config.cache_clear()
    assert settings.config().burst_policy == BurstPolicy()
