"""What bots file on their own initiative, as the people they stand in for would: an extension
for a struggling borrower well before maturity, the write-off of a 损失 loan, the handover of a
long-defaulted loan to asset disposal — through approvals.filing, the calls the request pages
make. A refusal (term limits, a missing consent, not the filer's loan) is counted, not hidden."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from sqlmodel import col, select

from approvals.filing import file_extension, file_handover, file_write_off
from approvals.models import ApprovalRequest
from cases.completion import EFFECTS
from core.db import session_scope
from core.errors import PostloanError
from loans.models import Collateral, Loan
from sim.bots import Staff
from sim.params import Profile, SimParams, draw
from statemachines.enums import LoanState, RiskClass
from tasks.access import Actor

EXTEND_BEFORE = 45  # days before maturity an account manager applies (≥ 30: DOMAIN §6)
ACTIVE_REQUEST = ("submitted", "pending", "returned")


def file_requests(
    params: SimParams, staff: Staff, profiles: dict[str, str], day: date, now: datetime
) -> Counter[str]:
    filed: Counter[str] = Counter()
    with session_scope() as session:
        pending = set(
            session.exec(
                select(ApprovalRequest.loan_id).where(
                    col(ApprovalRequest.state).in_(ACTIVE_REQUEST)
                )
            ).all()
        )
        maturing = session.exec(
            select(Loan.id, Loan.loan_no, Loan.account_manager_id, Loan.maturity_date).where(
                Loan.maturity_date == day + timedelta(days=EXTEND_BEFORE),
                col(Loan.state).in_((LoanState.normal.value, LoanState.watched.value)),
            )
        ).all()
        lost = session.exec(
            select(Loan.id, Loan.loan_no, Loan.account_manager_id).where(
                Loan.risk_class == RiskClass.loss.value,
                col(Loan.state).in_((LoanState.non_performing.value,)),
            )
        ).all()
        defaulted = session.exec(
            select(Loan.id, Loan.loan_no, Loan.account_manager_id).where(
                Loan.state == LoanState.non_performing.value,
                col(Loan.handed_over).is_(False),
                col(Loan.days_past_due) > 180,
            )
        ).all()
    for loan_id, loan_no, manager, maturity in maturing:
        if loan_id in pending or profiles.get(loan_no) not in (Profile.late_cured, Profile.chronic):
            continue
        if draw(params.seed, "extend", loan_no) < 0.4:
            _file(filed, "extension", lambda s, a, n=loan_no, m=maturity, i=loan_id: file_extension(
                s, n, a, EFFECTS, new_maturity_date=m + timedelta(days=180),
                reason="下游回款周期延长，申请展期六个月", financial_difficulty=False,
                guarantor_consents=_consents(s, staff, i, a, now), now=now, business_date=day,
            ), staff, manager)  # fmt: skip
    for loan_id, loan_no, manager in lost:
        if loan_id not in pending:
            _file(filed, "write_off", lambda s, a, n=loan_no: file_write_off(
                s, n, a, EFFECTS, reason="借款人已无偿债能力，担保追偿无果，申请核销",
                now=now, business_date=day), staff, manager)  # fmt: skip
            pending.add(loan_id)
    for loan_id, loan_no, manager in defaulted:
        if loan_id not in pending:
            _file(filed, "handover", lambda s, a, n=loan_no: file_handover(
                s, n, a, EFFECTS, reason="逾期超过180天，催收无果，移交资产处置",
                now=now, business_date=day), staff, manager)  # fmt: skip
    return filed


def _consents(session, staff: Staff, loan_id: int, actor: Actor, now: datetime) -> list[dict]:
    guarantors = session.exec(
        select(Collateral.guarantor_name).where(
            Collateral.loan_id == loan_id, col(Collateral.guarantor_name).is_not(None)
        )
    ).all()
    _, document = staff.evidence(actor.me.user.id or 0, now)
    return [{"guarantor": g, "attachment": document} for g in guarantors]


def _file(filed: Counter[str], kind: str, call, staff: Staff, manager: int) -> None:  # type: ignore[no-untyped-def]
    try:
        with session_scope() as session:
            call(session, Actor(staff.principals[manager]))
    except PostloanError as exc:
        filed[f"{kind} refused: {exc.code}"] += 1
        return
    filed[kind] += 1
