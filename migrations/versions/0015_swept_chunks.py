"""swept chunks: each chunk of a date's sweep as it last ran — its loan ids, its counts and the
machine that ran it (loans/models.py SweptChunk)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "swept_chunks",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("loan_id_from", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("loan_id_to", sa.BigInteger(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("business_date", "loan_id_from"),
    )


def downgrade() -> None:
    op.drop_table("swept_chunks")
