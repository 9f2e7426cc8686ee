"""SQL statements per task request (issue #11 part 3): a claim and a completion over HTTP each run
a known, small number of statements in one pooled connection, so a regression (the user, roles
and org unit reloaded one by one, an ORM round trip more per journal entry) shows here and not
only in bench/complete.py. Counted on the engine the app uses; BEGIN/COMMIT are not statements
SQLAlchemy's cursor events see on Postgres, and are left out on SQLite for the same count."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlmodel import Session, select

from api.auth import issue_token
from api.deps import get_clock
from api.main import app
from audit.journal import JournalEntry
from core.clock import FixedClock
from tasks.models import HumanTask, Outbox
from tests.factories import make_loan
from tests.tasks.conftest import new_task
from tests.tasks.payloads import LOAN_CARD_CHECK

# What one request needs (Postgres and SQLite alike):
#   sign-in: the user with their roles and org unit (1), whom they stand in for today (1);
#   the task locked (1); the task updated (1); the chain head locked (1); the journal entry (1);
#   the chain head moved (1) — a completion also writes its outbox row (1).
# The head is inserted instead of updated for a task's first entry; opening journals one.
CLAIM_STATEMENTS = 6
COMPLETE_STATEMENTS = 7


@pytest.fixture
def counted(engine, session, org, clock, monkeypatch, tmp_path):
    """A loan-card check whose completion continues a flow (so the outbox is written), a client
    signed in as am_bj1, and the statements each request runs."""
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))

    async def now() -> FixedClock:
        return fixed

    app.dependency_overrides[get_clock] = now
    loan = make_loan(session, org, clock, "L1")
    task = new_task(
        session, org, clock, loan, context={"continue": {"flow": "bench", "parameters": {}}}
    )
    session.commit()
    statements: list[tuple[int, str]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        if not sql.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append((threading.get_ident(), sql))

    auth = {"Authorization": f"Bearer {issue_token(org.users['am_bj1'], fixed)}"}
    with TestClient(app) as client:
        client.get("/healthz")  # whatever the app does once on its first request
        yield client, auth, task.id, statements
    event.remove(engine, "before_cursor_execute", _count)
    app.dependency_overrides.clear()


def run(client: TestClient, statements: list[tuple[int, str]], *args: Any, **kw: Any) -> list[str]:
    statements.clear()
    response = client.post(*args, **kw)
    assert response.status_code == 200, response.text
    return [sql for _, sql in statements]


def test_claim_and_complete_run_a_known_number_of_statements(counted, engine):
    client, auth, task_id, statements = counted
    claim = run(client, statements, f"/api/v1/tasks/{task_id}/claim", headers=auth)
    done = run(
        client,
        statements,
        f"/api/v1/tasks/{task_id}/complete",
        json={"data": LOAN_CARD_CHECK},
        headers=auth,
    )
    assert len(claim) == CLAIM_STATEMENTS, "\n".join(claim)
    assert len(done) == COMPLETE_STATEMENTS, "\n".join(done)
    with Session(engine) as s:  # and the work they did is all there
        task = s.get(HumanTask, task_id)
        assert task is not None and str(task.state) == "completed"
        events = s.exec(
            select(JournalEntry.event).where(JournalEntry.aggregate_id == str(task_id))
        ).all()
        assert list(events) == ["open", "claim", "complete"]
        assert s.exec(select(Outbox.key)).all() == [f"task:{task_id}:complete"]


def test_a_request_runs_its_statements_in_one_thread_on_one_connection(counted, engine):
    client, auth, task_id, statements = counted
    connections: list[int] = []

    @event.listens_for(engine, "checkout")
    def _out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        connections.append(id(dbapi_conn))

    try:
        run(client, statements, f"/api/v1/tasks/{task_id}/claim", headers=auth)
        assert len({thread for thread, _ in statements}) == 1
        assert len(connections) == 1
    finally:
        event.remove(engine, "checkout", _out)


def _deactivate(engine, username: str) -> None:
    from core.identity import User

    with Session(engine) as s:
        user = s.exec(select(User).where(User.username == username)).one()
        user.active = False
        s.add(user)
        s.commit()


@pytest.mark.parametrize("body", [{"data": LOAN_CARD_CHECK}, {"data": "not a form"}, {}])
def test_complete_by_a_user_deactivated_since_sign_in_is_401_whatever_the_body(
    counted, engine, body
):
    """The user is read in the endpoint's hop; who is asking still counts before the body: a
    bad body from a deactivated user is refused as the user, not as the body (401, not 422)."""
    client, auth, task_id, statements = counted
    run(client, statements, f"/api/v1/tasks/{task_id}/claim", headers=auth)
    _deactivate(engine, "am_bj1")
    refused = client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=auth)
    assert refused.status_code == 401, refused.text
    assert refused.json()["detail"]["code"] == "not_authenticated"
    with Session(engine) as s:
        task = s.get(HumanTask, task_id)
        assert task is not None and str(task.state) == "claimed"


def test_a_bad_body_from_an_active_user_is_still_422(counted):
    client, auth, task_id, statements = counted
    run(client, statements, f"/api/v1/tasks/{task_id}/claim", headers=auth)
    bad = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": 3}, headers=auth)
    assert bad.status_code == 422, bad.text


def test_routes_that_take_the_actor_read_it_in_the_endpoint_hop():
    """Only a route whose other dependencies need the actor first (they would get the
    placeholder) reads it in a hop of its own — the portfolio report's shared `build`."""
    from fastapi.routing import iter_route_contexts

    from api.deps import OneHopRoute

    own_hop = sorted(
        o.endpoint.__name__
        for o in (r.original_route for r in iter_route_contexts(app.routes))
        if isinstance(o, OneHopRoute) and not o.defers_sign_in
    )
    assert own_hop == sorted(["read_portfolio_report", "download_portfolio_csv",
                              "download_portfolio_xlsx", "portfolio_page", "tiers_chart",
                              "roll_chart"])  # fmt: skip
