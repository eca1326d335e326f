"""The operator waits out an API outage inside a reconcile (apierrors.ride_out): short growing
waits, one log line when it begins and one when it ends, denials retried only just after one;
and the Lease timing it elects with (leadership.LeaseTiming)."""

from __future__ import annotations

import logging

import pytest
from bulletin_operator.apierrors import SETTLE_SECONDS, Outage, Rejected, ride_out
from bulletin_operator.settings import OperatorConfig
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def failing(*errors: BaseException) -> tuple[list[float], object]:
    calls: list[float] = []
    queue = list(errors)

    def call() -> str:
        calls.append(0.0)
        if queue:
            raise queue.pop(0)
        return "done"

    return calls, call


def test_an_outage_is_waited_out_with_growing_waits_and_two_log_lines(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage(clock)
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.sleep(seconds)

    errors = [ApiException(status=503)] * 3 + [ConnectionRefusedError()] * 5
    calls, call = failing(*errors)
    with caplog.at_level(logging.INFO, logger="bulletin_operator.apierrors"):
        assert ride_out(call, outage, sleep=sleep) == "done"  # type: ignore[arg-type]
        clock.sleep(Outage.QUIET_SECONDS)
        outage.passed()
        clock.sleep(60)
        calls2, call2 = failing(ApiException(status=500))
        assert ride_out(call2, outage, sleep=sleep) == "done"  # type: ignore[arg-type]
    assert len(calls) == 9 and len(calls2) == 2
    assert all(0.25 <= w <= 5.0 for w in waits) and max(waits[:3]) < 2.0 < max(waits)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3, lines  # two outages: each begins once, the first one ends
    assert lines[0].startswith("the API server does not answer (ApiException 503)")
    assert lines[1].startswith("the API server answers again, after")


def test_many_reconciles_in_one_outage_log_it_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage(clock)
    with caplog.at_level(logging.INFO, logger="bulletin_operator.apierrors"):
        for _ in range(200):  # stale pooled connections fail between successes: one outage
            outage.failed(ApiException(status=503))
            outage.passed()
            clock.sleep(0.5)
        clock.sleep(Outage.QUIET_SECONDS)
        outage.passed()
        outage.passed()
    assert len(caplog.records) == 2


def test_a_refusal_is_not_retried_and_an_outage_longer_than_the_limit_raises() -> None:
    clock = Clock()
    outage = Outage(clock)
    calls, call = failing(ApiException(status=422))
    with pytest.raises(ApiException):
        ride_out(call, outage, sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(calls) == 1
    calls, call = failing(*[ApiException(status=503)] * 100)
    with pytest.raises(ApiException):
        ride_out(call, outage, limit=20, sleep=clock.sleep)  # type: ignore[arg-type]
    assert 4 < len(calls) < 15


def test_a_denial_is_retried_only_while_an_outage_settles() -> None:
    clock = Clock()
    outage = Outage(clock)
    denied = Rejected("CronJob r was refused by the API server: forbidden", 403)
    calls, call = failing(denied)
    with pytest.raises(Rejected):  # no outage: a denial is an answer
        ride_out(call, outage, sleep=clock.sleep)  # type: ignore[arg-type]
    outage.failed(ConnectionResetError())
    calls, call = failing(ApiException(status=401), denied)
    assert ride_out(call, outage, sleep=clock.sleep) == "done"  # type: ignore[arg-type]
    assert len(calls) == 3
    clock.sleep(Outage.QUIET_SECONDS)
    outage.passed()  # the outage ends
    clock.sleep(SETTLE_SECONDS + 1)
    calls, call = failing(denied)
    with pytest.raises(Rejected):
        ride_out(call, outage, sleep=clock.sleep)  # type: ignore[arg-type]


def test_a_terminating_namespace_is_never_retried() -> None:
    clock = Clock()
    outage = Outage(clock)
    outage.failed(ConnectionResetError())
    gone = ApiException(status=403)
    gone.body = '{"message": "namespace x is being terminated"}'
    calls, call = failing(gone)
    with pytest.raises(ApiException):
        ride_out(call, outage, sleep=clock.sleep)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_lease_timing_reads_the_charts_values_and_refuses_an_unsafe_order() -> None:
    default = OperatorConfig.from_env({}).lease_timing
    assert (default.lease, default.renew_deadline, default.retry) == (6, 4.0, 1.0)
    assert default.timeout[1] <= default.renew_deadline / 2
    timing = {"BULLETIN_LEADER_ELECTION_TIMING": '{"leaseDurationSeconds": 15,'
              ' "renewDeadlineSeconds": 10, "retryPeriodSeconds": 2}'}
    assert OperatorConfig.from_env(timing).lease_timing.lease == 15
    unsafe = {"BULLETIN_LEADER_ELECTION_TIMING": '{"leaseDurationSeconds": 4,'
              ' "renewDeadlineSeconds": 5, "retryPeriodSeconds": 1}'}
    with pytest.raises(ValidationError, match="two replicas could act at once"):
        OperatorConfig.from_env(unsafe)
