"""第七条 contagion over the borrower's claims on the books: a written-off or settled loan is no
claim any more; more than 10 % (not exactly) of the others 不良 makes the loan 不良; retail
borrowers are exempt."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from loans.floors import floor_for
from loans.models import BorrowerKind
from statemachines.enums import RiskClass
from tests.factories import make_borrower, make_loan

ON = date(2025, 2, 10)  # nothing due yet: no days past due


def _two(session, org, clock, npl_principal, other_principal, kind=BorrowerKind.corporate):
    borrower = make_borrower(session, org, "B", kind=kind)
    make_loan(session, org, clock, "L1", borrower=borrower, principal_cents=other_principal)
    make_loan(session, org, clock, "L2", borrower=borrower, principal_cents=npl_principal)
    session.execute(text("UPDATE loans SET risk_class = 'substandard', state = 'non_performing' "
                         "WHERE loan_no = 'L2'"))  # fmt: skip
    session.commit()


def _floor(session):
    from loans.book import get_loan

    return floor_for(session, get_loan(session, "L1"), ON)


def test_written_off_loan_not_counted_forever(session, org, clock):
    _two(session, org, clock, npl_principal=100_000_00, other_principal=500_000_00)
    assert _floor(session).risk_class == RiskClass.substandard  # 1/6 of the claims 不良
    session.execute(text("UPDATE loans SET state = 'written_off', risk_class = 'loss' "
                         "WHERE loan_no = 'L2'"))  # fmt: skip
    session.commit()
    assert _floor(session).risk_class == RiskClass.pass_  # off the books: no claim any more


def test_exactly_ten_percent_is_not_more_than_ten(session, org, clock):
    _two(session, org, clock, npl_principal=10_000_00, other_principal=90_000_00)
    assert "contagion_npl_share" not in _floor(session).reasons  # 10 % exactly


def test_just_above_ten_percent_is_contagious(session, org, clock):
    _two(session, org, clock, npl_principal=10_000_01, other_principal=90_000_00)
    assert _floor(session).reasons == ("contagion_npl_share",)


def test_retail_borrower_exempt(session, org, clock):
    _two(session, org, clock, npl_principal=500_000_00, other_principal=100_000_00,
         kind=BorrowerKind.individual)  # fmt: skip
    assert _floor(session).risk_class == RiskClass.pass_
