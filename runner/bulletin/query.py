"""Run a dataset's SQL with the period as bound parameters, streaming rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

FETCH_ROWS = 2000


class QueryError(RuntimeError):
    """The database refused or failed the query; the message is the database's."""


@dataclass
class Rows:
    """A streamed result: column names and an iterator of row tuples."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]


def _engine_url(url: str) -> Any:
    parsed = make_url(url)
    if parsed.drivername == "postgresql" or parsed.drivername == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


@contextmanager
def run_query(url: str, sql: str, params: Mapping[str, Any], time_zone: str) -> Iterator[Rows]:
    """Execute ``sql``; the session time zone is the schedule's, so dates compare locally."""
    parsed = _engine_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        connect_args["options"] = f"-c TimeZone={time_zone}"
    engine = create_engine(parsed, connect_args=connect_args, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            try:
                streaming = conn.execution_options(yield_per=FETCH_ROWS)
                result = streaming.execute(text(sql), dict(params))
            except Exception as exc:  # the driver's own exception types vary by database
                raise QueryError(_db_message(exc)) from exc
            yield Rows(columns=list(result.keys()), rows=(tuple(r) for r in result))
    except QueryError:
        raise
    except Exception as exc:
        raise QueryError(_db_message(exc)) from exc
    finally:
        engine.dispose()


def _db_message(exc: BaseException) -> str:
    """The database's own message, without SQLAlchemy's long wrapper."""
    orig = getattr(exc, "orig", None)
    text_ = str(orig if orig is not None else exc)
    return text_.split("\n[SQL:")[0].strip()
