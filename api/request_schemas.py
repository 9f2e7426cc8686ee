"""API schemas of approval requests and warning cases (<Noun>Create, <Noun>Public)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, Field

from api.params import Text
from api.schemas import UtcDatetime
from forms import AttachmentRef
from statemachines.enums import RiskClass


class GuarantorConsent(BaseModel):
    guarantor: Text = Field(min_length=1, max_length=200, description="The guarantor's name.")
    attachment: AttachmentRef = Field(description="The signed consent, uploaded first.")


class ExtensionRequestCreate(BaseModel):
    new_maturity_date: date = Field(description="The maturity date asked for.")
    reason: Text = Field(min_length=1, max_length=1000)
    financial_difficulty: bool = Field(
        default=False,
        description="The account manager's assessment that the borrower is in financial "
        "difficulty. Arrears and other 不良 debts make it a restructuring whatever this says.",
    )
    guarantor_consents: list[GuarantorConsent] = Field(
        default_factory=list, description="Each active guarantor's written consent."
    )


class ClassificationProposalCreate(BaseModel):
    proposed_class: RiskClass
    reason: Text = Field(min_length=1, max_length=4000)
    evidence: list[AttachmentRef] = Field(default_factory=list)


class WriteOffRequestCreate(BaseModel):
    reason: Text = Field(min_length=1, max_length=4000)
    evidence: list[AttachmentRef] = Field(default_factory=list)


class HandoverRequestCreate(BaseModel):
    reason: Text = Field(min_length=1, max_length=4000)


class WarningCreate(BaseModel):
    signals: list[Text] = Field(min_length=1, description="Signal codes (GET /warnings/signals).")
    description: Text = Field(min_length=1, max_length=4000)
    evidence: list[AttachmentRef] = Field(default_factory=list)


class RequestWithdraw(BaseModel):
    reason: Text = Field(min_length=1, max_length=1000)


class ApprovalDecisionPublic(BaseModel):
    round: int
    level: int
    level_name: str
    decision: str
    concluded: bool
    decided_by: str
    on_behalf_of: str | None
    opinion: str | None
    data: dict[str, Any]
    decided_at: UtcDatetime


class RequestNotePublic(BaseModel):
    """A move besides the decisions (amend, resubmit, withdraw), from the request's journal."""

    event: str
    actor: str
    on_behalf_of: str | None
    at: UtcDatetime
    reason: str | None


class ApprovalRequestPublic(BaseModel):
    id: int
    kind: str
    state: str
    loan_no: str
    level: int
    round: int
    levels: list[str]
    amount_cents: int
    requested_by: str
    requested_on: date
    reason: str
    subject: dict[str, Any]
    outcome: dict[str, Any] | None
    decided_on: date | None
    open_task_ids: list[int]
    decisions: list[ApprovalDecisionPublic]
    notes: list[RequestNotePublic]
    version: int


class ApprovalRequestsPublic(BaseModel):
    data: list[ApprovalRequestPublic]
    count: int


class WarningCasePublic(BaseModel):
    id: int
    loan_no: str
    state: str
    signals: list[str]
    description: str
    raised_by: str
    raised_on: date
    grade: str | None
    owner: str | None
    measures: list[str]
    disposal_plan: str | None
    deadline: date | None
    request_id: int | None
    closed_on: date | None
