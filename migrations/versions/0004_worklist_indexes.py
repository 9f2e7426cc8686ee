"""worklist indexes (pages in page order, totals index-only) and one kind of candidate per task

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = sa.text("state IN ('open', 'escalated')")


def upgrade() -> None:
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_queue")
        batch_op.create_index(
            "ix_tasks_queue",
            ["state", "candidate_role", "candidate_org_path", "due_date", "kind"],
            unique=False,
        )
        batch_op.drop_index("ix_tasks_archive")
        batch_op.create_index(
            "ix_tasks_archive", ["completed_by_id", "state", "completed_at"], unique=False
        )
        batch_op.create_check_constraint(
            "ck_tasks_one_kind_of_candidate",
            "(candidate_role IS NULL) <> (candidate_user_id IS NULL)",
        )
    op.create_index(
        "ix_tasks_waiting",
        "human_tasks",
        ["candidate_role", "due_date", sa.text("priority DESC"), "id", "candidate_org_path"],
        unique=False,
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )
    op.create_index(
        "ix_tasks_due",
        "human_tasks",
        ["due_date", sa.text("priority DESC"), "id", "branch_path"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_due", table_name="human_tasks")
    op.drop_index("ix_tasks_waiting", table_name="human_tasks")
    with op.batch_alter_table("human_tasks", schema=None) as batch_op:
        batch_op.drop_constraint("ck_tasks_one_kind_of_candidate", type_="check")
        batch_op.drop_index("ix_tasks_archive")
        batch_op.create_index("ix_tasks_archive", ["completed_by_id", "completed_at"], unique=False)
        batch_op.drop_index("ix_tasks_queue")
        batch_op.create_index(
            "ix_tasks_queue",
            ["state", "candidate_role", "candidate_org_path", "due_date"],
            unique=False,
        )
