"""the business date each loan was booked, the days the sweep ran for (it only moves forward),
and journal anchors several a day, each over the window since the previous one

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "swept_days",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("business_date"),
    )
    with op.batch_alter_table("loans") as batch:
        batch.add_column(sa.Column("booked_on", sa.Date(), nullable=True))
    # A loan was booked on the business date of its journal's first entry (`open`); a database
    # without one (never the case through the app) falls back to the disbursement date.
    op.execute(
        """
        UPDATE loans SET booked_on = COALESCE(
            (SELECT min(j.business_date) FROM journal AS j
              WHERE j.aggregate_type = 'loan' AND j.aggregate_id = loans.loan_no
                AND j.event = 'open'),
            disbursement_date)
        """
    )
    with op.batch_alter_table("loans") as batch:
        batch.alter_column("booked_on", existing_type=sa.Date(), nullable=False)

    # Anchors: keyed by id (several a day), no longer by business date. The old ones are kept as
    # scheme "full" (their digest is over every head up to them) and still verify.
    op.create_table(
        "journal_anchors_new",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("scheme", sa.String(length=10), nullable=False),
        sa.Column("first_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("chains", sa.Integer(), nullable=False),
        sa.Column("prev_digest", sa.String(length=64), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        """
        INSERT INTO journal_anchors_new (business_date, scheme, first_entry_id, last_entry_id,
                                         chains, prev_digest, digest, created_at)
        SELECT business_date, 'full', 0, last_entry_id, chains, NULL, digest, created_at
          FROM journal_anchors ORDER BY business_date
        """
    )
    op.drop_table("journal_anchors")
    op.rename_table("journal_anchors_new", "journal_anchors")
    op.create_index(op.f("ix_journal_anchors_business_date"), "journal_anchors", ["business_date"])


def downgrade() -> None:
    op.drop_index(op.f("ix_journal_anchors_business_date"), table_name="journal_anchors")
    op.rename_table("journal_anchors", "journal_anchors_new")
    op.create_table(
        "journal_anchors",
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("last_entry_id", sa.BigInteger(), nullable=False),
        sa.Column("chains", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("business_date"),
    )
    op.execute(
        """
        INSERT INTO journal_anchors (business_date, last_entry_id, chains, digest, created_at)
        SELECT business_date, last_entry_id, chains, digest, created_at FROM journal_anchors_new
         WHERE scheme = 'full'
        """
    )
    op.drop_table("journal_anchors_new")
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("booked_on")
    op.drop_table("swept_days")
