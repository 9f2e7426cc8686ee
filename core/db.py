"""Database engine and sessions (SQLite by default, PostgreSQL in production).

`session_scope` is the one transaction boundary domain services run in (DESIGN decision 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import String, and_, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, create_engine

from core.errors import ConflictError
from core.settings import get_settings

_engines: dict[str, Engine] = {}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Build an engine; SQLite gets foreign keys, WAL and a busy timeout on every connection.
    The pool is sized by settings (db_pool_*): at least as many connections as API threads."""
    parsed = make_url(url)
    in_memory = parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")
    if not in_memory and "poolclass" not in kwargs:  # in-memory SQLite: one connection, no pool
        settings = get_settings()
        kwargs.setdefault("pool_size", settings.db_pool_size)
        kwargs.setdefault("max_overflow", settings.db_max_overflow)
        kwargs.setdefault("pool_timeout", settings.db_pool_timeout_seconds)
    if parsed.get_backend_name() == "sqlite":
        if not in_memory:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 15})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs; let
            # SQLAlchemy emit BEGIN itself (the recipe in SQLAlchemy's SQLite dialect docs).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.execute(f"PRAGMA synchronous={get_settings().sqlite_synchronous}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: settings.database_url)."""
    url = url or get_settings().database_url
    if url not in _engines:
        _engines[url] = make_engine(url)
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def is_postgres(engine_or_session: Engine | Session) -> bool:
    bind = (
        engine_or_session.get_bind()
        if isinstance(engine_or_session, Session)
        else engine_or_session
    )
    return bind.dialect.name == "postgresql"


ANALYSIS_LIMIT = 1000  # rows SQLite samples per index: ANALYZE stays fast on a large file


def refresh_statistics(session: Session) -> None:
    """Give SQLite's query planner statistics of the tables (ANALYZE, sampled). SQLite never
    gathers them by itself; without them it picks an index by its shape alone, and took the
    journal's (event, date) index for a task's chain — every late-inspection figure then scanned
    every "open" entry once per task (10 minutes for a 10,000-loan book instead of a second).
    Postgres: nothing to do, autovacuum analyzes."""
    if is_postgres(session):
        return
    connection = session.connection()
    connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
    connection.exec_driver_sql("ANALYZE")


def as_conflict(exc: BaseException) -> ConflictError | None:
    """The clean conflict a concurrent writer's failure means, or None if it means something else."""
    if isinstance(exc, StaleDataError):  # the version check matched no row
        return ConflictError(
            "记录已被他人修改，请刷新后重试 (the record was changed concurrently; reload and try again)"
        )
    if isinstance(exc, OperationalError) and _is_lock_conflict(exc):
        return ConflictError(
            "记录正被他人修改，请重试 (the record is being changed by someone else; try again)"
        )
    return None


def commit(session: Session) -> None:
    """Commit; a concurrent change rolls back and becomes a ConflictError (HTTP 409)."""
    try:
        session.commit()
    except (StaleDataError, OperationalError) as exc:
        session.rollback()
        conflict = as_conflict(exc)
        if conflict is None:
            raise
        raise conflict from exc


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error (nothing half-saved)."""
    session = Session(engine or get_engine(), expire_on_commit=False)
    try:
        yield session
        commit(session)
    except (StaleDataError, OperationalError) as exc:
        session.rollback()
        conflict = as_conflict(exc)
        if conflict is None:
            raise
        raise conflict from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _is_lock_conflict(exc: OperationalError) -> bool:
    text = str(exc.orig).lower()
    return "database is locked" in text or "could not obtain lock" in text or "deadlock" in text


def path_type(length: int = 400) -> Any:
    """A materialized org path ("/HO/BJ01/"): byte-ordered ("C") on Postgres, so subtree range
    scans use the index whatever the database's locale (SQLite compares bytes already)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def subtree(column: Any, path: str) -> Any:
    """`column` lies in the subtree of `path` (which ends with "/"): an index range, not LIKE."""
    if not path.endswith("/"):
        raise ValueError(f"an org path ends with '/': {path!r}")
    return and_(column >= path, column < path[:-1] + "0")  # "0" sorts right after "/"
