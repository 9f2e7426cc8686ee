"""On Postgres the journal and its anchors are append-only at the database (migration 0009):
UPDATE, DELETE and TRUNCATE are refused whoever asks, and a role set up as docs/audit.md says
(SELECT and INSERT only, owning nothing) can neither switch the triggers off nor drop them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from audit import journal

pytestmark = pytest.mark.postgres_only

NOW = datetime(2025, 3, 10, 2, tzinfo=UTC)


@pytest.fixture
def written(session):
    journal.append(
        session, aggregate_type="loan", aggregate_id="L1", machine="loan_lifecycle",
        event="open", from_state=None, to_state="normal", actor="system:test", now=NOW,
        business_date=date(2025, 3, 10),
    )  # fmt: skip
    journal.anchor_day(session, date(2025, 3, 10), now=NOW)
    session.commit()


STATEMENTS = [
    "UPDATE journal SET reason = 'rewritten'",
    "DELETE FROM journal",
    "TRUNCATE journal CASCADE",
    "UPDATE journal_anchors SET digest = repeat('0', 64)",
    "DELETE FROM journal_anchors",
    "TRUNCATE journal_anchors",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_rewrite_refused_even_for_the_owner(engine, written, statement):
    with engine.connect() as conn, pytest.raises(DBAPIError) as refused:
        conn.execute(text(statement))
    assert "审计日志只可追加" in str(refused.value.orig)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM journal")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM journal_anchors")).scalar_one() == 1


def test_app_role_appends_but_cannot_disable_or_drop(engine, written):
    """The role of docs/audit.md, created and dropped inside one rolled-back transaction (roles
    are transactional on Postgres, so nothing outlives the test)."""
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            conn.execute(text("CREATE ROLE postloan_app_probe NOLOGIN"))
            conn.execute(text("GRANT SELECT, INSERT ON journal TO postloan_app_probe"))
            conn.execute(text("SET LOCAL ROLE postloan_app_probe"))
            assert conn.execute(text("SELECT count(*) FROM journal")).scalar_one() == 1
            for statement in (
                "SET LOCAL session_replication_role = replica",
                "ALTER TABLE journal DISABLE TRIGGER journal_append_only",
                "DROP TABLE journal CASCADE",
                "UPDATE journal SET reason = 'rewritten'",
            ):
                savepoint = conn.begin_nested()
                with pytest.raises(DBAPIError) as refused:
                    conn.execute(text(statement))
                assert refused.value.orig.sqlstate in {"42501", "42P01"}, statement
                savepoint.rollback()
        finally:
            tx.rollback()
