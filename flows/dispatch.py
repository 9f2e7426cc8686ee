"""The outbox dispatcher (DESIGN decision 2): delivers each outbox row to Prefect as a run of its
flow's deployment, at least once, with backoff, and marks it delivered. The row's key is the
run's idempotency key, so a row delivered twice (two dispatchers, a crash between the run's
creation and the mark) is still one run; the runs themselves are idempotent (approvals.steps).

Prefect down: the attempt fails, the row waits `2**attempts` seconds (capped) and is tried
again; nothing a person decided is lost — it is committed already. `postloan serve` runs the
loop in a thread and the API wakes it after each commit that wrote a row.

Rows are read and marked in short transactions and delivered outside any: on SQLite a writer
held open across an HTTP call to Prefect would stall every other writer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from core.db import is_postgres, session_scope
from core.settings import get_settings
from flows.common import clock
from tasks.models import Outbox

_wake = threading.Event()


def wake() -> None:
    """Ask a dispatcher running in this process to look now (a no-op when none runs)."""
    _wake.set()


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, get_settings().outbox_backoff_max_seconds))


def _due(now: datetime, limit: int) -> list[dict[str, Any]]:
    with session_scope() as session:
        query = (
            select(Outbox)
            .where(col(Outbox.delivered_at).is_(None), Outbox.next_attempt_at <= now)
            .order_by(col(Outbox.next_attempt_at), col(Outbox.id))
            .limit(limit)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)  # two dispatchers split the rows
        return [
            {"id": r.id, "key": r.key, "flow": r.flow, "parameters": r.parameters}
            for r in session.exec(query)
        ]


def _mark(row_id: int, *, now: datetime, run_id: str | None, error: str | None) -> None:
    with session_scope() as session:
        row = session.get(Outbox, row_id)
        if row is None or row.delivered_at is not None:
            return
        if error is None:
            row.delivered_at, row.flow_run_id, row.last_error = now, run_id, None
        else:
            row.attempts += 1
            row.last_error = error[:2000]
            row.next_attempt_at = now + backoff(row.attempts)
        session.add(row)


def submit_run(flow: str, parameters: dict[str, Any], key: str) -> str:
    """One run of `flow`'s deployment (Prefect's idempotency key makes a repeat the same run)."""
    from prefect.deployments import run_deployment

    from flows.launch import deployment_of

    run = run_deployment(
        deployment_of(flow), parameters=parameters, idempotency_key=key, timeout=0, as_subflow=False
    )
    return str(run.id)


def deliver_due(limit: int = 100) -> DeliveryReport:
    """Deliver the rows that are due now; failures wait their backoff."""
    report = DeliveryReport()
    for row in _due(clock().now(), limit):
        try:
            run_id = submit_run(row["flow"], row["parameters"], row["key"])
        except Exception as exc:  # any failure to reach Prefect (down, refused, 5xx): retry later
            _mark(row["id"], now=clock().now(), run_id=None, error=f"{type(exc).__name__}: {exc}")
            report.failed += 1
            report.errors.append(f"{row['key']}: {type(exc).__name__}: {exc}")
            continue
        _mark(row["id"], now=clock().now(), run_id=run_id, error=None)
        report.delivered += 1
    return report


def pending_count() -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(Outbox).where(col(Outbox.delivered_at).is_(None))
        return int(session.exec(query).one())


class Dispatcher(threading.Thread):
    """The loop `postloan serve` starts: deliver what is due, then wait to be woken (or for the
    interval). Stops when asked."""

    def __init__(self, interval: float | None = None) -> None:
        super().__init__(name="outbox-dispatcher", daemon=True)
        self.interval = interval or get_settings().dispatcher_interval_seconds
        self._halt = threading.Event()
        self.last: DeliveryReport | None = None

    def run(self) -> None:
        while not self._halt.is_set():
            self.last = deliver_due()
            _wake.wait(self.interval)
            _wake.clear()

    def stop(self) -> None:
        self._halt.set()
        _wake.set()
