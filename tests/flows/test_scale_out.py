"""Scale-out, tested (docs/operations.md "Scaling out"): a Prefect server on Postgres, a process
work pool and two workers, the deployments registered with `postloan deploy --work-pool`, and a
daily sweep of a generated book run through the deployments: its chunks ran on both workers, the
counts it reports are the chunks' real ones, and the book ends exactly as a single-process
`postloan sweep` of a copy of the same book leaves it. Postgres only: the workers share the app
database with this process, and the Prefect server keeps its own on Postgres too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.db import dispose_engines
from tests.approvals.conftest import pay_through
from tests.conftest import _libpq
from tests.factories import make_loan
from tests.flows.test_approval_chain import api  # noqa: F401  (the fixture: the app, a big loan)

pytestmark = pytest.mark.postgres_only

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DAY = date(2025, 6, 30)
POOL = "scale-test-pool"
CHUNK = 6
CRASH_AFTER = 45  # seconds without a heartbeat (every 30 s on the workers here)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(20)


@pytest.fixture
def prefect_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A Prefect server on its own Postgres database; the environment that points at it."""
    admin = str(request.config.getoption("--pg-url"))
    name = f"prefect_scale_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    port = _free_port()
    url = make_url(admin).set(drivername="postgresql+asyncpg", database=name)
    env = {  # merged into this process's environment at each use (the test's own anchor folder)
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_API_DATABASE_CONNECTION_URL": url.render_as_string(hide_password=False),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "5",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    }
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the Prefect server did not start"
            time.sleep(0.3)
        yield env
    finally:
        _stop(server)
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _book(session, org, clock) -> None:  # type: ignore[no-untyped-def]
    """Thirty loans over two branches, booked month by month: those paid up stay current, the
    others fall behind by different amounts (overdue, buckets, floor proposals)."""
    for n in range(30):
        branch, manager = ("BJ01", "am_bj1") if n % 2 else ("SH01", "am_sh1")
        disbursed = date(2024, 7 + n % 6, 10)
        loan_no = f"S-{n:02d}"
        make_loan(session, org, clock, loan_no, disbursed=disbursed, months=24,
                  branch=branch, manager=manager)  # fmt: skip
        if n % 3 == 0:
            pay_through(session, clock, loan_no, DAY)
        elif n % 3 == 1:
            pay_through(session, clock, loan_no, date(2025, 3 + n % 3, 1))
    session.commit()


def _clone(admin: str, source_url: str) -> str:
    """A copy of the app database (CREATE DATABASE … TEMPLATE): the same book, for the
    single-process sweep to compare against."""
    dispose_engines()
    source = make_url(source_url).database
    name = f"{source}_single"
    with psycopg.connect(_libpq(admin), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (source,),
        )
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    return make_url(source_url).set(database=name).render_as_string(hide_password=False)


def _run(args: list[str], env: dict[str, str], timeout: int = 300) -> str:
    done = subprocess.run(args, env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _worker(
    env: dict[str, str], name: str, database_url: str, tmp: Path
) -> subprocess.Popen[bytes]:
    log = (tmp / f"{name}.log").open("wb")
    return subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--name", name, "--limit", "2"],
        env={**os.environ, **env, "POSTLOAN_NODE_NAME": name, "POSTLOAN_DATABASE_URL": database_url,
             "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"},
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def _descendants(pid: int) -> list[int]:
    children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return [*children, *(d for c in children for d in _descendants(c))]


def _kill_machine(pid: int) -> None:
    """The worker and every process under it at once, as when its machine is lost (the runs it
    starts live in their own sessions, so its process group alone would leave them running)."""
    for victim in [pid, *_descendants(pid)]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _pool_and_deployments(env: dict[str, str], database_url: str) -> None:
    _run([str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"], env)
    _run([str(BIN / "postloan"), "deploy", "--work-pool", POOL, "--crash-after", str(CRASH_AFTER)],
         {**env, "POSTLOAN_DATABASE_URL": database_url})  # fmt: skip


def _single_sweep(url: str, tmp: Path) -> None:
    """`postloan sweep` on the copy, anchoring to an external log of its own (the copy's chain
    of anchors is not the original's)."""
    _run([str(BIN / "postloan"), "sweep", "--on", DAY.isoformat(), "--chunk-size", str(CHUNK)],
         {"POSTLOAN_DATABASE_URL": url,
          "POSTLOAN_ANCHOR_LOG": str(tmp / "single_anchor_log.jsonl")})  # fmt: skip


def _runs(env: dict[str, str], deployment: str, state: str) -> list[dict[str, Any]]:
    """The flow runs of a deployment in a state, from the server's REST API."""
    found = httpx.post(f"{env['PREFECT_API_URL']}/flow_runs/filter", json={
        "flow_runs": {"state": {"type": {"any_": [state]}}},
        "deployments": {"name": {"any_": [deployment]}},
    }, timeout=10)  # fmt: skip
    found.raise_for_status()
    return list(found.json())


def _heartbeats(env: dict[str, str]) -> set[str]:
    """The flow runs that have sent a heartbeat."""
    found = httpx.post(f"{env['PREFECT_API_URL']}/events/filter", json={
        "filter": {"event": {"name": ["prefect.flow-run.heartbeat"]}}, "limit": 50,
    }, timeout=10)  # fmt: skip
    found.raise_for_status()
    return {e["resource"]["prefect.resource.id"].removeprefix("prefect.flow-run.")
            for e in found.json()["events"]}  # fmt: skip


def _until(what: str, check, timeout: float = 120):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)
    return result


def _outcome(url: str) -> dict[str, Any]:
    """What a sweep leaves: every loan's state, class, days past due and bucket; the bucket
    history; the journal's events in chain order (hashes differ: they cover the wall time);
    the open tasks; and the summed counts of the chunks (timings and machines aside)."""
    engine = create_engine(url)
    queries = {
        "loans": "SELECT loan_no, state, risk_class, days_past_due, bucket FROM loans "
                 "ORDER BY loan_no",
        "buckets": "SELECT l.loan_no, b.bucket, b.entered_on, b.left_on FROM loan_bucket_history "
                   "b JOIN loans l ON l.id = b.loan_id ORDER BY 1, 3",
        "journal": "SELECT aggregate_type, aggregate_id, chain_seq, event, from_state, to_state, "
                   "business_date, actor FROM journal ORDER BY 1, 2, 3",
        "tasks": "SELECT key, kind, state FROM human_tasks ORDER BY key",
    }  # fmt: skip
    try:
        with engine.connect() as conn:
            out: dict[str, Any] = {k: conn.execute(text(q)).all() for k, q in queries.items()}
            counts: dict[str, int] = {}
            for (chunk,) in conn.execute(text("SELECT counts FROM swept_chunks")):
                for key, value in chunk.items():
                    if not key.startswith(("seconds_", "chunks_on_")):
                        counts[key] = counts.get(key, 0) + value
            out["counts"] = counts
            out["nodes"] = sorted(
                n for (n,) in conn.execute(text("SELECT DISTINCT node FROM swept_chunks"))
            )
    finally:
        engine.dispose()
    return out


def test_a_sweep_through_two_workers_equals_one_process(
    request, prefect_api, database_url, session, org, clock, tmp_path
):  # type: ignore[no-untyped-def]
    clock.set_date(DAY)
    _book(session, org, clock)
    session.close()
    admin = str(request.config.getoption("--pg-url"))
    single_url = _clone(admin, database_url)
    try:
        env = prefect_api
        _pool_and_deployments(env, database_url)
        workers = [_worker(env, name, database_url, tmp_path) for name in ("w1", "w2")]
        started = time.monotonic()
        try:
            _run([str(BIN / "python"), "-c", RUN_SWEEP], env, timeout=600)
        finally:
            for worker in workers:
                _stop(worker)
        distributed_s = time.monotonic() - started
        _single_sweep(single_url, tmp_path)
        spread, single = _outcome(database_url), _outcome(single_url)
        assert spread["nodes"] == ["w1", "w2"], (tmp_path / "w1.log").read_text()[-2000:]
        assert single["nodes"] != spread["nodes"]
        assert spread["counts"]["loans"] == 30 and spread["counts"]["bucket_changes"] > 0
        for key in ("loans", "buckets", "journal", "tasks", "counts"):
            assert spread[key] == single[key], key
        print(f"distributed sweep of 30 loans in {30 // CHUNK} chunks on two workers: "
              f"{distributed_s:.1f} s")  # fmt: skip
    finally:
        dispose_engines()
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{make_url(single_url).database}" WITH (FORCE)')


def test_a_worker_killed_mid_chunk_still_completes_the_date(
    request, prefect_api, database_url, session, org, clock, tmp_path
):  # type: ignore[no-untyped-def]
    """Worker w2 is killed (its process group: the worker and the chunk runs it started) while
    two chunks are half-way — held on row locks this test takes on every loan. The server's
    automation marks the silent runs Crashed, the sweep starts those chunks again on w1, and
    the date completes with the book a single-process sweep leaves: no journal entry, bucket
    row or task twice, no chunk recorded by the dead worker."""
    clock.set_date(DAY)
    _book(session, org, clock)
    session.close()
    admin = str(request.config.getoption("--pg-url"))
    single_url = _clone(admin, database_url)
    env = prefect_api
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _pool_and_deployments(env, database_url)
        with psycopg.connect(_libpq(database_url)) as held:  # every loan locked: chunks wait
            held.execute("SELECT id FROM loans FOR UPDATE")
            workers.append(_worker(env, "w1", database_url, tmp_path))
            sweep_log = (tmp_path / "sweep.log").open("wb")
            parent = subprocess.Popen([str(BIN / "python"), "-c", RUN_SWEEP], env={**os.environ, **env}, cwd=ROOT,
                                      stdout=sweep_log, stderr=subprocess.STDOUT)  # fmt: skip
            # w1 holds the parent and one chunk (limit 2); then w2 takes two more
            _until("w1 to run a chunk", lambda: len(_runs(env, "sweep-chunk", "RUNNING")) == 1)
            workers.append(_worker(env, "w2", database_url, tmp_path))
            running = _until(
                "w2 to run two chunks",
                lambda: (r := _runs(env, "sweep-chunk", "RUNNING")) and len(r) == 3 and r,
            )
            # a run lost before its first heartbeat is never detected (Prefect's automation
            # starts from one): kill once every running chunk has sent one
            _until(
                "the running chunks' heartbeats",
                lambda: _heartbeats(env) >= {r["id"] for r in running},
            )
            _kill_machine(workers[1].pid)  # w2 and its two runs, mid-chunk
            workers[1].wait(20)
            held.rollback()  # the locks go: w1 sweeps on
        assert parent.wait(timeout=420) == 0, (tmp_path / "sweep.log").read_text()[-3000:]
        crashed = _runs(env, "sweep-chunk", "CRASHED")
        assert len(crashed) == 2, (tmp_path / "sweep.log").read_text()[-3000:]
        _single_sweep(single_url, tmp_path)
        spread, single = _outcome(database_url), _outcome(single_url)
        assert spread["nodes"] == ["w1"]  # w2's chunks never committed
        for key in ("loans", "buckets", "journal", "tasks", "counts"):
            assert spread[key] == single[key], key
    finally:
        for worker in workers:
            _stop(worker)
        dispose_engines()
        with psycopg.connect(_libpq(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{make_url(single_url).database}" WITH (FORCE)')


RUN_SWEEP = f"""
from prefect.deployments import run_deployment
run = run_deployment(
    "daily-sweep/daily-sweep",
    parameters={{"params": {{"business_date": "{DAY.isoformat()}", "chunk_size": {CHUNK},
                            "chunk_deployment": "sweep-chunk/sweep-chunk"}}}},
    timeout=540,
)
assert run.state.is_completed(), run.state
print(run.state)
"""


def test_an_approval_chain_is_continued_on_the_pool(  # type: ignore[no-untyped-def]
    prefect_api,
    database_url,
    api,  # noqa: F811  (the fixture imported above)
    engine,
    tmp_path,
):
    """The waiting chain and the outbox dispatcher on the pool: each decision's outbox row is
    delivered by `postloan dispatch --once` as a run of the approval-chain deployment, and a
    worker of the pool runs it to completion. (The deciding transaction itself opens the next
    level and applies the extension; the run is the chain's continuation, idempotent.)"""
    from sqlmodel import Session, select

    from approvals.models import ApprovalRequest, RequestState
    from loans.book import get_loan
    from statemachines.enums import LoanState
    from tasks.models import Outbox
    from tests.approvals.conftest import APPROVE_EXTENSION
    from tests.flows.test_approval_chain import _apply, _decide

    env = prefect_api
    _pool_and_deployments(env, database_url)
    worker = _worker(env, "w1", database_url, tmp_path)
    dispatch = {
        **env,
        "POSTLOAN_DATABASE_URL": database_url,
        "POSTLOAN_OUTBOX_DELIVERY": "deployment",
    }
    try:
        _apply(api)
        _decide(api, "head_bj", APPROVE_EXTENSION)  # above the head's authority: level 2
        _run([str(BIN / "postloan"), "dispatch", "--once"], dispatch)
        _decide(api, "committee1", APPROVE_EXTENSION)
        _run([str(BIN / "postloan"), "dispatch", "--once"], dispatch)
        _until("both chain runs on the worker",
               lambda: len(_runs(env, "approval-chain", "COMPLETED")) == 2, timeout=180)  # fmt: skip
    finally:
        _stop(worker)
    with Session(engine) as s:
        loan = get_loan(s, "L2")
        assert (loan.state, loan.maturity_date) == (LoanState.extended, date(2026, 7, 15))
        assert s.exec(select(ApprovalRequest)).one().state == RequestState.approved
        rows = s.exec(select(Outbox)).all()
        assert len(rows) == 2 and all(r.flow_run_id and r.delivered_at for r in rows)
