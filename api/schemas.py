"""API schemas (<Noun>Public, <Noun>sPublic). Money is given in cents and as a yuan string."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# Times are stored as naive UTC; the API always says so (2026-03-02T08:00:00Z), never a bare time
UtcDatetime = Annotated[datetime, AfterValidator(_aware)]


class LoanPublic(BaseModel):
    loan_no: str
    borrower: str
    branch: str
    account_manager: str
    product: str
    state: str
    risk_class: str
    principal_cents: int
    outstanding_principal_cents: int
    disbursement_date: date
    maturity_date: date
    version: int


class LoansPublic(BaseModel):
    data: list[LoanPublic]
    count: int


class InstallmentPublic(BaseModel):
    seq_no: int
    due_date: date
    principal_due_cents: int
    interest_due_cents: int
    principal_paid_cents: int
    interest_paid_cents: int
    paid_off_on: date | None


class StudentLoanPublic(BaseModel):
    """国家助学贷款: the school facts, the repayment start and the state's in-school interest
    (财政贴息) of the periods ended by the loan's date, as recorded then."""

    institution_code: str
    institution_name: str
    institution_kind: str | None
    status: str
    enrolment_date: date
    expected_graduation_date: date
    graduation_date: date | None
    graduation_confirmed_on: date | None
    grace_months: int
    repayment_start: date
    subsidised: bool
    subsidy_cents: int


class LoanDetailPublic(LoanPublic):
    as_of: date | None = None  # set: every field is as of that date (state, class, schedule…)
    repayment_method: str
    annual_rate: str
    days_past_due: int
    outstanding_cents: int
    class_floor: str
    class_floor_rules: list[str]
    installments: list[InstallmentPublic]
    student: StudentLoanPublic | None = None  # a student-loan product's loan only


class JournalEntryPublic(BaseModel):
    seq: int
    business_date: date
    wall_time: UtcDatetime
    machine: str
    event: str
    from_state: str | None
    to_state: str | None
    actor: str
    on_behalf_of: str | None
    reason: str | None
    payload: dict[str, Any]
    hash: str


class LoanHistoryPublic(BaseModel):
    loan_no: str
    as_of: date | None
    states: dict[str, str]
    stored: dict[str, str]
    matches_stored: bool | None
    problems: list[str]
    entries: list[JournalEntryPublic]


class VerifyFindingPublic(BaseModel):
    kind: str = Field(
        description="altered | missing | relinked | head_mismatch | anchor_mismatch | "
        "anchor_missing | anchor_forged | log_broken | bad_signature | unknown_key"
    )
    aggregate_type: str
    aggregate_id: str
    chain_seq: int | None
    entry_id: int | None
    detail: str


class VerifyPublic(BaseModel):
    ok: bool
    chains: int
    entries: int
    anchors: int
    breaks: list[str]
    signed_anchors: int = 0
    legacy_anchors: int = Field(0, description="Anchors written before signing (database only).")
    pending_anchors: int = 0
    anchored_through: int = Field(0, description="The last journal id an anchor covers.")
    unanchored: int = Field(0, description="Entries after the last anchor: not yet protected.")
    unanchored_first: int | None = None
    unanchored_last: int | None = None
    key_ids: list[str] = []
    findings: list[VerifyFindingPublic] = []
    summary: list[str] = Field([], description="The report as `postloan audit verify` prints it.")
