"""approval requests and their decisions, the outbox (replacing resume_outbox), task
escalations and notifications, warning and collection cases, extension restructuring facts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:14:02.094091
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("flow", sa.String(length=100), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flow_run_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_due",
            ["next_attempt_at", "id"],
            unique=False,
            postgresql_where=sa.text("delivered_at IS NULL"),
            sqlite_where=sa.text("delivered_at IS NULL"),
        )

    op.create_table(
        "approval_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("loan_no", sa.String(length=40), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.Column(
            "branch_path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("requested_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"],
            ["org_units.id"],
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.create_index("ix_approval_requests_branch", ["branch_path", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_requests_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_approval_requests_loan_no"), ["loan_no"], unique=False)
        batch_op.create_index(
            "ux_approval_requests_live",
            ["loan_id", "kind"],
            unique=True,
            postgresql_where=sa.text("state IN ('submitted', 'pending', 'returned')"),
            sqlite_where=sa.text("state IN ('submitted', 'pending', 'returned')"),
        )

    op.create_table(
        "collection_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("loan_no", sa.String(length=40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("step_since", sa.Date(), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_reason", sa.String(length=40), nullable=True),
        sa.Column("missed_consecutive", sa.Integer(), nullable=False),
        sa.Column("missed_cumulative", sa.Integer(), nullable=False),
        sa.Column("broken_promises", sa.Integer(), nullable=False),
        sa.Column("quadrant", sa.String(length=4), nullable=True),
        sa.Column("last_contact_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("collection_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_cases_loan_id"), ["loan_id"], unique=False)
        batch_op.create_index(
            "ux_collection_cases_open",
            ["loan_id"],
            unique=True,
            postgresql_where=sa.text("closed_on IS NULL"),
            sqlite_where=sa.text("closed_on IS NULL"),
        )

    op.create_table(
        "approval_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=30), nullable=False),
        sa.Column("concluded", sa.Boolean(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=False),
        sa.Column("on_behalf_of", sa.String(length=64), nullable=True),
        sa.Column("opinion", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["human_tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "round", "level"),
    )
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_approval_decisions_request_id"), ["request_id"], unique=False
        )

    op.create_table(
        "collection_promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("promised_for", sa.Date(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["collection_cases.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["human_tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    with op.batch_alter_table("collection_promises", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_promises_case_id"), ["case_id"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column(
            "org_path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("task_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("message_zh", sa.Text(), nullable=False),
        sa.Column("message_en", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["human_tasks.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_org_path"), ["org_path"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_task_id"), ["task_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_user_id"), ["user_id"], unique=False)

    op.create_table(
        "task_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("target_role", sa.String(length=32), nullable=True),
        sa.Column(
            "target_org_path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=True,
        ),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["human_tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id", "step"),
    )
    with op.batch_alter_table("task_escalations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_escalations_task_id"), ["task_id"], unique=False)

    op.create_table(
        "warning_cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("loan_no", sa.String(length=40), nullable=False),
        sa.Column(
            "branch_path",
            sa.String(length=400).with_variant(sa.String(length=400, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("signals", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("raised_by", sa.String(length=100), nullable=False),
        sa.Column("raised_on", sa.Date(), nullable=False),
        sa.Column("grade", sa.String(length=20), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("measures", sa.JSON(), nullable=False),
        sa.Column("disposal_plan", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["approval_requests.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("warning_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_warning_cases_loan_id"), ["loan_id"], unique=False)

    with op.batch_alter_table("resume_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resume_outbox_task_id"))

    op.drop_table("resume_outbox")
    with op.batch_alter_table("extension_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restructuring", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("restructuring_reasons", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(
            sa.Column("days_past_due_at_request", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("guarantor_consents", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.add_column(sa.Column("approved_months", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("applied_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("class_before", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("approval_request_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_extension_requests_approval_request_id"),
            ["approval_request_id"],
            unique=False,
        )
        batch_op.create_index(
            "ux_extension_requests_pending",
            ["loan_id"],
            unique=True,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("extension_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_extension_requests_pending",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_extension_requests_approval_request_id"))
        batch_op.drop_column("approval_request_id")
        batch_op.drop_column("class_before")
        batch_op.drop_column("applied_on")
        batch_op.drop_column("approved_months")
        batch_op.drop_column("guarantor_consents")
        batch_op.drop_column("days_past_due_at_request")
        batch_op.drop_column("restructuring_reasons")
        batch_op.drop_column("restructuring")

    op.create_table(
        "resume_outbox",
        sa.Column("id", sa.INTEGER(), nullable=False),
        sa.Column("task_id", sa.INTEGER(), nullable=False),
        sa.Column("flow_run_id", sa.VARCHAR(length=64), nullable=True),
        sa.Column("deployment", sa.VARCHAR(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.INTEGER(), nullable=False),
        sa.Column("last_error", sa.TEXT(), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"],
            ["human_tasks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("resume_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resume_outbox_task_id"), ["task_id"], unique=False)

    with op.batch_alter_table("warning_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_warning_cases_loan_id"))

    op.drop_table("warning_cases")
    with op.batch_alter_table("task_escalations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_escalations_task_id"))

    op.drop_table("task_escalations")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_user_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_task_id"))
        batch_op.drop_index(batch_op.f("ix_notifications_org_path"))

    op.drop_table("notifications")
    with op.batch_alter_table("collection_promises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_promises_case_id"))

    op.drop_table("collection_promises")
    with op.batch_alter_table("approval_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_approval_decisions_request_id"))

    op.drop_table("approval_decisions")
    with op.batch_alter_table("collection_cases", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_collection_cases_open",
            postgresql_where=sa.text("closed_on IS NULL"),
            sqlite_where=sa.text("closed_on IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_collection_cases_loan_id"))

    op.drop_table("collection_cases")
    with op.batch_alter_table("approval_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_approval_requests_live",
            postgresql_where=sa.text("state IN ('submitted', 'pending', 'returned')"),
            sqlite_where=sa.text("state IN ('submitted', 'pending', 'returned')"),
        )
        batch_op.drop_index(batch_op.f("ix_approval_requests_loan_no"))
        batch_op.drop_index(batch_op.f("ix_approval_requests_loan_id"))
        batch_op.drop_index("ix_approval_requests_branch")

    op.drop_table("approval_requests")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_outbox_due",
            postgresql_where=sa.text("delivered_at IS NULL"),
            sqlite_where=sa.text("delivered_at IS NULL"),
        )

    op.drop_table("outbox")
