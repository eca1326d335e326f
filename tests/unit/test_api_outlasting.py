"""The runner's API calls outlast an API server restart, and still fail on a real denial."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from bulletin.api.gateway import OUTAGE_SECONDS, SETTLE_SECONDS, outlasting
from kubernetes.client.exceptions import ApiException


class FakeTime:
    """A clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def clock(self) -> float:
        return self.now


def failing(statuses: list[int | None]) -> Callable[[], str]:
    """A call that raises ApiException with each status in turn, then answers "ok"."""
    remaining = list(statuses)

    def call() -> str:
        if remaining:
            raise ApiException(status=remaining.pop(0), reason="x")
        return "ok"
    return call


def run(call: Callable[[], str], t: FakeTime) -> str:
    return outlasting("test", call, sleep=t.sleep, clock=t.clock)


def test_forbidden_right_after_a_restart_is_retried_until_rbac_has_synced() -> None:
    # the restarted API server: connection refused, then 503, then 403 until its caches sync
    t = FakeTime()
    assert run(failing([None, 503, 403, 403, 401]), t) == "ok"


def test_a_denial_that_persists_fails_after_the_settle_window() -> None:
    t = FakeTime()
    with pytest.raises(ApiException) as err:
        run(failing([403] * 1000), t)
    assert err.value.status == 403
    assert SETTLE_SECONDS - 10 <= t.now <= SETTLE_SECONDS


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_errors_a_retry_cannot_fix_are_raised_at_once(status: int) -> None:
    t = FakeTime()
    with pytest.raises(ApiException):
        run(failing([status, 503]), t)
    assert t.now == 0


def test_an_outage_longer_than_the_limit_is_given_up() -> None:
    t = FakeTime()
    with pytest.raises(ApiException) as err:
        run(failing([503] * 10_000), t)
    assert err.value.status == 503
    assert OUTAGE_SECONDS - 10 <= t.now <= OUTAGE_SECONDS
