"""The API under load, through the path production runs: `postloan serve --no-flows` (uvicorn,
one or more workers) on Postgres with a seeded book; N clients (httpx, async, keep-alive) each
claim and complete their own loan-card checks.

    .venv/bin/python -m bench.load [--clients 64] [--tasks-per-client 12] [--seconds 60]
        [--workers 1 2] [--health-seconds 5] [--server serve|uvicorn] [--pg-url …] [--keep]

Per worker count: /healthz req/s (16 keep-alive clients, the floor: no DB, no thread) and its
latency with one client alone (Nagle's algorithm shows there: ~40 ms a response), then the
claim+complete load: completions/s, request p50/p99, 5xx and 503 counts, and the ratio of the
request rate to the /healthz floor measured in the same run. `--server uvicorn` starts
`uvicorn api.main:app --workers N` directly (how the numbers before issue #9 were taken: `serve`
had no --workers then). Nothing is asserted: this is a measurement, not a test.

Measured on this machine (2026-12-02; 2 cores shared with 7 other engineers' test runs, load
average ~10, so absolute rates are low and noisy: read the ratio to /healthz; Postgres on
127.0.0.1; 64 clients × 12 tasks; before = main @ adba6a6 with `--server uvicorn`):

                healthz/s  1-client p50  completions/s   req p50 / p99 ms   5xx   ÷ healthz
    before  1w     264       3.2 ms      0.0 (0/768)     30,734 / 31,294     77     0.008
    before  2w     138      47.6 ms     12.1 (731/768)    1,029 / 31,288     25     0.187
    after   1w     136       3.9 ms     15.6 (768/768)    1,944 /  2,889      0     0.238
    after   2w     216       2.8 ms     22.1 (768/768)    1,139 /  2,792      0     0.213

Before, one worker froze: every thread waited for a connection held "idle in transaction" by a
request waiting for a thread, until the pool's 30 s timeout (500); two workers froze less often
and each kept-alive response waited for the delayed ACK (TCP_NODELAY unset). After: 2 hops a
request instead of 6, no connection held outside a thread, 0 errors; no 503 either (the queue
of 100 absorbs 64 clients).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlmodel import Session

from bench.common import LOAN_CARD, free_port, pct, stop
from core.clock import SystemClock
from core.db import make_engine
from core.identity import Role, add_user, hash_password
from loans.book import LoanTerms, open_loan
from loans.demo import seed_org
from loans.models import Borrower, BorrowerKind
from loans.schedule import RepaymentMethod
from migrations import upgrade
from tasks.opening import TaskSpec, open_task

PASSWORD = "bench-load"
BIN = Path(sys.executable).parent


def seed(session: Session, clients: int, per: int, today: date) -> list[str]:
    """The demo org, `clients` account managers in BJ01, and for each of them `per` loans with
    one loan-card check named to them (no two clients touch the same row)."""
    pw = hash_password(PASSWORD)
    org = seed_org(session, pw)
    now, branch = SystemClock().now(), org.units["BJ01"]
    disbursed = today - timedelta(days=40)
    names = []
    for i in range(clients):
        user = add_user(session, username=f"am_load{i}", full_name=f"客户经理{i}",
                        org_unit=branch, roles=[Role.account_manager], password_hash=pw)  # fmt: skip
        names.append(user.username)
        for j in range(per):
            borrower = Borrower(customer_no=f"LB{i:03d}{j:03d}", name=f"压测企业{i}-{j}",
                                kind=BorrowerKind.corporate, org_unit_id=branch.id or 0)  # fmt: skip
            session.add(borrower)
            session.flush()
            loan = open_loan(
                session,
                LoanTerms(
                    loan_no=f"LOAD-{i:03d}-{j:03d}", borrower_id=borrower.id or 0,
                    product="working_capital", branch_id=branch.id or 0,
                    account_manager_id=user.id or 0, principal_cents=1_000_000_00,
                    annual_rate=Decimal("0.0435"), disbursement_date=disbursed,
                    maturity_date=disbursed + timedelta(days=365),
                    repayment_method=RepaymentMethod.monthly_interest_bullet,
                ),
                actor="system:bench", now=now, business_date=disbursed,
            )  # fmt: skip
            open_task(session, TaskSpec(kind="loan_card_check", key=f"load:{i}:{j}",
                                        title=f"贷款卡查询 {loan.loan_no}", loan=loan,
                                        due_date=today + timedelta(days=20), org_unit=branch,
                                        candidate_user=user),
                      actor="system:bench", now=now, business_date=today)  # fmt: skip
        session.commit()
    return names


async def token(client: httpx.AsyncClient, username: str) -> str:
    r = await client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


async def healthz(base: str, clients: int, seconds: float) -> dict[str, Any]:
    lat: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        async with httpx.AsyncClient(base_url=base, timeout=30) as c:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                (await c.get("/healthz")).raise_for_status()
                lat.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return {"rate": len(lat) / (time.perf_counter() - started), "lat": lat}


async def load(base: str, names: list[str], seconds: float) -> dict[str, Any]:
    """Each client claims then completes the tasks in its queue, until none is left."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    done = [0]
    deadline = float("inf")  # set once every client has signed in

    async def call(
        c: httpx.AsyncClient, method: str, path: str, **kw: Any
    ) -> httpx.Response | None:
        t0 = time.perf_counter()
        try:
            response: httpx.Response | None = await c.request(method, path, **kw)
        except httpx.TransportError:
            response = None  # no answer: the client's timeout, or the server dropped the connection
        lat.append(time.perf_counter() - t0)
        status = response.status_code if response is not None else 0
        statuses[status] = statuses.get(status, 0) + 1
        return response

    async def status(c: httpx.AsyncClient, path: str, **kw: Any) -> int:
        response = await call(c, "POST", path, **kw)
        return response.status_code if response is not None else 0

    async def one(c: httpx.AsyncClient) -> None:
        queue: list[dict[str, Any]] = []
        while time.perf_counter() < deadline:
            page = await call(c, "GET", "/api/v1/tasks", params={"view": "queue", "limit": 200})
            if page is not None and page.status_code == 200:
                queue = page.json()["data"]
                break
            await asyncio.sleep(0.2)
        for task in queue:
            while time.perf_counter() < deadline:  # 503: back off as Retry-After says
                if await status(c, f"/api/v1/tasks/{task['id']}/claim") in (200, 409):
                    break
                await asyncio.sleep(0.2)
            while time.perf_counter() < deadline:
                s = await status(
                    c, f"/api/v1/tasks/{task['id']}/complete", json={"data": LOAN_CARD}
                )
                if s == 200:
                    done[0] += 1
                if s != 503:
                    break
                await asyncio.sleep(0.2)

    clients = []
    for name in names:
        c = httpx.AsyncClient(base_url=base, timeout=60)
        c.headers["Authorization"] = f"Bearer {await token(c, name)}"
        clients.append(c)
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(one(c) for c in clients))
    elapsed = time.perf_counter() - started
    for c in clients:
        await c.aclose()
    return {"completions": done[0], "elapsed": elapsed, "lat": lat, "statuses": statuses}


def start_server(args: argparse.Namespace, workers: int, port: int, env: dict[str, str],
                 home: Path) -> subprocess.Popen[bytes]:  # fmt: skip
    if args.server == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--log-level", "warning"]  # fmt: skip
    else:
        cmd = [str(BIN / "postloan"), "serve", "--no-flows", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]  # fmt: skip
    log = (home / f"server-{workers}.log").open("wb")
    proc = subprocess.Popen(cmd, cwd=home, env=env, stdout=log, stderr=log, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited; see {home / f'server-{workers}.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.25)
    raise TimeoutError("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--tasks-per-client", type=int, default=12)
    ap.add_argument("--seconds", type=float, default=60, help="Longest load phase.")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--health-seconds", type=float, default=5)
    ap.add_argument("--server", choices=["serve", "uvicorn"], default="serve")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    console = Console(width=160)
    base = make_url(args.pg_url)
    name = f"postloan_bench_{secrets.token_hex(4)}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    env = {**os.environ, "POSTLOAN_DATABASE_URL": url, "POSTLOAN_SECRET_KEY": secrets.token_hex(32),
           "POSTLOAN_ATTACHMENTS_DIR": str(home / "attachments")}  # fmt: skip
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    table = Table("workers", "healthz req/s", "healthz p50/p99 ms", "1 client p50 ms", "completions/s",
                  "req p50/p99 ms", "5xx", "503", "no answer", "req/s ÷ healthz",
                  title=f"{args.clients} clients claim + complete ({args.server})")  # fmt: skip
    try:
        upgrade(url)
        engine = make_engine(url)
        today = SystemClock().today()
        console.print(f"seeding {args.clients} users × {args.tasks_per_client} loans and tasks …")
        for workers in args.workers:
            if workers != args.workers[0]:  # a fresh book for each run
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{name}"')
                engine.dispose()
                upgrade(url)
            with Session(engine, expire_on_commit=False) as session:
                names = seed(session, args.clients, args.tasks_per_client, today)
            engine.dispose()
            port = free_port()
            proc = start_server(args, workers, port, env, home)
            try:
                http = f"http://127.0.0.1:{port}"
                h = asyncio.run(healthz(http, 16, args.health_seconds))
                alone = asyncio.run(healthz(http, 1, min(2.0, args.health_seconds)))
                r = asyncio.run(load(http, names, args.seconds))
            finally:
                stop(proc)
            st, ms = r["statuses"], [x * 1000 for x in r["lat"]]
            rate = len(r["lat"]) / r["elapsed"]
            table.add_row(
                str(workers), f"{h['rate']:,.0f}",
                f"{pct(h['lat'], .5) * 1000:.1f} / {pct(h['lat'], .99) * 1000:.1f}",
                f"{pct(alone['lat'], .5) * 1000:.1f}",
                f"{r['completions'] / r['elapsed']:,.1f} ({r['completions']}/"
                f"{args.clients * args.tasks_per_client})",
                f"{pct(ms, .5):.0f} / {pct(ms, .99):.0f}",
                str(sum(n for s, n in st.items() if s >= 500)), str(st.get(503, 0)),
                str(st.get(0, 0)), f"{rate / h['rate']:.3f}",
            )  # fmt: skip
            console.print(f"workers {workers}: statuses {dict(sorted(st.items()))}")
        console.print(table)
    finally:
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
