"""journal indexes for the auditors' queries across loans: (actor, business_date) and
(event, business_date)

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-02 08:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_journal_actor_date", "journal", ["actor", "business_date"])
    op.create_index("ix_journal_event_date", "journal", ["event", "business_date"])


def downgrade() -> None:
    op.drop_index("ix_journal_event_date", table_name="journal")
    op.drop_index("ix_journal_actor_date", table_name="journal")
