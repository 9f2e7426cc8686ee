"""Pre-maturity work (DOMAIN §7): the maturity notice N days before maturity (N never below 10),
its generated document stored by content hash, the extension window, and the overdue notice the
day after an unpaid maturity."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlmodel import func, select

from core.calendar import BusinessCalendar
from core.settings import Settings
from loans.book import installments_of
from loans.models import ExtensionRequest, ExtensionStatus, Loan
from tasks import attachments
from tasks.models import Attachment, HumanTask
from tasks.notices import Notice, render_notice, rmb_upper, yuan
from tasks.pre_maturity import (
    extension_window_open,
    notice_days,
    plan_pre_maturity,
    schedule_pre_maturity,
)
from tests.factories import make_loan

ACTOR = "system:pre-maturity"
MATURITY = date(2026, 1, 15)  # L1: disbursed 2025-01-15 for 12 months; a Thursday


@pytest.fixture
def calendar() -> BusinessCalendar:
    return BusinessCalendar()


@pytest.fixture
def maturing(session, org, clock):
    return make_loan(session, org, clock, "L1", disbursed=date(2025, 1, 15))


def _schedule(session, calendar, clock, on, settings=None):
    result = schedule_pre_maturity(
        session, on=on, calendar=calendar, actor=ACTOR, now=clock.now(), settings=settings
    )
    session.commit()
    return result


def _tasks(session) -> dict[str, HumanTask]:
    return {t.key: t for t in session.exec(select(HumanTask)).all()}


def _pay_through(session, loan_no: str, last_due: date = date.max) -> None:
    loan = session.exec(select(Loan).where(Loan.loan_no == loan_no)).one()
    for inst in installments_of(session, loan.id):
        if inst.due_date > last_due:
            continue
        inst.principal_paid_cents, inst.interest_paid_cents = (
            inst.principal_due_cents,
            inst.interest_due_cents,
        )
        inst.paid_off_on = inst.due_date
        session.add(inst)
    session.commit()


def test_schedule_thirty_days_before_maturity_opens_notice_with_stored_document(
    session, org, clock, calendar, maturing
):
    assert _schedule(session, calendar, clock, date(2025, 12, 15)).created == {}  # 31 days
    result = _schedule(session, calendar, clock, date(2025, 12, 16))  # 30 days before
    task = _tasks(session)["maturity_notice:L1:2026-01-15"]
    assert result.created == {"maturity_notice": [task.id]}
    assert task.kind == "maturity_notice" and task.due_date == date(2026, 1, 5)  # ≥ 10 days
    assert task.candidate_user_id == org.users["am_bj1"].id
    assert task.exposure_cents == 120_000_00 == task.context["principal_outstanding_cents"]
    ref = task.context["notice_document"]
    html = attachments.read(ref["sha256"])
    assert hashlib.sha256(html).hexdigest() == ref["sha256"] and ref["size"] == len(html)
    assert session.get(Attachment, ref["sha256"]).content_type.startswith("text/html")
    text = html.decode("utf-8")
    for fact in ("贷款到期通知书", "L1", "客户C-L1", "北京分行", "2026年1月15日", "120,000.00"):
        assert fact in text
    assert "壹拾贰万元整" in text and "回　执" in text and "盖章" in text
    # The extension window (30 days) closes today: the notice still invites an application.
    assert task.context["extension_window_open"] is True
    assert "2025年12月16日前向我行提交书面展期申请" in text
    assert task.context["notice_no"] == "DQ-BJ01-L1-20260115"


def test_schedule_twice_second_run_creates_nothing_and_renders_nothing(
    session, clock, calendar, maturing
):
    _schedule(session, calendar, clock, date(2025, 12, 20))
    again = _schedule(session, calendar, clock, date(2025, 12, 21))
    assert again.created == {} and again.planned == 1
    assert session.exec(select(func.count()).select_from(HumanTask)).one() == 1
    assert session.exec(select(func.count()).select_from(Attachment)).one() == 1


def test_schedule_configured_five_days_clamped_to_ten(session, clock, calendar, maturing):
    settings = Settings().model_copy(update={"maturity_notice_days": 5})
    assert notice_days(settings) == 10
    assert _schedule(session, calendar, clock, date(2026, 1, 4), settings).created == {}
    result = _schedule(session, calendar, clock, date(2026, 1, 5), settings)  # 10 days before
    assert len(result.created["maturity_notice"]) == 1
    task = _tasks(session)["maturity_notice:L1:2026-01-15"]
    assert task.due_date == date(2026, 1, 5) and task.context["notice_days"] == 10
    assert task.context["extension_window_open"] is False  # too late for 展期
    assert "展期" not in attachments.read(task.context["notice_document"]["sha256"]).decode()


def test_plan_maturity_notice_due_rolls_to_previous_business_day(session, org, clock, calendar):
    # Maturity 2025-10-18 (Sat): ten days before is 2025-10-08, still the National Day holiday.
    make_loan(session, org, clock, "L2", disbursed=date(2025, 4, 18), months=6)
    (plan,) = plan_pre_maturity(session, on=date(2025, 9, 18), calendar=calendar)
    assert plan.row.key == "maturity_notice:L2:2025-10-18"
    assert plan.row.due_date == date(2025, 9, 30)


def test_extension_window_open_until_thirty_days_before(maturing):
    assert extension_window_open(maturing, date(2025, 12, 16), Settings())
    assert not extension_window_open(maturing, date(2025, 12, 17), Settings())


def test_schedule_day_after_unpaid_maturity_opens_overdue_notice(session, clock, calendar, org):
    make_loan(session, org, clock, "L3", disbursed=date(2024, 12, 1))  # matures 2025-12-01
    _pay_through(session, "L3", date(2025, 11, 1))  # the last installment is left unpaid
    assert _schedule(session, calendar, clock, date(2025, 12, 1)).created == {}  # maturity day
    result = _schedule(session, calendar, clock, date(2025, 12, 2))
    task = _tasks(session)["overdue_notice:L3:2025-12-01"]
    assert result.created == {"overdue_notice": [task.id]}
    assert task.due_date == date(2025, 12, 4)  # three business days after maturity
    assert task.context["days_overdue"] == 1 and task.bucket == "M1"
    text = attachments.read(task.context["notice_document"]["sha256"]).decode("utf-8")
    assert "贷款逾期通知书" in text and "已逾期 1 天" in text and "YQ-BJ01-L3-20251201" in text


def test_principal_paid_interest_unpaid_after_maturity_gets_the_overdue_notice(
    session, clock, calendar, org
):
    """The issue: principal paid but interest not — the notice was skipped."""
    loan = make_loan(session, org, clock, "L6", disbursed=date(2024, 12, 1))
    _pay_through(session, "L6", date(2025, 11, 1))
    last = installments_of(session, loan.id)[-1]
    last.principal_paid_cents = last.principal_due_cents  # the interest of it stays unpaid
    session.add(last)
    session.commit()
    result = _schedule(session, calendar, clock, date(2025, 12, 2))
    assert list(result.created) == ["overdue_notice"]
    task = _tasks(session)["overdue_notice:L6:2025-12-01"]
    assert task.context["principal_outstanding_cents"] == 0


def test_unpaid_maturity_found_weeks_later_gets_the_notice_once(session, clock, calendar, org):
    """The issue: only an unpaid maturity within 3 business days of it got the notice. A run
    weeks later (a scheduler outage, a loan imported late) opens it, due at once; never twice."""
    make_loan(session, org, clock, "L7", disbursed=date(2024, 12, 1))  # matures 2025-12-01
    _pay_through(session, "L7", date(2025, 11, 1))
    result = _schedule(session, calendar, clock, date(2026, 1, 20))
    task = _tasks(session)["overdue_notice:L7:2025-12-01"]
    assert result.created == {"overdue_notice": [task.id]}
    assert task.due_date == date(2026, 1, 20) and task.context["days_overdue"] == 50
    task.state = "completed"
    session.add(task)
    session.commit()
    for day in (date(2026, 1, 21), date(2026, 3, 1)):
        assert _schedule(session, calendar, clock, day).created == {}
    assert session.exec(select(func.count()).select_from(HumanTask)).one() == 1


def test_schedule_paid_or_extended_maturity_no_overdue_notice(session, clock, calendar, org):
    make_loan(session, org, clock, "L4", disbursed=date(2024, 12, 1))
    _pay_through(session, "L4")
    loan = make_loan(session, org, clock, "L5", disbursed=date(2024, 12, 1))
    session.add(
        ExtensionRequest(
            loan_id=loan.id,
            requested_by="am_bj1",
            requested_on=date(2025, 10, 20),
            new_maturity_date=date(2026, 6, 1),
            reason="订单回款延迟",
            status=ExtensionStatus.approved,
            approved_by="head_bj",
            decided_on=date(2025, 10, 30),
        )
    )
    session.commit()
    assert _schedule(session, calendar, clock, date(2025, 12, 2)).created == {}


def test_render_notice_amounts_in_words_and_figures():
    assert yuan(120_000_00) == "120,000.00" and yuan(5) == "0.05"
    assert rmb_upper(120_000_00) == "壹拾贰万元整"
    assert rmb_upper(1005_06) == "壹仟零伍元零陆分"
    assert rmb_upper(1_0001_0000_00) == "壹亿零壹万元整"
    assert rmb_upper(1680_32) == "壹仟陆佰捌拾元叁角贰分"
    notice = Notice(
        kind="maturity_notice",
        issued_on=date(2025, 12, 16),
        bank_name="北京分行",
        branch_code="BJ01",
        borrower_name="<script>x</script>",
        customer_no="C1",
        loan_no="L1",
        principal_cents=100,
        outstanding_principal_cents=100,
        interest_due_cents=0,
        disbursement_date=date(2025, 1, 15),
        maturity_date=MATURITY,
        manager_name="王晓明",
    )
    html = render_notice(notice)
    assert html == render_notice(notice)  # deterministic: the hash is reproducible
    assert "<script>" not in html and "&lt;script&gt;" in html
