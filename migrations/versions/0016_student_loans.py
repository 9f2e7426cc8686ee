"""student loans (国家助学贷款): the handling institutions, each student loan's school facts and
plan, and the in-school interest the state pays (loans/student/models.py)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "student_institutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "student_loans",
        sa.Column("loan_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("enrolment_date", sa.Date(), nullable=False),
        sa.Column("expected_graduation_date", sa.Date(), nullable=False),
        sa.Column("graduation_date", sa.Date(), nullable=True),
        sa.Column("graduation_confirmed_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("grace_months", sa.Integer(), nullable=False),
        sa.Column("repayment_start", sa.Date(), nullable=False),
        sa.Column("subsidised", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["student_institutions.id"]),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("loan_id"),
    )
    op.create_index(
        "ix_student_loans_expected", "student_loans", ["status", "expected_graduation_date"]
    )
    op.create_index("ix_student_loans_institution_id", "student_loans", ["institution_id"])
    op.create_table(
        "student_loan_subsidies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("interest_cents", sa.BigInteger(), nullable=False),
        sa.Column("recorded_on", sa.Date(), nullable=False),
        sa.Column("withdrawn_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_student_loan_subsidies_loan_id", "student_loan_subsidies", ["loan_id"])
    op.create_index(
        "ix_student_loan_subsidies_period_end", "student_loan_subsidies", ["period_end"]
    )


def downgrade() -> None:
    op.drop_table("student_loan_subsidies")
    op.drop_table("student_loans")
    op.drop_table("student_institutions")
