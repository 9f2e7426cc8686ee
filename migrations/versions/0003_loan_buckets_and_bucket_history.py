"""loan buckets and bucket history (daily sweep)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 14:26:16.163320

loans.bucket holds the overdue bucket (M1..M6+, 003) as of the last daily sweep;
loan_bucket_history the days each loan spent in each bucket ([entered_on, left_on), one open row
at most per loan); ix_loans_npl_borrower the 不良 loans by borrower, for the contagion check;
ix_payments_unallocated the payments a feed recorded without allocating them (the sweep's step 1).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_ROW = sa.text("left_on IS NULL")
NPL = sa.text("risk_class IN ('substandard', 'doubtful', 'loss')")
UNALLOCATED = {
    "postgresql_where": sa.text("NOT allocated"),
    "sqlite_where": sa.text("allocated = 0"),
}


def upgrade() -> None:
    op.create_table(
        "loan_bucket_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=8), nullable=False),
        sa.Column("entered_on", sa.Date(), nullable=False),
        sa.Column("left_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("loan_bucket_history", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_bucket_history_loan_id"), ["loan_id"], unique=False
        )
        batch_op.create_index(
            "ux_loan_bucket_history_open",
            ["loan_id"],
            unique=True,
            postgresql_where=OPEN_ROW,
            sqlite_where=OPEN_ROW,
        )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bucket", sa.String(length=8), nullable=True))
        batch_op.create_index(
            "ix_loans_npl_borrower", ["borrower_id"], postgresql_where=NPL, sqlite_where=NPL
        )
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_unallocated", ["loan_id"], **UNALLOCATED)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_unallocated", **UNALLOCATED)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_npl_borrower", postgresql_where=NPL, sqlite_where=NPL)
        batch_op.drop_column("bucket")
    with op.batch_alter_table("loan_bucket_history", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_loan_bucket_history_open", postgresql_where=OPEN_ROW, sqlite_where=OPEN_ROW
        )
        batch_op.drop_index(batch_op.f("ix_loan_bucket_history_loan_id"))
    op.drop_table("loan_bucket_history")
