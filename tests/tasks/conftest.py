"""Fixtures for human tasks: a loan in BJ01 and a way to act as any demo user."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from core.identity import Role, user_by_username
from loans.book import get_loan
from tasks.access import Actor, actor_for
from tasks.opening import TaskSpec, open_task
from tests.factories import make_loan

TODAY = date(2025, 3, 3)


@pytest.fixture(autouse=True)
def attachments_dir(tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "attachments"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def loan(session, org, clock):
    loan = make_loan(session, org, clock, "L1")
    loan.assistant_manager_id = org.users["am_bj2"].id
    session.add(loan)
    session.commit()
    return get_loan(session, "L1")


def as_user(session: Session, username: str, on: date = TODAY) -> Actor:
    return actor_for(session, user_by_username(session, username), on)


def new_task(
    session,
    org,
    clock,
    loan=None,
    *,
    kind="loan_card_check",
    key="T1",
    role=Role.account_manager,
    unit="BJ01",
    due=date(2025, 3, 20),
    **kw,
):
    spec = TaskSpec(
        kind=kind,
        key=key,
        title=f"{kind} {key}",
        due_date=due,
        org_unit=org.units[unit],
        candidate_role=role,
        loan=loan,
        **kw,
    )
    task, created = open_task(
        session, spec, actor="system:test", now=clock.now(), business_date=TODAY
    )
    session.commit()
    return task
