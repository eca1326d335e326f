"""The statement timeout enforced from outside the query's session.

A session can switch its own timeout off (PostgreSQL set_config, MariaDB SET STATEMENT
max_statement_time=0, …), and PostgreSQL's statement_timeout covers one statement, not a
streamed result's many fetches. So a timer cancels the query on the server once the limit (plus
GRACE, so the server's own timeout, when still in force, acts first) has passed since the
execute, whatever the session did: PostgreSQL by a cancel request, MySQL/MariaDB by KILL QUERY
from a second connection, SQLite by interrupt(). Other databases keep their server's timeout
only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.engine import Connection, Engine

GRACE = 1.0  # seconds after the limit

log = logging.getLogger("bulletin.query")


class Watchdog:
    """Calls ``cancel`` from a timer thread ``seconds`` after entering, unless exited first."""

    def __init__(self, seconds: float, cancel: Callable[[], None] | None) -> None:
        self.seconds = seconds
        self._cancel = cancel
        self._fired = threading.Event()
        self._timer: threading.Timer | None = None

    @property
    def fired(self) -> bool:
        """Whether the limit passed and the query was cancelled (or a cancel attempted)."""
        return self._fired.is_set()

    def _fire(self) -> None:
        self._fired.set()
        assert self._cancel is not None
        try:
            self._cancel()
        except Exception as exc:  # the driver's own exception types vary by database
            log.warning("could not cancel the query after %ss: %s", self.seconds, exc)

    def __enter__(self) -> Watchdog:
        if self._cancel is not None:
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join()  # a cancel under way ends before the connection closes


def watchdog(engine: Engine, conn: Connection, limit: float, connect_timeout: float
             ) -> Watchdog:
    """A Watchdog for the query about to run on ``conn``, cancelling it ``limit`` + GRACE
    seconds after it starts (a cancel's own connection gives up after ``connect_timeout``)."""
    return Watchdog(limit + GRACE, _canceller(engine, conn, connect_timeout))


def _canceller(engine: Engine, conn: Connection, connect_timeout: float
               ) -> Callable[[], None] | None:
    """How to cancel what runs on ``conn`` from another thread; None when the driver has no
    way (the server's own timeout still applies)."""
    backend = engine.dialect.name
    raw: Any = conn.connection.dbapi_connection
    if backend == "postgresql":
        if hasattr(raw, "cancel_safe"):  # psycopg 3.2+: its own connection, with a timeout
            return lambda: raw.cancel_safe(timeout=connect_timeout)
        return getattr(raw, "cancel", None)  # psycopg2
    if backend in ("mysql", "mariadb"):
        ident = int(conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one())

        def kill() -> None:
            with engine.connect() as other:  # the same user may kill its own queries
                other.exec_driver_sql(f"KILL QUERY {ident}")
        return kill
    if backend == "sqlite":
        return getattr(raw, "interrupt", None)
    return None
