"""Tests that forge the journal on purpose (to see verification catch it).

On Postgres the journal and its anchors are append-only (migration 0009): triggers refuse UPDATE,
DELETE and TRUNCATE. A superuser's session may turn triggers off for one transaction
(`session_replication_role = replica`); the application's role cannot (docs/audit.md).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import Session


def bypass_append_only(target: Session | Connection) -> None:
    """Let the rest of this transaction rewrite the journal (as a database owner could)."""
    conn = target.connection() if isinstance(target, Session) else target
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
