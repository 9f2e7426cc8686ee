"""Approval chains waiting for people, through the path production runs: `postloan serve` (the
API, the outbox dispatcher and the approval-chain deployment served) against a Prefect server on
Postgres, the app on Postgres.

    .venv/bin/python -m bench.approvals [--chains 1000] [--approvers 8] [--decisions 200]
        [--mechanism continue|suspend|both] [--suspend-chains 100] [--pg-url …] [--keep]

continue (what the product does): N extension requests wait at their branch head's level;
prints the processes and Prefect runs they hold; then `--approvers` heads decide `--decisions`
of them at once over HTTP — the round trip (complete → the committee's task visible in its
inbox) p50/p95 against a floor measured in the same run (a plain task completed over HTTP by as
many people), and the time until the chain's continuation run has completed (the chain waiting
again at the next level).

suspend (the alternative, bench/alternatives/suspend_chain.py): the same chains as one run each waiting in
`suspend_flow_run`; the time to get chains waiting, the processes held, resume → waiting again
with as many approvers at once, and the runner killed while chains wait.

Goals (issue #7): 0 processes per waiting chain; round trip p50 ≤ 100 ms, p95 ≤ 300 ms with 8
approvers; flow waiting again p95 ≤ 5 s. Nothing is asserted: a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from approvals.filing import file_extension
from approvals.models import ApprovalRequest
from bench.common import LOAN_CARD, children, free_port, pct, stop, wait_http
from cases.completion import EFFECTS
from core.clock import SystemClock
from core.db import make_engine
from core.identity import Role, add_user, hash_password, user_by_username
from loans.book import LoanTerms, installments_of, open_loan
from loans.demo import seed_org
from loans.models import Borrower, BorrowerKind
from loans.payments import record_payment
from loans.schedule import RepaymentMethod
from migrations import upgrade
from tasks.access import actor_for
from tasks.models import HumanTask, Outbox
from tasks.opening import TaskSpec, open_task

PASSWORD = "bench-approvals"
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
APPROVE = {
    "decision": "approve",
    "opinion": "经营正常，同意上报",
    "guarantor_consent_filed": True,
    "approved_term_months": 6,
}


def run_processes(pid: int) -> list[int]:
    """The flow-run processes (`python -m prefect.engine`) under `pid`: what a waiting chain
    would hold if it held any."""
    found = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"prefect.engine" in cmdline:
            found.append(child)
    return found


def wait_deployment(name: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until the served process has registered `name` with the Prefect server."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
            try:
                client.read_deployment_by_name(name)
                return
            except ObjectNotFound:
                time.sleep(0.2)
    raise TimeoutError(name)


def seed(session: Session, n: int, approvers: int, today: date) -> dict[str, list[str]]:
    """The demo org, `approvers` more branch heads, committee members and account managers in
    BJ01, and `n` large loans (above a head's authority) paid up to today."""
    pw = hash_password(PASSWORD)
    org = seed_org(session, pw)
    people: dict[str, list[str]] = {"heads": [], "committee": [], "managers": []}
    for i in range(approvers):
        for key, name, unit, role in (
            ("heads", f"head_b{i}", "BJ01", Role.branch_head),
            ("committee", f"committee_b{i}", "HO", Role.credit_committee),
            ("managers", f"am_b{i}", "BJ01", Role.account_manager),
        ):
            add_user(session, username=name, full_name=name, org_unit=org.units[unit],
                     roles=[role], password_hash=pw)  # fmt: skip
            people[key].append(name)
    now = SystemClock().now()
    disbursed = today - timedelta(days=95)
    for k in range(n):
        borrower = Borrower(customer_no=f"B{k:06d}", name=f"基准企业{k:04d}",
                            kind=BorrowerKind.corporate, org_unit_id=org.units["BJ01"].id or 0)  # fmt: skip
        session.add(borrower)
        session.flush()
        loan = open_loan(
            session,
            LoanTerms(
                loan_no=f"BENCH-{k:06d}", borrower_id=borrower.id or 0, product="working_capital",
                branch_id=org.units["BJ01"].id or 0,
                account_manager_id=org.users["am_bj1"].id or 0,
                principal_cents=20_000_000_00, annual_rate=Decimal("0.0435"),
                disbursement_date=disbursed, maturity_date=disbursed + timedelta(days=730),
                repayment_method=RepaymentMethod.equal_installment,
            ),
            actor="system:bench", now=now, business_date=disbursed,
        )  # fmt: skip
        for inst in installments_of(session, loan.id or 0):
            if inst.due_date <= today:
                record_payment(session, loan, payment_ref=f"BP-{k}-{inst.seq_no}",
                               value_date=inst.due_date, amount_cents=inst.outstanding_cents,
                               actor="system:bench", now=now, business_date=inst.due_date)  # fmt: skip
        if k % 200 == 199:
            session.commit()
    session.commit()
    return people


def file_requests(session: Session, loan_nos: Sequence[str], today: date) -> float:
    """Extension requests filed through the service, as the API files them; seconds each."""
    am = actor_for(session, user_by_username(session, "am_bj1"), today)
    started = time.perf_counter()
    for n, loan_no in enumerate(loan_nos, start=1):
        file_extension(session, loan_no, am, EFFECTS, new_maturity_date=today + timedelta(days=900),
                       reason="下游客户回款延迟", financial_difficulty=False, guarantor_consents=[],
                       now=SystemClock().now(), business_date=today)  # fmt: skip
        if n % 100 == 0:
            session.commit()
    session.commit()
    return (time.perf_counter() - started) / max(1, len(loan_nos))


def floor_tasks(session: Session, managers: Sequence[str], per: int, today: date) -> None:
    """Plain tasks (loan-card checks) for the floor: a completion with no chain behind it."""
    unit = user_by_username(session, managers[0])
    from core.identity import OrgUnit

    branch = session.get(OrgUnit, unit.org_unit_id)
    assert branch is not None
    for i, name in enumerate(managers):
        user = user_by_username(session, name)
        for j in range(per):
            open_task(session, TaskSpec(kind="loan_card_check", key=f"floor:{i}:{j}",
                                        title=f"floor {i}/{j}", due_date=today + timedelta(days=20),
                                        org_unit=branch, candidate_user=user),
                      actor="system:bench", now=SystemClock().now(), business_date=today)  # fmt: skip
    session.commit()


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self._tokens: dict[str, str] = {}

    def client(self, username: str) -> httpx.Client:
        if username not in self._tokens:
            r = httpx.post(f"{self.base}/api/v1/auth/token",
                           data={"username": username, "password": PASSWORD}, timeout=30)  # fmt: skip
            r.raise_for_status()
            self._tokens[username] = r.json()["access_token"]
        return httpx.Client(base_url=self.base, timeout=60,
                            headers={"Authorization": f"Bearer {self._tokens[username]}"})  # fmt: skip


def in_parallel(workers: int, work: Callable[[int], list[float]]) -> list[float]:
    results: list[list[float]] = [[] for _ in range(workers)]
    threads = [
        threading.Thread(target=lambda i=i: results[i].extend(work(i))) for i in range(workers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for part in results for x in part]


def measure_continue(console: Console, args: argparse.Namespace, url: str, prefect_api: str,
                     people: dict[str, list[str]], engine: Any, serve_pid: int) -> dict[str, Any]:  # fmt: skip
    api = Api(args.api)
    with Session(engine) as s:
        waiting = s.exec(select(HumanTask).where(HumanTask.kind == "extension_review",
                                                 HumanTask.state == "open")
                         .order_by(HumanTask.id)).all()  # fmt: skip
        pool = [(t.id, t.loan_no) for t in waiting]
    tasks, extra = pool[: args.decisions], pool[args.decisions :][: max(10, args.decisions // 10)]
    held = len(run_processes(serve_pid))
    runs_live = asyncio.run(live_runs(prefect_api))
    console.print(f"{len(waiting):,} chains waiting at level 1: flow-run processes: {held}, "
                  f"approval-chain runs not final: {runs_live}")  # fmt: skip

    def approve(i: int, tasks: list[tuple[int, str]], width: int) -> list[float]:
        head = api.client(people["heads"][i])
        committee = api.client(people["committee"][i])
        mine = tasks[i::width]
        out = []
        for task_id, loan_no in mine:
            head.post(f"/api/v1/tasks/{task_id}/claim").raise_for_status()
            t0 = time.perf_counter()
            head.post(
                f"/api/v1/tasks/{task_id}/complete", json={"data": APPROVE}
            ).raise_for_status()
            while True:  # the next level's task in the committee's inbox
                page = committee.get(
                    "/api/v1/tasks", params={"view": "queue", "loan_no": loan_no}
                ).json()
                if page["data"]:
                    break
            out.append(time.perf_counter() - t0)
        return out

    def floor(i: int) -> list[float]:
        am = api.client(people["managers"][i])
        with Session(engine) as s:
            mine = s.exec(select(HumanTask.id).where(HumanTask.key.startswith(f"floor:{i}:"))).all()  # type: ignore[attr-defined]
        out = []
        for task_id in mine:
            am.post(f"/api/v1/tasks/{task_id}/claim").raise_for_status()
            t0 = time.perf_counter()
            am.post(
                f"/api/v1/tasks/{task_id}/complete", json={"data": LOAN_CARD}
            ).raise_for_status()
            am.get("/api/v1/tasks", params={"view": "archive", "limit": 1}).raise_for_status()
            out.append(time.perf_counter() - t0)
        return out

    floor_ms = [x * 1000 for x in in_parallel(args.approvers, floor)]
    decided_at = time.time()
    rt_ms = [
        x * 1000 for x in in_parallel(args.approvers, lambda i: approve(i, tasks, args.approvers))
    ]
    alone_ms = [x * 1000 for x in approve(0, extra, 1)]  # one approver alone: the latency itself
    flow_s = asyncio.run(continuation_times(engine, prefect_api, decided_at))
    return {"floor": floor_ms, "round_trip": rt_ms, "alone": alone_ms, "flow": flow_s,
            "held": held, "runs_live": runs_live, "waiting": len(waiting)}  # fmt: skip


async def live_runs(prefect_api: str) -> int:
    """Runs of the approval-chain flow that are not final (what waiting chains would hold)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    live = [StateType.RUNNING, StateType.PENDING, StateType.SCHEDULED, StateType.PAUSED]
    async with get_client() as client:
        return await client.count_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["approval-chain"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=live))
            ),
        )


async def continuation_times(engine: Any, prefect_api: str, since: float) -> list[float]:
    """For each decision's outbox row: seconds from the decision's commit to its run's end."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + 1800
    with Session(engine) as s:
        total = len(s.exec(select(Outbox)).all())
    async with get_client() as client:
        while True:
            with Session(engine) as s:
                rows = s.exec(select(Outbox)).all()
            ids = [r.flow_run_id for r in rows if r.flow_run_id]
            if len(ids) == total:
                runs = [await client.read_flow_run(i) for i in ids]
                if all(run.state and run.state.is_final() for run in runs):
                    created = {r.flow_run_id: r.created_at for r in rows}
                    return [
                        (run.end_time - _aware(created[str(run.id)])).total_seconds()
                        for run in runs
                        if run.end_time is not None
                    ]
            if time.monotonic() > deadline:
                raise TimeoutError("continuation runs unfinished")
            await asyncio.sleep(0.5)


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def measure_suspend(console: Console, args: argparse.Namespace, env: dict[str, str],
                    engine: Any, request_ids: list[int]) -> dict[str, Any]:  # fmt: skip
    """The same chains as one suspended run each (bench/alternatives/suspend_chain.py)."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.flow_runs import resume_flow_run

    def start_runner() -> subprocess.Popen[bytes]:
        log = (Path(env["PREFECT_HOME"]) / "suspend-runner.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "bench.alternatives.suspend_chain"], cwd=ROOT, env=env,
                                start_new_session=True, stdout=log, stderr=log)  # fmt: skip
        wait_deployment("bench-suspend-chain/bench-suspend-chain", proc)
        return proc

    def paused_at(run_id: Any, key: str, timeout: float = 180) -> float:
        t0 = time.perf_counter()
        with get_client(sync_client=True) as c:
            while time.perf_counter() - t0 < timeout:
                state = c.read_flow_run(run_id).state
                if state and state.is_paused() and state.state_details.pause_key == key:
                    return time.perf_counter() - t0
                time.sleep(0.05)
        raise TimeoutError(f"{run_id} never paused at {key}")

    def resume(run_id: Any, data: dict[str, Any]) -> None:
        for _ in range(400):  # "Run input schema not found": paused before the schema is saved
            try:
                return resume_flow_run(run_id, run_input=data)
            except RuntimeError as exc:
                if "schema not found" not in str(exc):
                    raise
                time.sleep(0.05)

    runner = start_runner()
    t0 = time.perf_counter()
    runs = [run_deployment("bench-suspend-chain/bench-suspend-chain",
                           parameters={"request_id": rid}, timeout=0) for rid in request_ids]  # fmt: skip
    for run in runs:
        paused_at(run.id, "level-1")
    started_s = time.perf_counter() - t0
    time.sleep(2)  # a suspended run's process exits after the Pause it raised
    held = len(run_processes(runner.pid))
    console.print(f"suspend: {len(runs)} chains waiting after {started_s:.1f} s "
                  f"({started_s / len(runs):.2f} s each, a process start per chain); processes "
                  f"held while they wait: {held}")  # fmt: skip
    sample = runs[:-8]  # the last 8 wait for the runner to be killed

    def decide(i: int) -> list[float]:
        out = []
        for run in sample[i :: args.approvers]:
            t = time.perf_counter()
            resume(run.id, {"level": 1, "decision": "approve"})
            paused_at(run.id, "level-2")
            out.append(time.perf_counter() - t)
        return out

    waiting_again = in_parallel(args.approvers, decide)
    # the runner killed while chains wait: resume some, start a new runner, they go on
    os.killpg(runner.pid, signal.SIGKILL)
    rest = runs[len(sample) : len(sample) + 8]
    for run in rest:
        resume(run.id, {"level": 1, "decision": "approve"})
    t = time.perf_counter()
    runner = start_runner()
    try:
        for run in rest:
            paused_at(run.id, "level-2")
        recovered_s = time.perf_counter() - t
    finally:
        os.killpg(runner.pid, signal.SIGKILL)
    return {"started_s": started_s, "per_chain_s": started_s / len(runs), "held": held,
            "waiting_again": waiting_again, "recovered_s": recovered_s, "recovered": len(rest)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--chains", type=int, default=1000)
    ap.add_argument("--approvers", type=int, default=8)
    ap.add_argument("--decisions", type=int, default=200)
    ap.add_argument("--mechanism", choices=["continue", "suspend", "both"], default="continue")
    ap.add_argument("--suspend-chains", type=int, default=100)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    console, started = Console(width=110), time.perf_counter()
    base = make_url(args.pg_url)
    tag = secrets.token_hex(4)
    name, prefect_db = f"postloan_bench_{tag}", f"prefect_bench_{tag}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    prefect_url = base.set(drivername="postgresql+asyncpg", database=prefect_db).render_as_string(
        hide_password=False
    )
    home = Path(tempfile.mkdtemp(prefix="bench-prefect-"))
    port, prefect_port = free_port(), free_port()
    args.api = f"http://127.0.0.1:{port}"
    prefect_api = f"http://127.0.0.1:{prefect_port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": prefect_api,
           "PREFECT_API_DATABASE_CONNECTION_URL": prefect_url, "POSTLOAN_DATABASE_URL": url,
           "POSTLOAN_SECRET_KEY": secrets.token_hex(32), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "POSTLOAN_ATTACHMENTS_DIR": str(home / "attachments"),
           "PREFECT_RUNNER_POLL_FREQUENCY": "1"}  # fmt: skip
    os.environ.update({k: env[k] for k in ("PREFECT_API_URL", "POSTLOAN_DATABASE_URL")})
    procs: list[subprocess.Popen[bytes]] = []
    engine = make_engine(url)
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute(f'CREATE DATABASE "{prefect_db}"')
        upgrade(url)
        today = SystemClock().today()
        suspend_n = args.suspend_chains if args.mechanism != "continue" else 0
        console.print(f"seeding {args.chains + suspend_n:,} loans …")
        with Session(engine, expire_on_commit=False) as session:
            people = seed(session, args.chains + suspend_n, args.approvers, today)
            per = file_requests(
                session, [f"BENCH-{k:06d}" for k in range(args.chains + suspend_n)], today
            )
            floor_tasks(
                session, people["managers"], max(1, args.decisions // args.approvers), today
            )
        console.print(f"filed {args.chains + suspend_n:,} extension requests ({per * 1000:.1f} ms each "
                      "through the service, level 1 opened in the same transaction)")  # fmt: skip
        log = (home / "server.log").open("wb")
        procs.append(subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host",
                                       "127.0.0.1", "--port", str(prefect_port)], env=env,
                                      stdout=log, stderr=log, start_new_session=True))  # fmt: skip
        wait_http(f"{prefect_api}/health", procs[-1])
        serve_log = (home / "serve.log").open("wb")
        procs.append(subprocess.Popen([str(BIN / "postloan"), "serve", "--host", "127.0.0.1",
                                       "--port", str(port)], cwd=home, env=env, stdout=serve_log,
                                      stderr=serve_log, start_new_session=True))  # fmt: skip
        wait_http(f"{args.api}/healthz", procs[-1])
        wait_deployment("approval-chain/approval-chain", procs[-1])
        table = Table("measure", "value", "goal", title="approval chains (Postgres)")
        if args.mechanism in ("continue", "both"):
            r = measure_continue(console, args, url, prefect_api, people, engine, procs[-1].pid)
            table.add_row("chains waiting", f"{r['waiting']:,}", "")
            table.add_row("processes held while waiting", f"{r['held']}", "0")
            table.add_row("Prefect runs held while waiting", f"{r['runs_live']}", "")
            for label, key, goal in (("round trip (complete → next level in inbox)", "round_trip",
                                      "p50 ≤ 100 ms, p95 ≤ 300 ms"),
                                     ("floor: plain task completed over HTTP", "floor", ""),
                                     ("round trip, one approver alone", "alone", "")):  # fmt: skip
                ms = r[key]
                table.add_row(f"{label} p50 / p95 (n={len(ms)})",
                              f"{pct(ms, .5):.0f} / {pct(ms, .95):.0f} ms", goal)  # fmt: skip
            table.add_row(
                "round trip ÷ floor (p50)",
                f"{pct(r['round_trip'], 0.5) / pct(r['floor'], 0.5):.2f}×",
                "",
            )
            table.add_row(f"flow waiting again p50 / p95 (n={len(r['flow'])})",
                          f"{pct(r['flow'], .5):.1f} / {pct(r['flow'], .95):.1f} s", "p95 ≤ 5 s")  # fmt: skip
        if args.mechanism in ("suspend", "both"):
            with Session(engine) as s:
                ids = s.exec(
                    select(ApprovalRequest.id).order_by(ApprovalRequest.id.desc()).limit(suspend_n)
                ).all()  # type: ignore[union-attr]
            r = measure_suspend(console, args, env, engine, list(ids))
            table.add_row("suspend: time to get a chain waiting", f"{r['per_chain_s']:.2f} s "
                          f"({r['started_s']:.0f} s for {suspend_n}: "
                          f"≈ {r['per_chain_s'] * 1000 / 60:.0f} min for 1,000)", "")  # fmt: skip
            table.add_row("suspend: processes held while waiting", f"{r['held']}", "0")
            w = r["waiting_again"]
            table.add_row(f"suspend: resume → waiting again p50 / p95 (n={len(w)})",
                          f"{pct(w, .5):.1f} / {pct(w, .95):.1f} s", "p95 ≤ 5 s")  # fmt: skip
            table.add_row("suspend: runner killed while waiting, new runner",
                          f"{r['recovered']} chains went on in {r['recovered_s']:.1f} s", "")  # fmt: skip
        console.print(table)
    finally:
        for proc in reversed(procs):
            stop(proc)
        engine.dispose()
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'DROP DATABASE IF EXISTS "{prefect_db}" WITH (FORCE)')
        console.print(f"{'kept' if args.keep else 'dropped'} {name}, {prefect_db}; logs in {home}; "
                      f"whole run {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
