"""Test harness: the whole suite runs once on SQLite and once on PostgreSQL (`--db`).

Each session creates its own database (a temp SQLite file, or a fresh Postgres database that is
dropped at the end), migrates it with Alembic, and every test starts from empty tables.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

import migrations
from core.clock import FixedClock
from core.db import dispose_engines, make_engine
from core.settings import get_settings
from loans.demo import DemoOrg
from migrations.models import metadata

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# The suite's hand-computed days past due count from the contract's due dates (the test loans
# fall due on the 15th, often a weekend). The bank's default, 顺延 to the next business day, is
# tested on its own in tests/loans/test_pay_by.py, where each test sets the roll it checks.
os.environ.setdefault("POSTLOAN_INSTALLMENT_DUE_ROLL", "none")
# The test client (and the browser tests' local server) speak plain HTTP: a Secure cookie would
# never come back. tests/api/test_csrf.py turns the setting on where it checks the flag.
os.environ.setdefault("POSTLOAN_COOKIE_SECURE", "false")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="database backend for the suite",
    )
    parser.addoption(
        "--pg-url",
        default=DEFAULT_PG,
        help="an existing Postgres database to connect through (a new one is created)",
    )


def pytest_configure(config: pytest.Config) -> None:
    import os
    import secrets

    os.environ["POSTLOAN_SECRET_KEY"] = secrets.token_hex(32)  # never a key from a dev machine


def pytest_report_header(config: pytest.Config) -> str:
    return f"postloan database backend: {config.getoption('--db')}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--db") == "postgres":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL row locking (run with --db postgres)")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.config.getoption("--db"))


@pytest.fixture(scope="session")
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'postloan.db'}"
        return
    admin = str(request.config.getoption("--pg-url"))
    name = f"postloan_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    migrations.upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    tables = [t.name for t in reversed(metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # the journal is append-only (migration 0009): only a superuser's session may turn
            # the triggers off, for this transaction alone (tests/tamper.py)
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            # TRUNCATE costs ~7 ms a table whatever it holds: only the tables a test wrote to,
            # then every sequence it used back to 1 (ids start at 1 in every test)
            probe = " UNION ALL ".join(
                f"SELECT '{name}' WHERE EXISTS (SELECT 1 FROM {name})" for name in tables
            )
            used = [row[0] for row in conn.execute(text(probe))]
            if used:
                conn.execute(text(f"TRUNCATE {', '.join(used)} CASCADE"))
            for (seq,) in conn.execute(
                text("SELECT sequencename FROM pg_sequences WHERE last_value IS NOT NULL")
            ):
                conn.execute(text(f"ALTER SEQUENCE {seq} RESTART"))
        else:
            for name in tables:
                conn.execute(text(f"DELETE FROM {name}"))


@pytest.fixture
def engine(
    migrated_engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    """A migrated, empty database; also the default engine of code under test. The anchors'
    signing key, trusted keys and external log, and the attachments, are a fresh folder of each
    test's (never var/)."""
    monkeypatch.setenv("POSTLOAN_DATABASE_URL", database_url)
    outside = tmp_path_factory.mktemp("anchors")
    monkeypatch.setenv("POSTLOAN_ANCHOR_KEY_FILE", str(outside / "anchor_key.pem"))
    monkeypatch.setenv("POSTLOAN_ANCHOR_TRUSTED_KEYS_DIR", str(outside / "trusted"))
    monkeypatch.setenv("POSTLOAN_ANCHOR_LOG", str(outside / "anchor_log.jsonl"))
    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(outside / "attachments"))
    get_settings.cache_clear()
    import core.db

    monkeypatch.setitem(core.db._engines, database_url, migrated_engine)
    try:
        yield migrated_engine
    finally:
        _empty_all_tables(migrated_engine)
        get_settings.cache_clear()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def clock() -> FixedClock:
    clock = FixedClock()
    clock.set_date(date(2026, 3, 2))
    return clock


@pytest.fixture(scope="session")
def demo_password_hash() -> str:
    from core.identity import hash_password
    from loans.demo import DEMO_PASSWORD

    return hash_password(DEMO_PASSWORD)  # once per session: argon2 is deliberately slow


@pytest.fixture
def org(session: Session, demo_password_hash: str) -> DemoOrg:
    """The demo org units and users (no loans), committed."""
    from loans.demo import seed_org

    org = seed_org(session, demo_password_hash)
    session.commit()
    return org
