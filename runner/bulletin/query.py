"""Run a dataset's SQL with the period as bound parameters, streaming rows.

Queries are tenant input. First, sqlguard refuses anything but one read-only query, before
connecting. Then every query runs read-only (PostgreSQL: the session's
default_transaction_read_only, and SET TRANSACTION READ ONLY; MySQL/MariaDB: SET SESSION
TRANSACTION READ ONLY; SQLite: PRAGMA query_only; other databases: SET TRANSACTION READ ONLY),
under a statement timeout the server enforces itself (PostgreSQL statement_timeout, MariaDB
max_statement_time, MySQL MAX_EXECUTION_TIME) and a connect timeout. And a watchdog
(querycancel) cancels it from outside its session once the timeout has passed, from the execute
to the last row read, whatever the session did to its own settings.

MySQL and MariaDB URLs without a driver (mysql://, mariadb://) use PyMySQL, the driver the runner
image carries. Their session time zone is the schedule's when the server has the zone's rules
(its time zone tables), else the zone's UTC offset at the start of the period.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import NullPool

from bulletin import querycancel, sqlguard
from bulletin.api.errors import SourceError

FETCH_ROWS = 2000
_READ_ONLY = "25006"  # read_only_sql_transaction
_CANCELED = "57014"  # query_canceled (statement_timeout)


class QueryError(SourceError):
    """The database refused or failed the query; the message is the database's."""


class QueryRefused(QueryError):
    """Bulletin refused the query before running it (sqlguard): not one read-only query."""


@dataclass(frozen=True)
class QueryLimits:
    """Timeouts of one query, in seconds (spec.source)."""

    statement_timeout: int = 300
    connect_timeout: int = 10

    @classmethod
    def of(cls, source: Any) -> QueryLimits:
        """The limits set in spec.source."""
        return cls(source.statement_timeout_seconds, source.connect_timeout_seconds)


@dataclass
class Rows:
    """A streamed result: column names and an iterator of row tuples."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


# The driver of a URL that names none: the one the runner image installs.
DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
           "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
_MYSQL_TIMEOUTS = (1969, 3024)  # MariaDB max_statement_time, MySQL MAX_EXECUTION_TIME
_UNKNOWN_ZONE = 1298  # Unknown or incorrect time zone


def _engine_url(url: str) -> Any:
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message quotes the URL, password and all
        raise QueryError("the database URL (spec.source.connectionSecretRef) is not a URL"
                         " SQLAlchemy can read, e.g. postgresql://user:password@host:5432/db"
                         " (its value is not shown)") from None
    if parsed.drivername in DRIVERS:
        parsed = parsed.set(drivername=DRIVERS[parsed.drivername])
    return parsed


def _engine(url: str, time_zone: str, limits: QueryLimits) -> Any:
    parsed = _engine_url(url)
    backend = parsed.get_backend_name()
    connect_args: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["options"] = (
            f"-c TimeZone={time_zone} -c default_transaction_read_only=on"
            f" -c statement_timeout={limits.statement_timeout * 1000}")
        connect_args["connect_timeout"] = limits.connect_timeout
    elif backend in ("mysql", "mariadb"):
        connect_args["connect_timeout"] = limits.connect_timeout
    elif backend == "sqlite":
        connect_args["timeout"] = limits.connect_timeout
    try:
        engine = create_engine(parsed, connect_args=connect_args, poolclass=NullPool)
    except NoSuchModuleError:
        raise QueryError(f"the database URL (spec.source.connectionSecretRef) is a"
                         f" {parsed.drivername}:// URL, which the runner has no driver for: use"
                         " postgresql://, mysql:// or mariadb://") from None
    if backend == "sqlite":
        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA query_only = ON")
    return engine


def _read_only(conn: Connection, backend: str, limits: QueryLimits) -> None:
    """Make the transaction the query runs in read-only (and time-limited where the
    database only takes that per session)."""
    if backend in ("mysql", "mariadb"):
        if getattr(conn.dialect, "is_mariadb", False):
            conn.execute(text(f"SET SESSION max_statement_time={limits.statement_timeout}"))
        else:
            conn.execute(text(f"SET SESSION MAX_EXECUTION_TIME={limits.statement_timeout * 1000}"))
        conn.execute(text("SET SESSION TRANSACTION READ ONLY"))
    elif backend != "sqlite":
        conn.execute(text("SET TRANSACTION READ ONLY"))


def _mysql_time_zone(conn: Connection, time_zone: str, params: Mapping[str, Any]) -> None:
    """The schedule's zone as the session's, so TIMESTAMP columns read as local times like the
    bound period (which the driver sends as local wall-clock times); a server without the
    zone's rules gets the zone's UTC offset at the period start."""
    try:
        conn.execute(text("SET time_zone = :zone"), {"zone": time_zone})
        return
    except Exception as exc:
        if getattr(getattr(exc, "orig", None), "args", (None,))[0] != _UNKNOWN_ZONE:
            raise
    conn.rollback()
    start = params.get("period_start")
    now = start if isinstance(start, datetime) else datetime.now(UTC)
    offset = (now.astimezone(ZoneInfo(time_zone)).utcoffset() or timedelta()) // timedelta(
        minutes=1)
    sign = "-" if offset < 0 else "+"
    conn.execute(text("SET time_zone = :zone"),
                 {"zone": f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"})


@contextmanager
def run_query(url: str, sql: str, params: Mapping[str, Any], time_zone: str,
              limits: QueryLimits | None = None) -> Iterator[Rows]:
    """Execute ``sql`` read-only within ``limits``; the session time zone is the schedule's,
    so dates compare locally."""
    limits = limits or QueryLimits()
    engine = _engine(url, time_zone, limits)
    backend = engine.dialect.name
    try:
        sqlguard.check(sql, backend)
    except sqlguard.UnsafeQuery as exc:
        engine.dispose()
        raise QueryRefused(str(exc)) from exc
    in_body = False  # an exception of the caller's own passes through as it is
    try:
        with engine.connect() as conn:
            try:
                if backend in ("mysql", "mariadb"):
                    _mysql_time_zone(conn, time_zone, params)
                _read_only(conn, backend, limits)
                watchdog = querycancel.watchdog(engine, conn, limits.statement_timeout,
                                                limits.connect_timeout)
            except Exception as exc:  # the driver's own exception types vary by database
                raise QueryError(_db_message(exc, limits)) from exc
            with watchdog:
                result = _execute(conn, sql, params, limits, watchdog)
                in_body = True
                yield Rows(columns=list(result.keys()), rows=_stream(result, limits, watchdog))
                in_body = False
    except QueryError:
        raise
    except Exception as exc:
        if in_body:
            raise
        raise QueryError(_db_message(exc, limits)) from exc
    finally:
        engine.dispose()


def _execute(conn: Connection, sql: str, params: Mapping[str, Any], limits: QueryLimits,
             watchdog: querycancel.Watchdog) -> Any:
    """The streamed result of ``sql``; QueryError when it fails or the watchdog cancelled it."""
    try:
        result = conn.execution_options(yield_per=FETCH_ROWS).execute(text(sql), dict(params))
    except Exception as exc:  # the driver's own exception types vary by database
        raise QueryError(_db_message(exc, limits, watchdog.fired)) from exc
    if watchdog.fired:  # cancelled, yet the driver returned (MySQL's SLEEP returns 1)
        raise QueryError(_timeout_message(limits))
    return result


def _stream(result: Any, limits: QueryLimits, watchdog: querycancel.Watchdog
            ) -> Iterator[tuple[Any, ...]]:
    """The rows; a failure while fetching (e.g. the timeout) is a QueryError too, and so is
    the watchdog's cancel even where the driver reports none."""
    try:
        for row in result:
            if watchdog.fired:
                break
            yield tuple(row)
    except Exception as exc:
        raise QueryError(_db_message(exc, limits, watchdog.fired)) from exc
    if watchdog.fired:
        raise QueryError(_timeout_message(limits))


def _timeout_message(limits: QueryLimits, detail: str = "") -> str:
    return (f"cancelled after the statement timeout of {limits.statement_timeout}s"
            f" (spec.source.statementTimeoutSeconds): the query was still running, so Bulletin"
            f" cancelled it{f' ({detail})' if detail else ''}")


def _db_message(exc: BaseException, limits: QueryLimits, cancelled: bool = False) -> str:
    """The database's own message, without SQLAlchemy's long wrapper, and what it means
    (``cancelled``: the watchdog cancelled the query)."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc).split("\n[SQL:")[0].strip()
    if cancelled:
        return _timeout_message(limits, text_)
    state = getattr(orig, "sqlstate", None)
    lowered = text_.lower()
    code = (getattr(orig, "args", None) or (None,))[0]
    if state == _READ_ONLY or "read-only" in lowered or "readonly" in lowered or (
            "data-modifying" in lowered) or "read only transaction" in lowered:
        return (f"{text_} (Bulletin runs queries read-only: a report query must not write)")
    if (state == _CANCELED and "statement timeout" in lowered) or code in _MYSQL_TIMEOUTS:
        return (f"cancelled by the database after the statement timeout of"
                f" {limits.statement_timeout}s (spec.source.statementTimeoutSeconds): {text_}")
    if "timeout expired" in lowered or "timed out" in lowered:
        return (f"could not connect within {limits.connect_timeout}s"
                f" (spec.source.connectTimeoutSeconds): {text_}")
    return text_
