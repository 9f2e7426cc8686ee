"""loan status history: each loan's lifecycle state and risk class by business date, a projection
of the journal kept in the journal's transaction (loans/status_history.py), derived here from the
journal written so far

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 15:30:00

valid_to is the business date of the next move of the same machine (LEAD over the chain), so an
earlier move on the same day leaves valid_from = valid_to and the day's last move is what the day
ends with.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ROW = sa.text("valid_to IS NULL")
BACKFILL = """
INSERT INTO loan_status_history (loan_id, machine, state, valid_from, valid_to)
SELECT l.id, j.machine, j.to_state, j.business_date,
       LEAD(j.business_date) OVER (PARTITION BY j.aggregate_id, j.machine ORDER BY j.chain_seq)
FROM journal j JOIN loans l ON l.loan_no = j.aggregate_id
WHERE j.aggregate_type = 'loan'
  AND j.machine IN ('loan_lifecycle', 'risk_classification')
  AND j.to_state IS NOT NULL
"""


def upgrade() -> None:
    op.create_table(
        "loan_status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("machine", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=40), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("loan_status_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_status_history_loan_id"), ["loan_id"], unique=False
        )
        batch_op.create_index(
            "ux_loan_status_history_open",
            ["loan_id", "machine"],
            unique=True,
            postgresql_where=OPEN_ROW,
            sqlite_where=OPEN_ROW,
        )
        batch_op.create_index(
            "ix_loan_status_history_asof",
            ["machine", "valid_from", "valid_to", "loan_id", "state"],
            unique=False,
        )
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("loan_status_history", schema=None) as batch_op:
        batch_op.drop_index("ix_loan_status_history_asof")
        batch_op.drop_index(
            "ux_loan_status_history_open", postgresql_where=OPEN_ROW, sqlite_where=OPEN_ROW
        )
        batch_op.drop_index(batch_op.f("ix_loan_status_history_loan_id"))
    op.drop_table("loan_status_history")
