"""The approval-chain flow under Prefect's test harness: an extension chain end to end through
the HTTP API (each decision continued by a flow run delivered from the outbox); the Prefect
server unreachable while a manager approves, then back — the chain completes exactly once; with
a real served runner in its own process (deployment delivery, for a work pool), the runner
killed while a chain waits — a new one completes it — and a burst of decisions made one run.
And the flow's own step doing the work when nothing was done eagerly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.deps import get_clock
from api.main import app
from approvals.models import ApprovalRequest
from audit.journal import JournalEntry
from core.clock import FixedClock
from loans.book import get_loan
from loans.demo import DEMO_PASSWORD
from statemachines.enums import LoanState, RequestState
from tasks.models import Outbox
from tests.approvals.conftest import APPROVE_EXTENSION, BIG, TODAY, pay_through
from tests.factories import make_loan

SERVE = "from flows.launch import APPROVAL_CHAIN, serve_all; serve_all([APPROVAL_CHAIN], limit=4)"


def _start_runner(database_url: str) -> subprocess.Popen[bytes]:
    """A `serve()` process for the approval-chain deployment, once it is registered."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "POSTLOAN_DATABASE_URL": database_url,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    proc = subprocess.Popen([sys.executable, "-c", SERVE], env=env, start_new_session=True)
    with get_client(sync_client=True) as client:
        for _ in range(600):  # the process imports Prefect and registers the deployment
            try:
                client.read_deployment_by_name("approval-chain/approval-chain")
                return proc
            except ObjectNotFound:
                try:
                    proc.wait(timeout=0.1)  # waits on the process: an early exit is a failure
                    raise AssertionError("the runner exited before serving")
                except subprocess.TimeoutExpired:
                    pass
    _stop(proc)
    raise TimeoutError("the runner did not register the approval-chain deployment")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)  # the runner and the run processes it started
        proc.wait(30)


class Runner:
    """The served approval-chain process, shared by the tests of this module (it takes seconds
    to start); a test may kill it and start another."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.proc = _start_runner(database_url)

    def kill(self) -> None:
        _stop(self.proc)

    def restart(self) -> None:
        self.kill()
        self.proc = _start_runner(self.database_url)


@pytest.fixture(scope="module")
def served(prefect_harness, migrated_engine, database_url) -> Iterator[Runner]:
    runner = Runner(database_url)
    yield runner
    runner.kill()


@pytest.fixture
def runner(served: Runner, engine) -> Runner:
    if served.proc.poll() is not None:  # killed by a test before: a new one
        served.restart()
    return served


@pytest.fixture
def api(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    make_loan(session, org, clock, "L2", principal_cents=BIG)
    pay_through(session, clock, "L2", TODAY)
    fixed = FixedClock()
    fixed.set_date(TODAY)
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        yield client
    app.dependency_overrides.clear()


def _headers(client: TestClient, username: str) -> dict[str, str]:
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _deliver(mode: str = "deployment") -> None:
    """What the dispatcher does: deliver every due outbox row."""
    from flows.dispatch import deliver_due

    report = deliver_due(mode=mode)
    assert report.failed == 0, report.errors


def _runs_done(engine, timeout: float = 90) -> list[str]:
    """Wait (with Prefect's client) until every delivered row's run is final; their states."""
    from prefect.flow_runs import wait_for_flow_run

    with Session(engine) as s:
        ids = [row.flow_run_id for row in s.exec(select(Outbox)) if row.flow_run_id]

    async def wait_all() -> list[str]:
        runs = [await wait_for_flow_run(run_id, timeout=int(timeout)) for run_id in ids]
        return [run.state.type.value for run in runs]

    return asyncio.run(wait_all())


def _decide(client: TestClient, username: str, data: dict) -> None:
    h = _headers(client, username)
    [task] = client.get("/api/v1/tasks", params={"view": "queue"}, headers=h).json()["data"]
    assert client.post(f"/api/v1/tasks/{task['id']}/claim", headers=h).status_code == 200
    done = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=h)
    assert done.status_code == 200, done.json()


def _apply(client: TestClient) -> dict:
    response = client.post(
        "/api/v1/loans/L2/extension-requests",
        json={"new_maturity_date": "2026-07-15", "reason": "下游客户回款延迟三个月"},
        headers=_headers(client, "am_bj1"),
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_extension_chain_end_to_end_over_http_each_decision_continued_by_a_run(runner, api, engine):
    request = _apply(api)
    assert (request["state"], request["level"]) == ("pending", 1)  # no run: nothing to continue
    _decide(api, "head_bj", APPROVE_EXTENSION)  # above the head's authority: on to level 2
    _deliver()
    _decide(api, "committee1", APPROVE_EXTENSION)
    _deliver()
    assert _runs_done(engine) == ["COMPLETED"] * 2
    with Session(engine) as s:
        loan = get_loan(s, "L2")
        assert (loan.state, loan.maturity_date) == (LoanState.extended, date(2026, 7, 15))
        [row] = s.exec(select(ApprovalRequest)).all()
        assert (row.state, row.outcome["new_maturity_date"]) == (
            RequestState.approved,
            "2026-07-15",
        )
    detail = api.get(f"/api/v1/approval-requests/{request['id']}", headers=_headers(api, "auditor"))
    assert [(d["level_name"], d["decided_by"]) for d in detail.json()["decisions"]] == [
        ("支行负责人审批", "head_bj"),
        ("信贷评审委员会审批", "committee1"),
    ]


def test_runner_killed_while_chain_waits_a_new_runner_completes_it(runner, api, engine):
    _apply(api)
    _decide(api, "head_bj", APPROVE_EXTENSION)
    _deliver()
    assert _runs_done(engine) == ["COMPLETED"]
    runner.kill()  # the chain waits at level 2 with no process at all
    _decide(api, "committee1", APPROVE_EXTENSION)
    _deliver()  # a run scheduled, nobody to run it …
    runner.restart()  # … until a new runner comes up
    assert _runs_done(engine) == ["COMPLETED"] * 2
    with Session(engine) as s:
        assert s.exec(select(ApprovalRequest)).one().state == RequestState.approved


def test_flow_step_does_the_work_when_nothing_was_done_eagerly(engine, session, org, clock, small):
    """A request recorded without starting its chain: the flow's step starts it and opens the
    first level's task; a second run finds nothing to do."""
    from approvals.chains import chain_for
    from approvals.records import journal_opened
    from flows.approval_chain import advance_one
    from statemachines.enums import RequestKind

    request = ApprovalRequest(
        kind=RequestKind.classification.value, loan_id=small.id, loan_no="L1",
        branch_id=small.branch_id, branch_path="/HO/BJ01/",
        chain=[lv.model_dump(mode="json") for lv in chain_for(RequestKind.classification).levels],
        requested_by="u:am_bj1", requested_by_id=org.users["am_bj1"].id, requested_on=TODAY,
        reason="经营恶化", subject={"proposed_class": "special_mention", "current_class": "pass"},
        created_at=datetime.now(), updated_at=datetime.now(),
    )  # fmt: skip
    session.add(request)
    session.flush()
    journal_opened(session, request, now=clock.now(), business_date=TODAY)
    session.commit()
    first = advance_one(request.id)
    again = advance_one(request.id)
    assert (first["state"], first["level"]) == ("pending", 1) and first["task_id"]
    assert again == first


def test_dispatcher_backoff_grows_and_is_capped(monkeypatch):
    from core.settings import get_settings
    from flows.dispatch import backoff

    monkeypatch.setenv("POSTLOAN_OUTBOX_BACKOFF_MAX_SECONDS", "60")
    get_settings.cache_clear()
    assert [backoff(n) for n in (1, 2, 5, 6, 10)] == [
        timedelta(seconds=s) for s in (2, 4, 32, 60, 60)
    ]
    get_settings.cache_clear()


def test_burst_of_decisions_is_one_run(runner, api, engine, session, org, clock):
    make_loan(session, org, clock, "L3", principal_cents=BIG)
    pay_through(session, clock, "L3", TODAY)
    for loan_no in ("L2", "L3"):
        response = api.post(
            f"/api/v1/loans/{loan_no}/extension-requests",
            json={"new_maturity_date": "2026-07-15", "reason": "下游客户回款延迟"},
            headers=_headers(api, "am_bj1"),
        )
        assert response.status_code == 201
    h = _headers(api, "head_bj")
    for task in api.get("/api/v1/tasks", params={"view": "queue"}, headers=h).json()["data"]:
        api.post(f"/api/v1/tasks/{task['id']}/claim", headers=h)
        api.post(
            f"/api/v1/tasks/{task['id']}/complete", json={"data": APPROVE_EXTENSION}, headers=h
        )
    from flows.dispatch import deliver_due

    report = deliver_due(mode="deployment")
    assert (report.delivered, report.runs) == (2, 1)
    assert _runs_done(engine) == ["COMPLETED", "COMPLETED"]  # both rows name the one run


def test_prefect_down_while_approving_then_back_chain_completes_exactly_once(
    prefect_harness, api, engine, monkeypatch
):
    """Inline delivery (one machine: the dispatcher's own process runs the continuation)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    import flows.dispatch as dispatch

    later = FixedClock()
    later.set_date(TODAY)
    monkeypatch.setattr(dispatch, "clock", lambda: later)
    _apply(api)
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):  # nothing listens
        _decide(api, "head_bj", APPROVE_EXTENSION)  # the approval stands: it is committed
        report = dispatch.deliver_due(mode="inline")
        assert (report.delivered, report.runs, report.failed) == (0, 0, 1)
    with Session(engine) as s:
        [row] = s.exec(select(Outbox)).all()
        assert row.delivered_at is None and row.attempts == 1 and row.last_error
        assert s.exec(select(ApprovalRequest)).one().level == 2
    assert dispatch.deliver_due(mode="inline").delivered == 0  # waiting out the backoff
    later.advance(seconds=3)
    assert dispatch.deliver_due(mode="inline").delivered == 1  # Prefect is back
    assert dispatch.deliver_due(mode="inline").delivered == 0  # delivered once
    _decide(api, "committee1", APPROVE_EXTENSION)
    later.advance(seconds=1)
    assert dispatch.deliver_due(mode="inline").delivered == 1
    assert _runs_done(engine) == ["COMPLETED"] * 2
    with Session(engine) as s:
        loan_events = [
            e.event for e in s.exec(select(JournalEntry).where(JournalEntry.aggregate_id == "L2"))
        ]
        assert loan_events.count("approve_extension") == 1
        assert get_loan(s, "L2").state == LoanState.extended
