"""API schemas of human tasks (<Noun>Public, <Noun>sPublic)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from api.params import Text
from api.schemas import UtcDatetime


class HumanTaskPublic(BaseModel):
    id: int
    kind: str
    title: str
    state: str
    due_date: date
    follow_up_date: date | None
    priority: int
    overdue: bool
    loan_no: str | None
    borrower_name: str | None
    branch_path: str
    product: str | None
    bucket: str | None
    risk_class: str | None
    exposure_cents: int | None
    candidate_role: str | None
    assignee: str | None
    completed_by: str | None
    completed_at: UtcDatetime | None
    version: int


class HumanTasksPublic(BaseModel):
    data: list[HumanTaskPublic]
    count: int
    counts: dict[str, int]


class HumanTaskDetailPublic(HumanTaskPublic):
    form_kind: str
    form_schema: dict[str, Any]
    schema_hash: str
    context: dict[str, Any]
    draft: dict[str, Any] | None
    result: dict[str, Any] | None


class TaskAction(BaseModel):
    version: int | None = Field(default=None, description="The version you loaded (409 if stale).")


class TaskDelegate(TaskAction):
    to: Text = Field(description="Username of the new assignee (must be a candidate).")
    reason: Text | None = None


class TaskCancel(TaskAction):
    reason: Text = Field(min_length=1)


class TaskSubmission(TaskAction):
    data: dict[str, Any] = Field(
        description="The form of the task's kind: its JSON schema is `form_schema` in "
        "GET /tasks/{id} and in this document's components (forms.*)."
    )


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
