"""Task completions at scale (issue #11 part 3): N signed-in users, each with its own bearer token
and kept-alive connection, claiming and completing distinct loan-card checks (a real form; the
journal and the outbox written) over HTTP against `postloan serve --no-flows` on Postgres, with 1
and with 2 server workers, against a floor measured in the same run: the same row updates,
journal entries (hashed as the journal hashes them) and outbox insert as raw SQL from as many
connections.

    .venv/bin/python -m bench.complete [--clients 32] [--tasks 40] [--workers 1,2]
        [--warmup 3] [--threads N] [--pg-url …] [--keep]

Prints completions/s, p50/p95/p99 of a completion (claim + complete), errors by status, the
ratio to the floor, and the CPU each completion cost: the server's processes, the database's
backends serving this database (from /proc) and this client. Then checks the database: no task
completed twice, every completion answered 200 is in the journal and the outbox, the journal
verifies. Goal (issue #11): ≥ 500 completions/s, p95 ≤ 50 ms at 32 clients. Nothing is asserted:
a measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg.types.json import Jsonb
from rich.console import Console
from rich.table import Table
from sqlmodel import Session, select

from audit.journal import GENESIS, jsonable, row_hash
from bench.common import LOAN_CARD, children, free_port, pct, stop, throwaway_database, wait_http
from core.clock import SystemClock
from core.db import make_engine
from core.identity import Role, add_user, hash_password, user_by_username
from forms import schema_hash
from loans.demo import seed_org
from tasks.models import HumanTask
from tasks.opening import TaskSpec, open_task

PASSWORD = "bench-complete"
ROOT = Path(__file__).resolve().parents[1]
FLOW = "bench-complete"  # the outbox row's flow: no dispatcher runs, the rows stay
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime + stime of each process, from /proc (a process gone since is left out)."""
    out = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def postgres_seconds(postmaster: int) -> float:
    """All of the Postgres server's CPU: its processes alive now, and those it has reaped
    (cutime/cstime: a backend of a connection closed in between counts too)."""
    try:
        fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    reaped = (int(fields[13]) + int(fields[14])) / TICKS
    return reaped + sum(cpu_seconds([postmaster, *children(postmaster)]).values())


def machine_ticks() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal (all cores)."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


class Cpu:
    """CPU used between start() and stop() by the server's processes, by the Postgres backends
    connected to the bench database when both samples are taken, by the whole Postgres server
    (anything else it serves meanwhile included) and by this client."""

    def __init__(self, admin: str, database: str, server_pid: int | None) -> None:
        self.admin, self.database, self.server_pid = admin, database, server_pid
        self.before: tuple[dict[int, float], dict[int, float], float, float] = ({}, {}, 0.0, 0.0)

    def _backends(self) -> list[int]:
        with psycopg.connect(self.admin, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.database]
            ).fetchall()
        return [r[0] for r in rows]

    def _sample(self) -> tuple[dict[int, float], dict[int, float], float, float]:
        server = (
            cpu_seconds([self.server_pid, *children(self.server_pid)]) if self.server_pid else {}
        )
        backends = self._backends()
        postmaster = 0
        if backends:
            stat = Path(f"/proc/{backends[0]}/stat").read_text()
            postmaster = int(stat.rsplit(")", 1)[1].split()[1])
        whole = postgres_seconds(postmaster) if postmaster else 0.0
        self.ticks = machine_ticks()
        return server, cpu_seconds(backends), time.process_time(), whole

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, Any]:
        ticks = self.ticks
        after = self._sample()
        spent_ticks = [b - a for a, b in zip(ticks, self.ticks, strict=True)]
        total = max(1, sum(spent_ticks))

        def spent(b: dict[int, float], a: dict[int, float]) -> float:
            return sum(v - b.get(pid, 0.0) for pid, v in a.items())

        return {
            "server": spent(self.before[0], after[0]),
            "backends": spent(self.before[1], after[1]),
            "postgres": after[3] - self.before[3],
            "client": after[2] - self.before[2],
            # the whole machine, both cores: idle (iowait too) and stolen by the host
            "idle": (spent_ticks[3] + spent_ticks[4]) / total,
            "steal": spent_ticks[7] / total,
            "busy": (total - spent_ticks[3] - spent_ticks[4]) / TICKS,
            "workers": sorted(
                (v - self.before[0].get(pid, 0.0) for pid, v in after[0].items()), reverse=True
            ),
        }


@dataclass
class Phase:
    label: str
    completed: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    cpu: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds else 0.0

    def per_completion_ms(self, what: str) -> float:
        return self.cpu.get(what, 0.0) * 1000 / max(1, self.completed)


def seed(session: Session, clients: int, phases: list[str], per: int, today: date) -> None:
    """The demo org, `clients` account managers in BJ01, and `per` loan-card checks named to
    each of them for every phase (distinct tasks: no two clients ever touch the same one); a
    completion continues a flow, so it writes an outbox row as a flow's task does."""
    pw = hash_password(PASSWORD)
    org = seed_org(session, pw)
    now = SystemClock().now()
    for i in range(clients):
        user = add_user(session, username=f"am_c{i}", full_name=f"客户经理{i}",
                        org_unit=org.units["BJ01"], roles=[Role.account_manager],
                        password_hash=pw)  # fmt: skip
        for phase in phases:
            for j in range(per):
                open_task(session, TaskSpec(
                    kind="loan_card_check", key=f"{phase}:{i}:{j}", title=f"贷款卡检查 {phase} {i}/{j}",
                    due_date=today + timedelta(days=20), org_unit=org.units["BJ01"],
                    candidate_user=user, context={"continue": {"flow": FLOW, "parameters": {}}},
                ), actor="system:bench", now=now, business_date=today)  # fmt: skip
        session.commit()


def task_ids(engine: Any, phase: str, clients: int) -> list[list[int]]:
    with Session(engine) as s:
        return [
            list(
                s.exec(
                    select(HumanTask.id)
                    .where(HumanTask.key.startswith(f"{phase}:{i}:"))  # type: ignore[attr-defined]
                    .order_by(HumanTask.id)  # type: ignore[arg-type]
                ).all()
            )
            for i in range(clients)
        ]


# ---------------------------------------------------------------- the floor: raw SQL


LOCK_TASK = "SELECT version FROM human_tasks WHERE id = %s FOR UPDATE"
CLAIM = ("UPDATE human_tasks SET state = 'claimed', assignee_id = %s, claimed_at = %s, "
         "updated_at = %s, version = version + 1 WHERE id = %s AND version = %s")  # fmt: skip
COMPLETE = ("UPDATE human_tasks SET state = 'completed', result = %s, form_schema_version = 1, "
            "completed_by_id = %s, completed_at = %s, draft = NULL, updated_at = %s, "
            "version = version + 1 WHERE id = %s AND version = %s")  # fmt: skip
LOCK_HEAD = ("SELECT chain_seq, hash FROM journal_heads WHERE aggregate_type = 'task' "
             "AND aggregate_id = %s FOR UPDATE")  # fmt: skip
MOVE_HEAD = ("UPDATE journal_heads SET chain_seq = %s, hash = %s WHERE aggregate_type = 'task' "
             "AND aggregate_id = %s")  # fmt: skip
JOURNAL = ("INSERT INTO journal (aggregate_type, aggregate_id, chain_seq, machine, event, "
           "from_state, to_state, business_date, wall_time, actor, on_behalf_of, reason, payload, "
           "form_kind, schema_hash, prev_hash, hash) VALUES (%(aggregate_type)s, %(aggregate_id)s, "
           "%(chain_seq)s, %(machine)s, %(event)s, %(from_state)s, %(to_state)s, %(business_date)s, "
           "%(wall_time)s, %(actor)s, %(on_behalf_of)s, %(reason)s, %(payload_json)s, "
           "%(form_kind)s, %(schema_hash)s, %(prev_hash)s, %(hash)s)")  # fmt: skip
OUTBOX = ("INSERT INTO outbox (key, token, flow, parameters, created_at, next_attempt_at, "
          "attempts) VALUES (%s, %s, %s, %s, %s, %s, 0) ON CONFLICT (key) DO NOTHING")  # fmt: skip


def floor_move(cur: psycopg.Cursor[Any], task_id: int, user: tuple[int, str], event: str,
               before: str, after: str, today: date) -> None:  # fmt: skip
    """One task command as raw SQL, one transaction: the task locked and updated, its chain's
    head locked, the entry hashed as audit.journal hashes it, inserted, the head moved (and the
    completion's outbox row)."""
    now = datetime.now(UTC)
    (version,) = cur.execute(LOCK_TASK, [task_id]).fetchone() or (None,)
    payload = jsonable(LOAN_CARD) if event == "complete" else {}
    if event == "claim":
        cur.execute(CLAIM, [user[0], now, now, task_id, version])
    else:
        cur.execute(COMPLETE, [Jsonb(payload), user[0], now, now, task_id, version])
    seq, prev = cur.execute(LOCK_HEAD, [str(task_id)]).fetchone() or (0, GENESIS)
    kind = "loan_card_check" if event == "complete" else None
    row: dict[str, Any] = {
        "aggregate_type": "task", "aggregate_id": str(task_id), "chain_seq": seq + 1,
        "machine": "human_task", "event": event, "from_state": before, "to_state": after,
        "business_date": today, "wall_time": now, "actor": f"u:{user[1]}", "on_behalf_of": None,
        "reason": None, "payload": payload, "form_kind": kind,
        "schema_hash": schema_hash(kind) if kind else None, "prev_hash": prev,
    }  # fmt: skip
    row["hash"] = row_hash(row)
    cur.execute(JOURNAL, {**row, "payload_json": Jsonb(payload)})
    cur.execute(MOVE_HEAD, [row["chain_seq"], row["hash"], str(task_id)])
    if event == "complete":
        cur.execute(OUTBOX, [f"task:{task_id}:complete", secrets.token_hex(16), FLOW,
                             Jsonb({"task_id": task_id}), now, now])  # fmt: skip
    cur.connection.commit()


def measure_floor(url: str, ids: list[list[int]], users: list[tuple[int, str]], warmup: int,
                  today: date, cpu: Cpu) -> Phase:  # fmt: skip
    phase = Phase("floor: the same writes as raw SQL")
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    conns = [psycopg.connect(dsn) for _ in ids]
    barrier = threading.Barrier(len(ids) + 1)
    lock = threading.Lock()

    def client(i: int) -> None:
        cur = conns[i].cursor()
        mine: list[float] = []
        barrier.wait()
        for n, task_id in enumerate(ids[i]):
            t0 = time.perf_counter()
            floor_move(cur, task_id, users[i], "claim", "open", "claimed", today)
            floor_move(cur, task_id, users[i], "complete", "claimed", "completed", today)
            if n >= warmup:
                mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            phase.latencies_ms.extend(mine)

    phase.seconds, phase.cpu = timed(len(ids), client, barrier, cpu)
    phase.completed = len(phase.latencies_ms)
    for conn in conns:
        conn.close()
    return phase


def timed(
    n: int, client: Callable[[int], None], barrier: threading.Barrier, cpu: Cpu
) -> tuple[float, dict[str, Any]]:
    """Run `n` client threads that start together; the wall time and CPU of the measured part
    (warm-up included in the wall time only as long as the slowest client's)."""
    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    cpu.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, cpu.stop()


# ---------------------------------------------------------------- over HTTP


def nodelay_transport() -> httpx.AsyncHTTPTransport:
    # asyncio sets TCP_NODELAY on TCP connections already; said here so it does not depend on it
    return httpx.AsyncHTTPTransport(
        socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)], retries=0
    )


async def sign_in_all(base: str, clients: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        tokens = []
        for i in range(clients):  # one after another: argon2 is slow on purpose
            r = await c.post(
                "/api/v1/auth/token", data={"username": f"am_c{i}", "password": PASSWORD}
            )
            r.raise_for_status()
            tokens.append(r.json()["access_token"])
        return tokens


async def measure_http(base: str, label: str, ids: list[list[int]], tokens: list[str],
                       warmup: int, cpu: Cpu) -> Phase:  # fmt: skip
    phase = Phase(label)
    started = asyncio.Event()

    async def user(i: int) -> None:
        async with httpx.AsyncClient(base_url=base, transport=nodelay_transport(), timeout=120,
                                     headers={"Authorization": f"Bearer {tokens[i]}"},
                                     limits=httpx.Limits(max_connections=1)) as c:  # fmt: skip
            await c.get("/healthz")  # the kept-alive connection, opened before the clock starts
            await started.wait()
            for n, task_id in enumerate(ids[i]):
                t0 = time.perf_counter()
                claim = await c.post(f"/api/v1/tasks/{task_id}/claim")
                if claim.status_code != 200:
                    phase.errors[f"claim {claim.status_code}"] += 1
                    continue
                done = await c.post(f"/api/v1/tasks/{task_id}/complete", json={"data": LOAN_CARD})
                if done.status_code != 200:
                    phase.errors[f"complete {done.status_code}"] += 1
                    continue
                phase.completed += 1
                if n >= warmup:
                    phase.latencies_ms.append((time.perf_counter() - t0) * 1000)

    runners = [asyncio.create_task(user(i)) for i in range(len(ids))]
    await asyncio.sleep(0.5)  # every client connected
    cpu.start()
    t0 = time.perf_counter()
    started.set()
    await asyncio.gather(*runners)
    phase.seconds = time.perf_counter() - t0
    phase.cpu = cpu.stop()
    return phase


def serve(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """`postloan serve --no-flows` of this checkout (not whatever `postloan` is installed)."""
    out = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-c", "from api.cli import app; app()", "serve", "--no-flows",
         "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT, env=env, stdout=out, stderr=out, start_new_session=True,
    )  # fmt: skip


# ---------------------------------------------------------------- afterwards


def check(engine: Any, answered: int) -> dict[str, Any]:
    """What the database says after the run: completions once each, all journaled and queued."""
    from sqlalchemy import text

    from audit.verify import verify_journal

    with engine.connect() as conn:
        one = lambda sql: conn.execute(text(sql)).scalar() or 0  # noqa: E731
        out = {
            "completed": one("SELECT count(*) FROM human_tasks WHERE state = 'completed'"),
            "duplicates": one(
                "SELECT count(*) FROM (SELECT aggregate_id FROM journal WHERE aggregate_type = "
                "'task' AND event = 'complete' GROUP BY aggregate_id HAVING count(*) > 1) d"
            ),
            "journaled": one(
                "SELECT count(*) FROM journal WHERE aggregate_type = 'task' AND event = 'complete'"
            ),
            "outbox": one(f"SELECT count(*) FROM outbox WHERE flow = '{FLOW}'"),
        }
    report = verify_journal(engine)
    out["answered"] = answered
    out["verify"] = (
        "ok" if not report.breaks else f"{len(report.breaks)} breaks: {report.breaks[:2]}"
    )
    out["entries"] = report.entries
    return out


def others(phase: Phase) -> float:
    """CPU the machine spent on processes that are not this bench's (both cores)."""
    cpu = phase.cpu
    return max(0.0, cpu["busy"] - cpu["server"] - cpu["postgres"] - cpu["client"])


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--tasks", type=int, default=40, help="tasks per client and phase")
    ap.add_argument("--warmup", type=int, default=3, help="first completions per client not timed")
    ap.add_argument("--workers", default="1,2", help="server worker counts to measure")
    ap.add_argument("--threads", type=int, help="POSTLOAN_API_THREADS of the server (its default)")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",") if w]
    console, started = Console(width=120), time.perf_counter()
    phases = ["floor", *(f"w{w}" for w in workers)]
    today = SystemClock().today()
    with throwaway_database("postgres", args.pg_url, "postloan_bench_complete_", args.keep) as (
        url,
        home,
    ):
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        database = parsed.database or ""
        admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
        engine = make_engine(url)
        console.print(f"seeding {args.clients} users × {args.tasks} tasks × {len(phases)} phases …")
        with Session(engine, expire_on_commit=False) as session:
            seed(session, args.clients, phases, args.tasks, today)
            users = [(user_by_username(session, f"am_c{i}").id or 0, f"am_c{i}")
                     for i in range(args.clients)]  # fmt: skip
        env = {**os.environ, "POSTLOAN_DATABASE_URL": url,
               "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
               "POSTLOAN_SECRET_KEY": secrets.token_hex(32), "POSTLOAN_COOKIE_SECURE": "false",
               "POSTLOAN_ATTACHMENTS_DIR": str(home / "attachments"),
               "POSTLOAN_ANCHOR_KEY_FILE": str(home / "anchor_key.pem"),
               "POSTLOAN_ANCHOR_TRUSTED_KEYS_DIR": str(home / "trusted"),
               "POSTLOAN_ANCHOR_LOG": str(home / "anchor_log.jsonl")}  # fmt: skip
        if args.threads:
            env["POSTLOAN_API_THREADS"] = str(args.threads)
        results: list[Phase] = []
        floor = measure_floor(url, task_ids(engine, "floor", args.clients), users, args.warmup,
                              today, Cpu(admin, database, None))  # fmt: skip
        console.print(f"floor: {floor.rate:.0f} completions/s")
        answered = floor.completed + args.clients * args.warmup
        for w in workers:
            port = free_port()
            proc = serve(env, port, w, home / f"serve-{w}.log")
            try:
                wait_http(f"http://127.0.0.1:{port}/healthz", proc)
                base = f"http://127.0.0.1:{port}"
                tokens = asyncio.run(sign_in_all(base, args.clients))
                label = f"HTTP, {w} worker{'s' if w > 1 else ''}"
                phase = asyncio.run(measure_http(base, label, task_ids(engine, f"w{w}", args.clients),
                                                 tokens, args.warmup, Cpu(admin, database, proc.pid)))  # fmt: skip
            finally:
                stop(proc)
            console.print(
                f"{phase.label}: {phase.rate:.0f} completions/s, errors {dict(phase.errors)}"
            )
            answered += phase.completed
            results.append(phase)
        facts = check(engine, answered)
        engine.dispose()

    table = Table("", "completions/s", "÷ floor", "p50 / p95 / p99 ms", "errors",
                  "CPU ms per completion: server / Postgres (its backends) / client",
                  title=f"task claim + complete, {args.clients} clients × {args.tasks} tasks (Postgres)")  # fmt: skip
    for phase in [floor, *results]:
        ms = phase.latencies_ms
        table.add_row(
            phase.label,
            f"{phase.rate:.0f}",
            f"{phase.rate / floor.rate:.2f}" if floor.rate else "",
            f"{pct(ms, .5):.0f} / {pct(ms, .95):.0f} / {pct(ms, .99):.0f}",
            ", ".join(f"{k}: {v}" for k, v in sorted(phase.errors.items())) or "0",
            f"{phase.per_completion_ms('server'):.1f} / {phase.per_completion_ms('postgres'):.1f} "
            f"({phase.per_completion_ms('backends'):.1f}) / {phase.per_completion_ms('client'):.1f}",
        )  # fmt: skip
    console.print(table)
    console.print("goal: ≥ 500 completions/s, p95 ≤ 50 ms at 32 clients")
    console.print(
        f"{floor.label}: the machine {floor.cpu['idle']:.0%} idle, "
        f"{others(floor):.1f} s of CPU used by other processes in {floor.seconds:.1f} s"
    )
    for phase in results:
        split = " + ".join(f"{v:.1f}" for v in phase.cpu.get("workers", []) if v >= 0.05)
        console.print(f"{phase.label}: server CPU by process {split} s in {phase.seconds:.1f} s; "
                      f"Postgres {phase.cpu['postgres']:.1f} s, client {phase.cpu['client']:.1f} s; "
                      f"the machine {phase.cpu['idle']:.0%} idle, {phase.cpu['steal']:.0%} stolen, "
                      f"{others(phase):.1f} s of CPU used by other processes")  # fmt: skip
    console.print(
        f"database afterwards: {facts['completed']} tasks completed, {facts['answered']} "
        f"completions answered 200, {facts['journaled']} in the journal, {facts['outbox']} "
        f"outbox rows, {facts['duplicates']} completed twice; journal verify: {facts['verify']} "
        f"({facts['entries']} entries)"
    )
    console.print(f"whole run {time.perf_counter() - started:.0f} s (logs in {home})")


if __name__ == "__main__":
    main()
