"""Withdrawing a request for someone else: a deputy (代理) stands in for the applicant, or for a
head, while the substitution runs — the journal records on whose behalf — and not after it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from approvals.filing import propose_classification
from approvals.requests import withdraw
from audit.journal import JournalEntry
from cases.completion import EFFECTS
from core.errors import PermissionDeniedError
from core.identity import add_substitute
from statemachines.enums import RequestState, RiskClass
from tests.approvals.conftest import TODAY, who


def _proposal(session, clock):
    request = propose_classification(
        session, "L1", who(session, "am_bj1"), EFFECTS, proposed_class=RiskClass.special_mention,
        reason="主要客户流失", now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    session.commit()
    return request


def _deputy(session, org, principal, deputy="am_sh2", days=3):
    add_substitute(session, principal=org.users[principal], deputy=org.users[deputy],
                   starts_on=TODAY - timedelta(days=days), ends_on=TODAY + timedelta(days=days))  # fmt: skip
    session.commit()


def _withdraw(session, clock, request, username, on=TODAY):
    withdraw(session, request.id, who(session, username, on), EFFECTS, reason="客户已还清",
             now=clock.now(), business_date=on)  # fmt: skip
    session.commit()


def _entry(session, request):
    return session.exec(
        select(JournalEntry).where(
            JournalEntry.aggregate_id == str(request.id), JournalEntry.event == "withdraw"
        )
    ).one()


@pytest.mark.parametrize("principal", ["am_bj1", "head_bj"])
def test_withdraw_by_deputy_of_applicant_or_head_withdrawn_on_their_behalf(
    session, org, clock, small, principal
):
    request = _proposal(session, clock)
    _deputy(session, org, principal)
    _withdraw(session, clock, request, "am_sh2")
    assert request.state == RequestState.withdrawn
    entry = _entry(session, request)
    assert (entry.actor, entry.on_behalf_of) == ("u:am_sh2", f"u:{principal}")


def test_withdraw_by_deputy_after_substitution_ended_not_found(session, org, clock, small):
    from core.errors import NotFoundError

    request = _proposal(session, clock)
    _deputy(session, org, "am_bj1", days=3)
    with pytest.raises(NotFoundError):  # am_sh2 no longer sees BJ01 at all
        _withdraw(session, clock, request, "am_sh2", on=TODAY + timedelta(days=4))


def test_withdraw_by_deputy_of_a_colleague_permission_denied(session, org, clock, small):
    request = _proposal(session, clock)
    _deputy(session, org, "am_bj2", deputy="am_bj3")
    with pytest.raises(PermissionDeniedError):
        _withdraw(session, clock, request, "am_bj3")
