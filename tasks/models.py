"""Tables of human tasks. Inbox filters read typed, indexed business columns copied onto the
task (loan, borrower, branch, product, bucket, class, exposure) — never generic variables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field, SQLModel, col

from core.db import path_type
from statemachines.enums import TaskState


def _utcnow() -> datetime:
    return datetime.now(UTC)


_TASK_VERSION = Column("version", Integer, nullable=False)


class HumanTask(SQLModel, table=True):
    __tablename__ = "human_tasks"
    __mapper_args__: ClassVar[dict[str, object]] = {"version_id_col": _TASK_VERSION}
    __table_args__ = (
        # queue totals: open work for a role in an org subtree, counted from the index alone
        # (kind too, the usual filter); pages read ix_tasks_waiting below
        Index(
            "ix_tasks_queue", "state", "candidate_role", "candidate_org_path", "due_date", "kind"
        ),
        # inbox: my claimed work; archive: what I completed (state in it: totals index-only)
        Index("ix_tasks_inbox", "assignee_id", "state", "due_date"),
        Index("ix_tasks_archive", "completed_by_id", "state", "completed_at"),
        Index("ix_tasks_named", "candidate_user_id", "state", "due_date"),
        Index("ix_tasks_branch", "branch_path", "state", "due_date"),
        # candidates are a role (in an org subtree) or one named user, never both: the worklist
        # branches must not overlap
        CheckConstraint(
            "(candidate_role IS NULL) <> (candidate_user_id IS NULL)",
            name="ck_tasks_one_kind_of_candidate",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Idempotency: the same piece of work is opened once, e.g. "loan_card_check:L1:2026-03".
    key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    kind: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    title: str = Field(sa_column=Column(String(300), nullable=False))
    state: TaskState = Field(default=TaskState.open, sa_column=Column(String(20), nullable=False))
    priority: int = 0  # higher first among equal due dates
    due_date: date = Field(sa_column=Column(Date, nullable=False))
    follow_up_date: date | None = Field(default=None, sa_column=Column(Date))
    # Candidates: a role within an org unit's subtree, or one named user.
    candidate_role: str | None = Field(default=None, sa_column=Column(String(32)))
    candidate_org_unit_id: int = Field(foreign_key="org_units.id")
    candidate_org_path: str = Field(sa_column=Column(path_type(), nullable=False))
    candidate_user_id: int | None = Field(default=None, foreign_key="users.id")
    assignee_id: int | None = Field(default=None, foreign_key="users.id")
    claimed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    completed_by_id: int | None = Field(default=None, foreign_key="users.id")
    completed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    on_behalf_of_id: int | None = Field(default=None, foreign_key="users.id")
    # Four eyes: who asked for the decision this task takes, and the approval chain it is part of.
    requested_by_id: int | None = Field(default=None, foreign_key="users.id")
    chain_key: str | None = Field(default=None, sa_column=Column(String(120), index=True))
    chain_level: int | None = None
    # Business columns, copied from the loan when the task is opened.
    loan_id: int | None = Field(default=None, foreign_key="loans.id", index=True)
    loan_no: str | None = Field(default=None, sa_column=Column(String(40), index=True))
    borrower_name: str | None = Field(default=None, sa_column=Column(String(200)))
    branch_id: int | None = Field(default=None, foreign_key="org_units.id")
    branch_path: str = Field(sa_column=Column(path_type(), nullable=False))
    product: str | None = Field(default=None, sa_column=Column(String(40)))
    bucket: str | None = Field(default=None, sa_column=Column(String(8)))
    risk_class: str | None = Field(default=None, sa_column=Column(String(20)))
    exposure_cents: int | None = Field(default=None, sa_column=Column(BigInteger))
    # What the task is about (input), the saved draft and the validated result.
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    draft: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    form_schema_version: int | None = None
    outcome_note: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1, sa_column=_TASK_VERSION)
    created_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=_utcnow, sa_column=Column(DateTime(timezone=True), nullable=False)
    )


# Worklist pages in page order (due date, priority first, id), so a page reads 50 index entries
# instead of sorting a whole subtree (bench/inbox.py). Waiting work per candidate role; the
# subtree is checked inside the index.
_WAITING = col(HumanTask.state).in_((TaskState.open.value, TaskState.escalated.value))
Index(
    "ix_tasks_waiting",
    col(HumanTask.candidate_role),
    col(HumanTask.due_date),
    col(HumanTask.priority).desc(),
    col(HumanTask.id),
    col(HumanTask.candidate_org_path),
    postgresql_where=_WAITING,
    sqlite_where=_WAITING,
)
# The all view (heads, auditors): everything in a subtree, in page order.
Index(
    "ix_tasks_due",
    col(HumanTask.due_date),
    col(HumanTask.priority).desc(),
    col(HumanTask.id),
    col(HumanTask.branch_path),
)


class Attachment(SQLModel, table=True):
    """A stored file (photo, signed notice), addressed by its content hash; the journal records
    the hash with the completed form."""

    __tablename__ = "attachments"

    sha256: str = Field(sa_column=Column(String(64), primary_key=True))
    filename: str = Field(sa_column=Column(String(200), nullable=False))
    content_type: str = Field(sa_column=Column(String(100), nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    uploaded_by_id: int = Field(foreign_key="users.id")
    uploaded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class AttachmentLink(SQLModel, table=True):
    """Who may read an attachment, by the hash: its uploader (`upload`, user id) and whatever
    references it (`task`, `request`, `case`, id), written where forms, requests and cases are
    saved so a download reads these rows (the primary key's index), never every form's JSON."""

    __tablename__ = "attachment_links"

    sha256: str = Field(
        sa_column=Column(String(64), ForeignKey("attachments.sha256"), primary_key=True)
    )
    owner_type: str = Field(sa_column=Column(String(10), primary_key=True))
    owner_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class Outbox(SQLModel, table=True):
    """What the domain asks of Prefect, written in the transaction that decided it (DESIGN
    decision 2): start a run of this flow's deployment with these parameters. A dispatcher
    delivers each row at least once, with backoff; `key` is the run's idempotency key, so a row
    delivered twice still makes one run. Nothing is lost while Prefect is down: the row waits."""

    __tablename__ = "outbox"
    __table_args__ = (
        # the dispatcher's queue: undelivered rows by when they are due
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            "id",
            postgresql_where=text("delivered_at IS NULL"),
            sqlite_where=text("delivered_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    # Random, per row: with the key, the row's identity to Prefect (a database rebuilt from
    # scratch reuses ids and so keys; Prefect's idempotency must not take them for old runs).
    token: str = Field(sa_column=Column(String(32), nullable=False))
    flow: str = Field(sa_column=Column(String(100), nullable=False))  # deployed by flows/launch.py
    parameters: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    flow_run_id: str | None = Field(default=None, sa_column=Column(String(64)))


class TaskEscalation(SQLModel, table=True):
    """One step of a task's SLA ladder that fired (reminder, to the unit head, one level up):
    unique per task and step, so a re-run never fires a step twice."""

    __tablename__ = "task_escalations"
    __table_args__ = (UniqueConstraint("task_id", "step"),)

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="human_tasks.id", index=True)
    step: int
    action: str = Field(sa_column=Column(String(20), nullable=False))
    business_date: date = Field(sa_column=Column(Date, nullable=False))
    target_role: str | None = Field(default=None, sa_column=Column(String(32)))
    target_org_path: str | None = Field(default=None, sa_column=Column(path_type()))
    target_user_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class Notification(SQLModel, table=True):
    """A message in a person's inbox (提醒): to a named user, or to a role within an org subtree."""

    __tablename__ = "notifications"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    role: str | None = Field(default=None, sa_column=Column(String(32)))
    org_path: str | None = Field(default=None, sa_column=Column(path_type(), index=True))
    task_id: int | None = Field(default=None, foreign_key="human_tasks.id", index=True)
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    message_zh: str = Field(sa_column=Column(Text, nullable=False))
    message_en: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
