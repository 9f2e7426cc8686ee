"""A small world for the replay tests (API, pages, browser): loan L1 extended on head_bj's
approval, loan L2 reclassified special mention by head_bj then committee1 on a proposal that
carries a PDF as evidence; business date 2025-10-09 (tests/approvals/conftest.TODAY)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from fastapi.testclient import TestClient
from sqlmodel import Session

from api.deps import get_clock
from api.main import app
from approvals.filing import file_extension, propose_classification
from approvals.models import ApprovalRequest
from cases.completion import EFFECTS
from core.clock import FixedClock
from loans.demo import DemoOrg
from statemachines.enums import RiskClass
from tasks import attachments
from tests.approvals.conftest import APPROVE_EXTENSION, TODAY, decide, level_task, pay_through, who
from tests.factories import make_loan

CONFIRM_SM = {"decision": "approve", "confirmed_class": "special_mention", "opinion": "经营下滑"}
PDF = b"%PDF-1.4 evidence of lost customers"


@dataclass
class ReplayWorld:
    extension: ApprovalRequest
    proposal: ApprovalRequest
    extension_task_id: int
    evidence_sha256: str


def build(session: Session, org: DemoOrg, clock: FixedClock) -> ReplayWorld:
    for loan_no in ("L1", "L2"):
        make_loan(session, org, clock, loan_no)
        pay_through(session, clock, loan_no, TODAY)
    clock.set_date(TODAY, hour=10)
    extension = file_extension(
        session, "L1", who(session, "am_bj1"), EFFECTS, new_maturity_date=date(2026, 7, 15),
        reason="订单回款延迟", financial_difficulty=False, guarantor_consents=[],
        now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    session.commit()
    task = level_task(session, extension)
    clock.set_date(TODAY, hour=15)
    decide(session, clock, task, "head_bj", APPROVE_EXTENSION)
    ref = attachments.store(
        session, data=PDF, filename="客户流失说明.pdf", content_type="application/pdf",
        uploaded_by=org.users["am_bj1"].id or 0, now=clock.now(),
    )  # fmt: skip
    proposal = propose_classification(
        session, "L2", who(session, "am_bj1"), EFFECTS, proposed_class=RiskClass.special_mention,
        reason="主要客户流失，销售额下降三成", evidence=[ref], now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    session.commit()
    decide(session, clock, level_task(session, proposal), "head_bj", CONFIRM_SM)
    decide(session, clock, level_task(session, proposal), "committee1", CONFIRM_SM)
    return ReplayWorld(extension, proposal, task.id or 0, ref.sha256)


@contextmanager
def web_client() -> Iterator[TestClient]:
    """The app as on the world's day (TODAY, 18:00 bank time): its clock fixed there."""
    fixed = FixedClock()
    fixed.set_date(TODAY, hour=18)
    app.dependency_overrides[get_clock] = lambda: fixed
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.clear()
