"""loan status history index by loan: (loan_id, machine, valid_from, valid_to, state), so the
as-of state of a loan reached from another table is one seek (SQLite's planner otherwise ranges
over ix_loan_status_history_asof for every loan)

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 15:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_loan_status_history_loan_asof",
        "loan_status_history",
        ["loan_id", "machine", "valid_from", "valid_to", "state"],
    )


def downgrade() -> None:
    op.drop_index("ix_loan_status_history_loan_asof", table_name="loan_status_history")
