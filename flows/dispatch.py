"""The outbox dispatcher (DESIGN decision 2): delivers outbox rows to Prefect as runs of their
flow's deployment, at least once, with backoff, and marks them delivered. The rows due at one
moment for one flow become ONE run (its parameters `items`, one per row): a run costs a process
start (~2 s of CPU here), so a burst of decisions is one run, not one each — Prefect steps work in
chunks (DESIGN). Two ways (`outbox_delivery`): "deployment" starts a run of the flow's
deployment for a work pool's workers — its idempotency key made of its rows' keys, so a batch
delivered twice (two
dispatchers, a crash between the run's creation and the mark) is still one run; "inline" (one
machine, the default) runs the flow in the dispatcher's own process — a Prefect flow run all the
same, without the ~2.5 s of CPU a process start costs here — and marks the rows once it has
completed. The runs are idempotent (approvals.steps): a row delivered twice does no harm.

Prefect down: the attempt fails, the row waits `2**attempts` seconds (capped) and is tried
again; nothing a person decided is lost — it is committed already. `postloan serve` runs the
loop in a process of its own (`postloan dispatch`), which looks every
`dispatcher_interval_seconds` (0.5 s).

Rows are read and marked in short transactions and delivered outside any: on SQLite a writer
held open across an HTTP call to Prefect would stall every other writer.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, func, select

from core.db import session_scope
from core.settings import get_settings
from flows.common import clock
from tasks.models import Outbox


@dataclass
class DeliveryReport:
    delivered: int = 0  # rows
    runs: int = 0  # runs created for them
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
        # no lock held across the delivery: two dispatchers may deliver a row twice — a
        # deployment run is deduplicated by its key, an inline run is idempotent
        return [
            {
                "id": r.id,
                "key": f"{r.key}@{r.token}",  # the row's identity to Prefect (tasks/models.py)
                "flow": r.flow,
                "parameters": r.parameters,
            }
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


def submit_run(flow: str, items: list[dict[str, Any]], keys: list[str]) -> str:
    """One run of `flow`'s deployment for these rows (the same rows make the same run)."""
    from prefect.deployments import run_deployment

    from flows.launch import deployment_of

    key = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    run = run_deployment(
        deployment_of(flow),
        parameters={"items": items},
        idempotency_key=f"outbox:{key}",
        timeout=0,
        as_subflow=False,
    )
    return str(run.id)


def run_inline(flow: str, items: list[dict[str, Any]], keys: list[str]) -> str:
    """The flow run in this process: a Prefect flow run like any other (recorded, retried),
    without a process start; delivered when it has completed."""
    from flows.launch import flow_of

    state = flow_of(flow)(items=items, return_state=True)
    if not state.is_completed():
        raise RuntimeError(f"{flow} run ended {state.type.value}: {state.message}")
    return str(state.state_details.flow_run_id)


def deliver_due(limit: int = 200, mode: str | None = None) -> DeliveryReport:
    """Deliver the rows that are due now, one run per flow; failures wait their backoff.

    `mode` (default: the `outbox_delivery` setting): "inline" runs the flow here, "deployment"
    starts a deployment run for a work pool."""
    deliver = run_inline if (mode or get_settings().outbox_delivery) == "inline" else submit_run
    report = DeliveryReport()
    batches: dict[str, list[dict[str, Any]]] = {}
    for row in _due(clock().now(), limit):
        batches.setdefault(row["flow"], []).append(row)
    for flow, rows in batches.items():
        try:
            run_id = deliver(flow, [r["parameters"] for r in rows], [r["key"] for r in rows])
        except Exception as exc:  # any failure to reach Prefect (down, refused, 5xx): retry later
            error = f"{type(exc).__name__}: {exc}"
            for row in rows:
                _mark(row["id"], now=clock().now(), run_id=None, error=error)
            report.failed += len(rows)
            report.errors.append(f"{flow} ({len(rows)} rows): {error}")
            continue
        for row in rows:
            _mark(row["id"], now=clock().now(), run_id=run_id, error=None)
        report.delivered += len(rows)
        report.runs += 1
    return report


def pending_count() -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(Outbox).where(col(Outbox.delivered_at).is_(None))
        return int(session.exec(query).one())


class Dispatcher(threading.Thread):
    """The loop of `postloan dispatch`: deliver what is due, wait the interval, again; stops when
    asked."""

    def __init__(self, interval: float | None = None) -> None:
        super().__init__(name="outbox-dispatcher", daemon=True)
        self.interval = interval or get_settings().dispatcher_interval_seconds
        self._halt = threading.Event()  # stop() sets it: the wait ends at once
        self.last: DeliveryReport | None = None

    def run(self) -> None:
        while not self._halt.is_set():
            self.last = deliver_due()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
