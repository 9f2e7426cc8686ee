"""Under load (issue #9, point 7): no connection is held while a request waits for a thread, at
most `api_threads` requests are inside at once, a full queue or an empty pool answers 503 with
Retry-After, never 500, and nothing is half-saved."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import event
from sqlmodel import Session, select

import core.db
from api import limits
from api.auth import issue_token
from api.deps import OneHopRoute, get_clock, get_session
from api.main import app
from audit.journal import JournalEntry
from core.clock import FixedClock
from core.db import make_engine
from core.settings import get_settings
from tasks.models import HumanTask
from tests.factories import make_loan
from tests.tasks.conftest import new_task
from tests.tasks.payloads import LOAN_CARD_CHECK

TASKS = 8


@pytest.fixture
def fixed() -> FixedClock:
    clock = FixedClock()
    clock.set_date(date(2025, 3, 3))
    return clock


@pytest.fixture
def world(engine, session, org, clock, fixed, monkeypatch, tmp_path):
    """Eight open loan-card checks in BJ01 and a bearer header for am_bj1."""
    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    ids = []
    for n in range(TASKS):
        loan = make_loan(session, org, clock, f"L{n}")
        ids.append(new_task(session, org, clock, loan, key=f"T{n}").id)

    async def now() -> FixedClock:  # async: the clock costs no thread hop
        return fixed

    app.dependency_overrides[get_clock] = now
    yield ids, {"Authorization": f"Bearer {issue_token(org.users['am_bj1'], fixed)}"}
    app.dependency_overrides.clear()


def settings_env(monkeypatch: pytest.MonkeyPatch, **values: Any) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"POSTLOAN_{name.upper()}", str(value))
    get_settings.cache_clear()


def small_pool(monkeypatch: pytest.MonkeyPatch, engine: Any, timeout: float) -> Any:
    """The app's engine replaced by one with a single connection."""
    small = make_engine(
        engine.url.render_as_string(hide_password=False),
        pool_size=1,
        max_overflow=0,
        pool_timeout=timeout,
    )
    monkeypatch.setitem(core.db._engines, str(get_settings().database_url), small)
    return small


def in_app_loop(work: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await work(client)

    return asyncio.run(main())


def test_claim_complete_with_pool_of_one_and_fewer_threads_than_clients_never_500(
    world, engine, monkeypatch
):
    ids, auth = world
    settings_env(monkeypatch, api_threads=4)
    small = small_pool(monkeypatch, engine, timeout=3)
    taken: dict[int, int] = {}
    crossed: list[str] = []  # a connection given back by another thread than took it

    @event.listens_for(small, "checkout")
    def _out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        taken[id(dbapi_conn)] = threading.get_ident()

    @event.listens_for(small, "checkin")
    def _in(dbapi_conn: Any, record: Any) -> None:
        if taken.pop(id(dbapi_conn), None) != threading.get_ident():
            crossed.append(threading.current_thread().name)

    async def eight(client: httpx.AsyncClient) -> list[tuple[int, int]]:
        # four threads for eight clients, as before the fix when the threads ran out
        anyio.to_thread.current_default_thread_limiter().total_tokens = 4

        async def one(task_id: int) -> tuple[int, int]:
            claim = await client.post(f"/api/v1/tasks/{task_id}/claim", headers=auth)
            done = await client.post(
                f"/api/v1/tasks/{task_id}/complete", json={"data": LOAN_CARD_CHECK}, headers=auth
            )
            return claim.status_code, done.status_code

        return await asyncio.gather(*(one(i) for i in ids))

    statuses = in_app_loop(eight)
    assert {s for pair in statuses for s in pair} <= {200, 503}, statuses
    assert not crossed
    with Session(engine) as s:  # nothing half-saved: completed ⇔ a completion in the journal
        for task_id, (_, done) in zip(ids, statuses, strict=True):
            task = s.get(HumanTask, task_id)
            assert task is not None
            events = s.exec(
                select(JournalEntry.event).where(
                    JournalEntry.aggregate_type == "task", JournalEntry.aggregate_id == str(task_id)
                )
            ).all()
            assert (str(task.state) == "completed") == (done == 200) == ("complete" in events)
    small.dispose()


def test_request_when_queue_full_gets_503_with_retry_after(world, monkeypatch):
    _, auth = world
    settings_env(monkeypatch, api_threads=1, api_queue_size=0, api_retry_after_seconds=3)

    async def busy(client: httpx.AsyncClient) -> tuple[httpx.Response, httpx.Response]:
        gate = limits.gate()
        await gate.places.acquire()  # the only place is taken
        try:
            refused = await client.get("/api/v1/tasks", headers=auth)
        finally:
            gate.places.release()
        return refused, await client.get("/api/v1/tasks", headers=auth)

    refused, served = in_app_loop(busy)
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "3"
    detail = refused.json()["detail"]
    assert detail["code"] == "busy" and detail["message"].startswith("服务器繁忙")
    assert detail["context"] == {"retry_after_seconds": 3, "reason": "queue_full"}
    assert served.status_code == 200


def test_request_waiting_past_queue_timeout_gets_503(world, monkeypatch):
    _, auth = world
    settings_env(monkeypatch, api_threads=1, api_queue_size=5, api_queue_timeout_seconds=0.2)

    async def wait(client: httpx.AsyncClient) -> httpx.Response:
        gate = limits.gate()
        await gate.places.acquire()
        try:
            return await client.get("/api/v1/tasks", headers=auth)
        finally:
            gate.places.release()

    refused = in_app_loop(wait)
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    assert refused.json()["detail"]["context"]["reason"] == "queue_timeout"


def test_request_when_no_connection_comes_free_gets_503_not_500(world, engine, monkeypatch):
    _, auth = world
    small = small_pool(monkeypatch, engine, timeout=0.2)
    held = small.connect()  # the pool's only connection
    try:
        refused = in_app_loop(lambda client: client.get("/api/v1/tasks", headers=auth))
    finally:
        held.close()
        small.dispose()
    assert refused.status_code == 503 and "Retry-After" in refused.headers
    assert refused.json()["detail"]["context"]["reason"] == "db_pool_timeout"


def test_claim_request_hops_to_thread_pool_once(world, monkeypatch):
    ids, auth = world
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    claimed = in_app_loop(lambda client: client.post(f"/api/v1/tasks/{ids[0]}/claim", headers=auth))
    assert claimed.status_code == 200
    # the endpoint's hop reads the signed-in user too, and closes its session
    assert len(hops) == 1, hops


def test_every_sync_route_runs_in_one_hop():
    sync = [
        r.path
        for r in (c.original_route for c in iter_route_contexts(app.routes))
        if isinstance(r, APIRoute)
        and not isinstance(r, OneHopRoute)
        and not asyncio.iscoroutinefunction(r.endpoint)
    ]
    assert sync == []


def test_no_route_with_a_db_session_runs_on_the_event_loop():
    """An async endpoint that takes a session would run its DB work on the loop (stalling every
    request) and hold its connection across an await: such an endpoint must be sync, with
    what it awaits (the form, the files) resolved before it (api.deps.PostedForm)."""

    def needs_session(dependant) -> bool:
        return any(d.call is get_session or needs_session(d) for d in dependant.dependencies)

    on_loop = [
        f"{sorted(r.methods)[0]} {r.path}"
        for r in iter_route_contexts(app.routes)
        if isinstance(r.original_route, APIRoute)
        and needs_session(r.original_route.dependant)
        and not hasattr(r.original_route.endpoint, "__wrapped__")  # OneHopRoute's one hop
    ]
    assert on_loop == []


def test_settings_with_more_threads_than_connections_refused(monkeypatch):
    settings_env(monkeypatch, api_threads=30, db_pool_size=10, db_max_overflow=10)
    with pytest.raises(ValueError, match="POSTLOAN_API_THREADS"):
        get_settings()
    get_settings.cache_clear()


def test_settings_with_more_threads_than_kept_connections_refused_overflow_or_not(monkeypatch):
    """An overflow connection is closed when it is given back: threads beyond the pool would
    open a new connection (a new Postgres backend) for every request."""
    settings_env(monkeypatch, api_threads=20, db_pool_size=10, db_max_overflow=10)
    with pytest.raises(ValueError, match="POSTLOAN_DB_POOL_SIZE .*at least POSTLOAN_API_THREADS"):
        get_settings()
    settings_env(monkeypatch, api_threads=10, db_pool_size=10, db_max_overflow=0)
    assert get_settings().api_threads == 10
    get_settings.cache_clear()


def test_default_settings_keep_a_connection_for_every_thread(monkeypatch):
    settings = get_settings()
    assert settings.api_threads <= settings.db_pool_size
