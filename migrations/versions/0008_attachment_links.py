"""attachment links: who may read an attachment (its uploader, the tasks, requests and warning
cases that reference it), filled from the forms, subjects and evidence already stored

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 05:00:00
"""

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHA256 = re.compile("[0-9a-f]{64}")


def _hashes(value: Any) -> Iterator[str]:
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)  # SQLite hands JSON columns back as text
        except ValueError:
            return
    if isinstance(value, dict):
        digest = value.get("sha256")
        if isinstance(digest, str) and SHA256.fullmatch(digest):
            yield digest
        for item in value.values():
            yield from _hashes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _hashes(item)


def upgrade() -> None:
    op.create_table(
        "attachment_links",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("owner_type", sa.String(length=10), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(["sha256"], ["attachments.sha256"]),
        sa.PrimaryKeyConstraint("sha256", "owner_type", "owner_id"),
    )
    bind = op.get_bind()
    known = {row[0] for row in bind.execute(sa.text("SELECT sha256 FROM attachments"))}
    links = {
        (sha, "upload", int(user))
        for sha, user in bind.execute(sa.text("SELECT sha256, uploaded_by_id FROM attachments"))
    }
    sources = [
        ("task", "SELECT id, result, draft, context FROM human_tasks"),
        ("request", "SELECT id, subject FROM approval_requests"),
        ("case", "SELECT id, evidence FROM warning_cases"),
    ]
    for owner_type, query in sources:
        for row in bind.execute(sa.text(query)):
            for digest in _hashes(list(row[1:])):
                if digest in known:
                    links.add((digest, owner_type, int(row[0])))
    table = sa.table(
        "attachment_links",
        sa.column("sha256", sa.String),
        sa.column("owner_type", sa.String),
        sa.column("owner_id", sa.BigInteger),
    )
    if links:
        op.bulk_insert(
            table, [{"sha256": s, "owner_type": t, "owner_id": i} for s, t, i in sorted(links)]
        )


def downgrade() -> None:
    op.drop_table("attachment_links")
