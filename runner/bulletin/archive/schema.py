"""The archive's tables (SQLAlchemy Core) and its engine. Times are stored as naive UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import make_url

# The drivers the project ships (bulletin.query uses the same): psycopg 3 and PyMySQL.
DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg",
           "mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}
LONG_TEXT = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

metadata = MetaData()

runs = Table(
    "bulletin_runs", metadata,
    Column("namespace", String(63), primary_key=True),
    Column("schedule", String(253), primary_key=True),
    Column("run_id", String(63), primary_key=True),
    Column("trigger", String(16), nullable=False),
    Column("result", String(24)),  # NULL while the run is in progress
    Column("scheduled_time", DateTime),
    Column("start_time", DateTime, nullable=False),
    Column("end_time", DateTime),
    Column("period_start", DateTime),
    Column("period_end", DateTime),
    Column("rows", BigInteger, nullable=False, default=0),
    Column("bytes", BigInteger, nullable=False, default=0),
    Column("object_keys", LONG_TEXT, nullable=False),  # JSON list of the run's stored files
    Column("record", LONG_TEXT, nullable=False),  # the RunRecord's wire form, as JSON
    Column("updated", DateTime, nullable=False),
    Index("bulletin_runs_by_start", "namespace", "schedule", "start_time"),
    Index("bulletin_runs_by_age", "start_time"),
)

audit = Table(
    "bulletin_audit", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("user", String(512), nullable=False),
    Column("action", String(16), nullable=False),  # download | link
    Column("namespace", String(63), nullable=False),
    Column("schedule", String(253), nullable=False),
    Column("run_id", String(63), nullable=False),
    Column("object_key", String(1024), nullable=False),
    Column("client", String(256), nullable=False),  # remote address, or "kubectl bulletin link"
    Index("bulletin_audit_by_run", "namespace", "schedule", "run_id"),
    Index("bulletin_audit_by_age", "at"),
)

ACTIONS = ("download", "link")


def engine_for(url: str) -> Engine:
    """An engine for the archive's URL (postgresql://, mysql:// or mariadb://; a driver the
    URL names is kept). ValueError, without the URL (it holds a password), for another."""
    try:
        parsed = make_url(url)
    except Exception:
        raise ValueError("the archive URL is not an SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    if backend not in ("postgresql", "postgres", "mysql", "mariadb"):
        raise ValueError(f"the archive must be PostgreSQL or MySQL/MariaDB, not {backend!r}")
    if "+" not in parsed.drivername:
        parsed = parsed.set(drivername=DRIVERS[backend])
    args = {"connect_timeout": 10}
    return create_engine(parsed, connect_args=args, pool_pre_ping=True, pool_size=2,
                         max_overflow=4, pool_recycle=1800)


def naive(when: datetime | None) -> datetime | None:
    """``when`` in UTC without its zone, as stored."""
    return when.astimezone(UTC).replace(tzinfo=None) if when is not None else None


def aware(when: datetime | None) -> datetime | None:
    """A stored time back in UTC."""
    return when.replace(tzinfo=UTC) if when is not None else None
