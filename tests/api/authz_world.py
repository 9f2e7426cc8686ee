"""The world the authorization matrix runs in: the demo org, a deputy standing in for the loans'
account manager, and one real target of each kind in branch BJ01 (loans, a task in each state,
an approval request, a warning case, an attachment) — built once, committed, and every request
of the matrix run inside a transaction that is rolled back, so each role meets the same state."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session
from starlette.routing import Mount

from api import csrf
from api.auth import COOKIE, issue_token
from api.deps import get_clock, get_session
from api.main import app
from approvals.filing import propose_classification
from cases.completion import EFFECTS
from cases.warnings import SIGNALS, raise_warning
from core.clock import FixedClock
from core.identity import add_substitute
from loans.book import get_loan
from loans.demo import DEMO_PASSWORD, DemoOrg, seed_org
from loans.transitions import reclassify_loan, transition_loan
from sim.models import SimulationRun
from statemachines.enums import RiskClass
from tasks import attachments, service
from tests.approvals.conftest import TODAY, pay_through
from tests.factories import make_loan
from tests.tasks.conftest import as_user, new_task

# The columns of the matrix: each a demo user (None: no sign-in at all).
ROLES: dict[str, str | None] = {
    "am": "am_bj1",  # 客户经理 of BJ01, the loans' account manager
    "am_other": "am_sh1",  # 客户经理 of another branch (SH01)
    "am_sub": "am_bj3",  # 客户经理 of BJ01's sub-branch BJ0101
    "risk": "rm_bj",  # 风险经理 of BJ01
    "head": "head_bj",  # 支行负责人 of BJ01
    "committee": "committee1",  # 信贷评审委员会 (head office)
    "disposal": "disposal",  # 资产处置部门 (head office)
    "auditor": "auditor",  # 稽核 (head office, read-only)
    "admin": "admin",  # 系统管理员 (head office)
    "deputy": "am_sh2",  # SH01's 客户经理, 代理 for am_bj1 today (core.identity.Substitute)
    "anon": None,  # not signed in
}


@dataclass
class World:
    client: TestClient
    connection: Connection
    org: DemoOrg
    clock: FixedClock
    tokens: dict[str, str]  # role → a signed token
    params: dict[str, dict[str, str]]  # target → the path parameters it fills


def cheap_password_hash() -> str:
    """DEMO_PASSWORD hashed with argon2 at its lowest cost: verifying reads the cost from the
    hash, so the sign-in routes run their real check in milliseconds, not a second each."""
    return PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8, parallelism=1),)).hash(
        DEMO_PASSWORD
    )


def build(session: Session, clock: FixedClock) -> tuple[DemoOrg, dict]:
    """The targets, committed. L1: paid up (filings); L2: a live classification proposal with
    evidence and a warning case; L3: 损失 and 不良 (write-off, handover)."""
    org = seed_org(session, cheap_password_hash())
    add_substitute(
        session,
        principal=org.users["am_bj1"],
        deputy=org.users["am_sh2"],
        starts_on=TODAY - timedelta(days=7),
        ends_on=TODAY + timedelta(days=7),
        reason="休假",
    )
    session.commit()
    for loan_no in ("L1", "L2"):
        make_loan(session, org, clock, loan_no)
        pay_through(session, clock, loan_no, TODAY)
    make_loan(session, org, clock, "L3")
    transition_loan(session, "L3", "mark_overdue", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 20))  # fmt: skip
    reclassify_loan(session, "L3", RiskClass.loss, actor="system:test", now=clock.now(),
                    business_date=TODAY, reason="floor")  # fmt: skip
    session.commit()
    am = as_user(session, "am_bj1", TODAY)
    ref = attachments.store(
        session, data=b"%PDF-1.4 evidence", filename="evidence.pdf",
        content_type="application/pdf", uploaded_by=org.users["am_bj1"].id or 0, now=clock.now(),
    )  # fmt: skip
    request = propose_classification(
        session, "L2", am, EFFECTS, proposed_class=RiskClass.special_mention,
        reason="主要客户流失，销售额下降三成", evidence=[ref], now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    raise_warning(
        session, "L2", am, EFFECTS, signals=[next(iter(SIGNALS))], description="保证人要求解除担保",
        now=clock.now(), business_date=TODAY,
    )  # fmt: skip
    session.commit()
    loan = get_loan(session, "L1")
    opened = new_task(session, org, clock, loan, key="open", due=TODAY + timedelta(days=10))
    claimed = new_task(session, org, clock, loan, key="claimed", due=TODAY + timedelta(days=10))
    service.claim(session, claimed.id, am, now=clock.now(), business_date=TODAY)
    simulation = SimulationRun(params={"loans": 1, "start": str(TODAY), "days": 1, "seed": 1},
                               started_at=clock.now(), updated_at=clock.now())  # fmt: skip
    session.add(simulation)
    session.commit()
    params = {
        "L1": {"loan_no": "L1"},
        "L2": {"loan_no": "L2"},
        "L3": {"loan_no": "L3"},
        "open_task": {"task_id": str(opened.id)},
        "claimed_task": {"task_id": str(claimed.id)},
        "request": {"request_id": str(request.id)},
        "attachment": {"sha256": ref.sha256},
        "entry": {"entry_id": str(_filing_entry(session, request.id or 0))},
        "simulation": {"run": str(simulation.id)},
        "none": {},
    }
    return org, params


def _filing_entry(session: Session, request_id: int) -> int:
    """The journal entry that filed the request (L2's proposal): a target of /journal/{id}."""
    from sqlmodel import col, select

    from audit.journal import JournalEntry

    entry = session.exec(
        select(JournalEntry)
        .where(JournalEntry.aggregate_type == "approval",
               JournalEntry.aggregate_id == str(request_id))
        .order_by(col(JournalEntry.id))
    ).first()  # fmt: skip
    assert entry is not None and entry.id is not None
    return entry.id


def tokens_for(org: DemoOrg, clock: FixedClock) -> dict[str, str]:
    return {role: issue_token(org.users[u], clock) for role, u in ROLES.items() if u is not None}


@dataclass
class Rollback:
    """Every request's session joins one outer transaction on the module's one connection (its
    commits become savepoints); rolling the outer one back restores the world for the next role."""

    connection: Connection

    def sessions(self) -> Iterator[Session]:
        with Session(
            bind=self.connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        ) as session:
            yield session

    def __enter__(self) -> Rollback:
        self.outer = self.connection.begin()
        app.dependency_overrides[get_session] = self.sessions
        return self

    def __exit__(self, *exc: object) -> None:
        app.dependency_overrides.pop(get_session, None)
        self.outer.rollback()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16  # the bytes of an image: the type check passes
ANON = 0  # `anon` left to the surface's default: 401 on /api, 303 to /login on pages


@dataclass(frozen=True)
class Case:
    target: str  # an entry of World.params: the object that fills the path
    expect: Mapping[str, int]
    body: Mapping[str, Any] | None = None  # JSON on /api, form fields on pages
    upload: bool = False  # send a file (multipart) instead
    extra: Mapping[str, str] = field(default_factory=dict)  # more path parameters
    xfail: Mapping[str, str] = field(default_factory=dict)  # role → why it fails today

    @property
    def label(self) -> str:
        return "/".join([self.target, *self.extra.values()])


def expected(key: str, c: Case, role: str) -> int:
    status = c.expect[role]
    if status == ANON:
        return 401 if key.split(" ", 1)[1].startswith("/api/") else 303
    return status


def live_routes() -> list[str]:
    """ "METHOD /path" of every route the app serves (HEAD, Starlette's echo of GET, left out;
    the /static mount is files, not a route)."""
    keys = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            continue
        for method in route.methods or ():
            if method != "HEAD":
                keys.add(f"{method} {route.path}")
    return sorted(keys)


def send(
    world: World, key: str, c: Case, role: str, query: Mapping[str, str] | None = None
) -> httpx.Response:
    """`key`'s request as `role`, its path filled from the case's target, in a rolled-back
    transaction: the Bearer token on /api, the session cookie on pages."""
    method, template = key.split(" ", 1)
    path = template.format(**world.params[c.target], **c.extra)
    client = world.client
    client.cookies.clear()
    headers, token = {}, world.tokens.get(role)
    is_api = path.startswith("/api/")
    if token:
        headers = (
            {"Authorization": f"Bearer {token}"} if is_api else {"Cookie": f"{COOKIE}={token}"}
        )
    kwargs: dict[str, Any] = {"headers": headers, "follow_redirects": False, "params": query}
    if c.upload:
        kwargs["files"] = {"file": ("note.png", PNG, "image/png")}
    elif c.body is not None:
        form = not is_api or path.endswith("/auth/token")  # OAuth2's password flow is a form
        kwargs["data" if form else "json"] = dict(c.body)
    if path == csrf.LOGIN_PATH and method == "POST":
        # the sign-in form's own token, bound to the pre-session cookie the form page sets
        form_page = client.get(csrf.LOGIN_PATH)
        presession = form_page.cookies[csrf.PRESESSION_COOKIE]
        kwargs["headers"] = {"Cookie": f"{csrf.PRESESSION_COOKIE}={presession}"}
        kwargs["data"] = {**kwargs.get("data", {}), csrf.FIELD: csrf.login_token(presession)}
    elif token and not is_api and method not in ("GET", "HEAD"):
        # the token the page's forms carry for this session: authorization decides, not CSRF
        kwargs["data"] = {**kwargs.get("data", {}), csrf.FIELD: csrf.session_token(token)}
    with Rollback(world.connection):
        return client.request(method, path, **kwargs)


def open_world(engine: Engine, database_url: str, attachments_dir: Path) -> Iterator[World]:
    """The world on the suite's migrated database, emptied again at the end (as tests/conftest's
    `engine` fixture leaves it for the next test)."""
    import core.db
    from core.settings import get_settings
    from tests.conftest import _empty_all_tables

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POSTLOAN_DATABASE_URL", database_url)
        mp.setenv("POSTLOAN_ATTACHMENTS_DIR", str(attachments_dir))
        mp.setitem(core.db._engines, database_url, engine)
        get_settings.cache_clear()
        clock = fixed_clock()
        try:
            with Session(engine, expire_on_commit=False) as session:
                org, params = build(session, clock)
            with engine.connect() as connection:
                for client in serve(clock):
                    yield World(client, connection, org, clock, tokens_for(org, clock), params)
        finally:
            _empty_all_tables(engine)
            get_settings.cache_clear()


def fixed_clock() -> FixedClock:
    clock = FixedClock()
    clock.set_date(TODAY)
    return clock


def serve(clock: FixedClock) -> Iterator[TestClient]:
    app.dependency_overrides[get_clock] = lambda: clock
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.dependency_overrides.pop(get_clock, None)
