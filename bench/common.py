"""What the benchmarks share: a loan-card check's valid form, a free local port, a percentile, a
throw-away database."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

LOAN_CARD = {
    "retrieved_on": "2026-12-01",
    "other_bank_credit_balance_change": "0",
    "external_guarantee_balance_change": "0",
    "other_bank_classifications": [],
    "other_bank_delinquencies": [],
    "concentrated_maturities": [],
    "conclusion": "normal",
}


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def stop(proc: subprocess.Popen[bytes], wait: float = 20) -> None:
    """Stop a server started in its own process group (`start_new_session`): SIGTERM, then
    SIGKILL after `wait` seconds; nothing if it has exited."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Until `url` answers below 500 (the server is up); the server's exit is an error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(url)


def children(pid: int) -> list[int]:
    """Every descendant process of `pid` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_database(db: str, pg_url: str, prefix: str, keep: bool) -> Iterator[tuple[str, Path]]:
    """A database for one bench run, migrated to head and named in POSTLOAN_DATABASE_URL: a
    SQLite file in a temp folder, or a new Postgres database `<prefix><random>` dropped after
    the run unless `keep`. Yields its URL and the temp folder (for keys, logs …)."""
    from core.settings import get_settings
    from migrations import upgrade

    outside = Path(tempfile.mkdtemp(prefix=prefix))
    name = f"{prefix}{secrets.token_hex(4)}"
    admin = make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False)
    if db == "sqlite":
        url = f"sqlite:///{outside / 'bench.db'}"
    else:
        url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["POSTLOAN_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        upgrade(url)
        yield url, outside
    finally:
        if db == "postgres" and not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def template_loan_row(
    session: Any, org: Any, borrower_id: int, loan_no: str, booked: date, months: int, now: datetime
) -> dict[str, Any]:
    """Book one loan through `open_loan` (its schedule and opening journal entries) and return
    its row without the id, for a bench to copy as many loans by bulk insert."""
    from loans.book import LoanTerms, open_loan
    from loans.models import Loan
    from loans.schedule import RepaymentMethod, add_months

    terms = LoanTerms(
        loan_no=loan_no,
        borrower_id=borrower_id,
        product="working_capital",
        branch_id=org.units["BJ01"].id or 0,
        account_manager_id=org.users["am_bj1"].id or 0,
        principal_cents=500_000_00,
        annual_rate=Decimal("0.0435"),
        disbursement_date=booked,
        maturity_date=add_months(booked, months),
        repayment_method=RepaymentMethod.equal_installment,
    )
    template = open_loan(session, terms, actor="u:am_bj1", now=now, business_date=booked)
    session.commit()
    return {
        c.name: getattr(template, c.name)
        for c in Loan.__table__.columns  # type: ignore[attr-defined]
        if c.name != "id"
    }
