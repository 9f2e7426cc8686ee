"""sign-in attempts: the throttle's record of failures and sign-ins (audit/signin.py)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signin_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signin_attempts_username_at", "signin_attempts", ["username", "at"])
    op.create_index("ix_signin_attempts_address_at", "signin_attempts", ["address", "at"])


def downgrade() -> None:
    op.drop_index("ix_signin_attempts_address_at", table_name="signin_attempts")
    op.drop_index("ix_signin_attempts_username_at", table_name="signin_attempts")
    op.drop_table("signin_attempts")
