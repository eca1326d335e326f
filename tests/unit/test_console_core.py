"""The console's pure parts: a schedule in words, statistics, the small chart, CSRF, who a
request names, and what a delivery target shows (no secret, no URL path)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from bulletin.api.calendar import ReportCalendarSpec, compile_calendar
from bulletin.api.schedule import PeriodConfig, PeriodKind, Schedule
from bulletin.api.spec import ReportScheduleSpec
from bulletin.console import csrf, stats, views
from bulletin.console.access import Access, Unauthenticated
from bulletin.console.reads import days_off_between
from bulletin.console.words import in_words

NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("schedule", "kind", "period", "text"), [
    ({"weekly": {"days": ["MON"], "at": "09:00"}, "timeZone": "Europe/Berlin"},
     PeriodKind.PREVIOUS_WEEK, None,
     "every Monday at 09:00 Europe/Berlin, for the previous week"),
    ({"weekly": {"days": ["THU", "MON"], "at": "07:30"}}, PeriodKind.PREVIOUS_DAY, None,
     "every Monday and Thursday at 07:30 UTC, for the previous day"),
    ({"daily": {"at": "06:00"}, "weekdaysOnly": True, "calendarRef": {"name": "de"}},
     PeriodKind.PREVIOUS_DAY, None,
     "every day at 06:00 UTC; weekdays only; skipping the days off of calendar de,"
     " for the previous day"),
    ({"monthly": {"lastDay": True, "at": "18:00"}, "timeZone": "America/New_York"},
     PeriodKind.PREVIOUS_MONTH, None,
     "on the last day of every month at 18:00 America/New_York, for the previous month"),
    ({"monthly": {"weekday": "TUE", "occurrence": "Second", "at": "08:00"}},
     PeriodKind.TRAILING_DAYS, {"kind": "TrailingDays", "days": 7},
     "on the second Tuesday of every month at 08:00 UTC, for the 7 days before the run's day"),
    ({"monthly": {"day": 31, "at": "08:00"}, "skipDates": ["2026-12-31"]},
     PeriodKind.PREVIOUS_MONTH, {"kind": "PreviousMonth", "offset": 2},
     "on day 31 of every month at 08:00 UTC; skipping 1 date, for the previous month,"
     " 2 months further back"),
    ({"cron": "0 9 * * 1-5", "timeZone": "Asia/Tokyo"}, PeriodKind.SINCE_LAST_SUCCESS, None,
     "on the cron schedule \u201c0 9 * * 1-5\u201d Asia/Tokyo, for the time since the last"
     " successful run"),
])
def test_a_schedule_in_words(schedule, kind, period, text) -> None:
    configured = PeriodConfig.model_validate(period) if period else None
    assert in_words(Schedule.model_validate(schedule), kind, configured) == text


def _run(run_id: str, start: datetime, seconds: float | None, result: str | None,
         rows: int = 0, size: int = 0) -> dict:
    entry = {"runId": run_id, "trigger": "Scheduled", "startTime": start.isoformat(),
             "rows": rows, "bytes": size}
    if seconds is not None:
        entry["endTime"] = (start + timedelta(seconds=seconds)).isoformat()
    if result:
        entry["result"] = result
    return entry


def _obj(namespace: str, name: str, history: list[dict], **spec) -> dict:
    return {"metadata": {"namespace": namespace, "name": name, "labels": {"owner": "ana"}},
            "spec": spec, "status": {"history": history, "lastRun": history[0] if history
                                     else None}}


OBJS = [
    _obj("a", "weekly", [
        _run("w3", NOW - timedelta(days=1), 30, "Succeeded", 10, 1000),
        _run("w2", NOW - timedelta(days=8), 90, "Failed"),
        _run("w1", NOW - timedelta(days=40), 60, "Succeeded", 5, 500),
        {"runId": "broken"},  # does not parse: left out
    ]),
    _obj("a", "daily", [_run("d2", NOW - timedelta(hours=2), None, None),
                        _run("d1", NOW - timedelta(days=2), 10, "Skipped")]),
    _obj("b", "other", [_run("o1", NOW - timedelta(days=3), 20, "PartiallyDelivered", 7, 70)]),
]


def test_statistics_per_schedule_and_namespace_over_a_window() -> None:
    runs = stats.within(stats.runs_of(OBJS), NOW, 7)
    per_schedule = {s.key: s for s in stats.grouped(runs, by_namespace=False)}
    assert sorted(per_schedule) == ["a/daily", "a/weekly", "b/other"]
    weekly = per_schedule["a/weekly"]
    assert (weekly.runs, weekly.succeeded, weekly.failed, weekly.rows, weekly.bytes) == (
        1, 1, 0, 10, 1000)
    daily = per_schedule["a/daily"]
    assert (daily.runs, daily.skipped, daily.success_rate, daily.median_seconds) == (
        2, 1, None, 10)
    per_namespace = {s.key: s for s in stats.grouped(runs, by_namespace=True)}
    assert per_namespace["a"].runs == 3 and per_namespace["b"].success_rate == 0.0
    month = stats.summarize("all", stats.within(stats.runs_of(OBJS), NOW, 30))
    assert (month.runs, month.succeeded, month.failed) == (5, 1, 2)
    assert month.success_rate == pytest.approx(1 / 3)
    assert (month.median_seconds, month.max_seconds) == (25, 90)
    assert stats.summarize("all", stats.within(stats.runs_of(OBJS), NOW, 90)).runs == 6
    assert stats.oldest(stats.runs_of(OBJS)) == NOW - timedelta(days=40)


def test_figures_read_as_people_read_them() -> None:
    assert [stats.percent(x) for x in (None, 1.0, 1 / 3)] == ["\u2014", "100.0%", "33.3%"]
    assert [stats.size(x) for x in (0, 512, 2048, 3 * 1024**2, 5 * 1024**4)] == [
        "0 B", "512 B", "2.0 KiB", "3.0 MiB", "5120.0 GiB"]


def test_the_schedules_rows_filter_by_state_and_carry_a_chart() -> None:
    suspended = _obj("a", "paused", [], suspend=True)
    rows = views.rows([*OBJS, suspended], NOW, "owner").rows
    assert [(r.namespace, r.name, r.state) for r in rows] == [
        ("a", "daily", "NotReady"), ("a", "paused", "Suspended"), ("a", "weekly", "NotReady"),
        ("b", "other", "NotReady")]
    weekly = rows[2]
    assert (weekly.owner, weekly.last_result, weekly.last_run) == ("ana", "Succeeded", "24h")
    assert [b.css for b in weekly.chart] == ["good", "bad", "good"]  # oldest first
    assert weekly.chart[1].height == 22 and weekly.chart[1].y == 2  # the longest, full height
    assert weekly.chart[2].dot_y == 1  # the most rows, at the top
    assert "durations up to 90s, rows up to 10" in weekly.chart_label
    assert [r.name for r in views.rows([*OBJS, suspended], NOW, "owner", "Suspended").rows] == [
        "paused"]
    assert rows[1].next_run == "\u2014" and views.chart([])[1] == "no runs yet"


def test_targets_never_show_a_secret_or_a_webhook_path() -> None:
    spec = ReportScheduleSpec.model_validate({
        "schedule": {"daily": {"at": "09:00"}},
        "source": {"connectionSecretRef": {"name": "db", "key": "url"}},
        "datasets": [{"name": "main", "query": "select 1"}],
        "delivery": {"email": {"smtpSecretRef": {"name": "smtp"}, "to": ["a@example.com"],
                               "bcc": ["b@example.com"]},
                     "webhooks": [{"name": "hook",
                                   "url": "https://user:pw@hooks.example.com/T0/secret?k=1"}]}})
    shown = views.targets(spec)
    assert shown == [("email", "a@example.com (+1 bcc)"),
                     ("webhook/hook", "https://hooks.example.com")]
    assert "secret" not in repr(shown) and "pw" not in repr(shown)


def test_csrf_tokens_belong_to_their_browser() -> None:
    secret, other = b"k" * 32, b"x" * 32
    session = csrf.new_session()
    token = csrf.token_for(secret, session)
    assert csrf.valid(secret, session, token)
    assert not csrf.valid(secret, csrf.new_session(), token)
    assert not csrf.valid(other, session, token)
    assert not csrf.valid(secret, None, token) and not csrf.valid(secret, session, None)
    assert csrf.same_origin(None, "h:1", "http")
    assert csrf.same_origin("http://h:1", "h:1", "http")
    assert not csrf.same_origin("http://evil.example", "h:1", "http")


def test_who_a_request_names_in_each_mode() -> None:
    local = Access("local", local_token="abc")
    assert local.identify({}, {"bulletin_console": "abc"}).user is None
    assert local.identify({}, {}, "abc").user is None
    with pytest.raises(Unauthenticated):
        local.identify({}, {"bulletin_console": "abd"})
    token = Access("token")
    assert token.identify({"authorization": "Bearer t1"}, {}).secret == "t1"
    assert token.identify({}, {"bulletin_token": "t2"}).secret == "t2"
    assert "t2" not in repr(token.identify({}, {"bulletin_token": "t2"}))
    with pytest.raises(Unauthenticated):
        token.identify({}, {})
    header = Access("header")
    who = header.identify({"x-forwarded-user": "ana", "x-forwarded-groups": "team-a, dev"}, {})
    assert (who.user, who.groups, who.email) == ("ana", ("team-a", "dev"), None)
    assert header.identify({"x-forwarded-user": "ana", "x-forwarded-email": "ana@example.com"},
                           {}).email == "ana@example.com"
    smuggled = "ana@example.com, boss@example.com"  # never a list, never a display name
    assert header.identify({"x-forwarded-user": "ana", "x-forwarded-email": smuggled},
                           {}).email is None
    with pytest.raises(Unauthenticated):
        header.identify({"x-forwarded-groups": "system:masters"}, {})
    from starlette.datastructures import Headers

    repeated = Headers(raw=[(b"x-forwarded-user", b"ana"), (b"x-forwarded-groups", b"a,b"),
                            (b"x-forwarded-groups", b"c")])
    assert header.identify(repeated, {}).groups == ("a", "b", "c")


def test_the_schedules_come_in_pages_in_namespace_and_name_order() -> None:
    objs = [_obj(f"ns{n % 3}", f"s{n:03d}", []) for n in range(250)]
    first = views.rows(objs, NOW, "owner", per_page=100)
    assert (first.total, first.first, first.previous, first.next) == (250, 0, None, 2)
    assert [r.name for r in first.rows[:2]] == ["s000", "s003"]  # ns0 first
    last = views.rows(objs, NOW, "owner", page=3, per_page=100)
    assert (len(last.rows), last.first, last.previous, last.next) == (50, 200, 2, None)
    beyond = views.rows(objs, NOW, "owner", page=9, per_page=100)
    assert beyond.first == 200  # the last page, not an empty one
    suspended = views.rows([*objs, _obj("ns9", "x", [], suspend=True)], NOW, "owner",
                           "Suspended")
    assert (suspended.total, [r.name for r in suspended.rows]) == (1, ["x"])


def test_the_days_off_on_the_way_to_the_next_runs() -> None:
    calendar = compile_calendar("us", ReportCalendarSpec.model_validate(
        {"holidays": ["12-25", "2026-12-31"]}))
    found = days_off_between({"us": calendar}, ["2026-12-24", "2027-02-01"],
                             date(2026, 12, 20), date(2027, 1, 4))
    assert found == ["2026-12-24 is in skipDates",
                     "12-25 is a yearly holiday in ReportCalendar 'us'",
                     "2026-12-31 is a holiday in ReportCalendar 'us'"]
