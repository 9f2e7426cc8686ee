"""approval-chain: the flow that owns an approval chain (展期, 五级分类, 核销, 移交, 预警处置).

A chain waits for people with no process and no Prefect run held: its state is the request's row
and the open task of the deciding level, in our DB. Each decision on a request (approve, reject,
return, resubmit, withdraw) commits, with it, an outbox row; the dispatcher delivers the rows due
at one moment as ONE run of this flow (`items`), and the run `advance`s each request — opens the
next level's task with its due date, applies the kind's effect on approval, cancels what is left
on refusal — then ends. `advance` is idempotent, and the deciding transaction runs it too, so the
next level's task is in the approver's inbox when the decision commits (and an approval and its
effect — the loan extended, the class changed — are one transaction: an approval that cannot
take effect is refused to the approver, never left approved and unapplied). Submitting asks for
no run: the submitting transaction opened level 1, which is all the flow would do.

Why this and not `suspend_flow_run(wait_for_input=…, key=…)` — measured here (Prefect 3.8.8,
2 cores, Postgres for both databases; `python -m bench.approvals`, 2026-12-01):

| | suspend (one run per chain) | continue (this flow) |
|---|---|---|
| getting a chain waiting | a run started and suspended: 2.46 s of a process each (48 in 118 s; 1,000 ≈ 41 min) | nothing (0 runs) |
| processes / runs held while chains wait | 0 processes, 1 suspended run each | 0 processes, 0 runs (1,000 chains) |
| a level decided → the flow waiting again | a process start per resume: 3–4 s alone, p50 36.7 s / p95 44.2 s with 8 approvers at once (process starts compete for 2 cores) | p50 1.3 s / p95 1.4 s with 8 approvers at once (200 decisions, batched, run inline by the dispatcher) |
| runner killed while chains wait | nothing lost; resumed runs wait for a runner (8 went on 24.2 s after a new one started) | nothing to lose: no run exists |
| Prefect down when a manager approves | resume fails; the decision must be kept and replayed anyway | the outbox keeps the row; delivered once Prefect is back (tests/flows) |

Suspend also fails a resume that comes before the run has saved its input schema ("Run input
schema not found"), re-runs the flow from the top on every resume (persisted results, keys that
must be lower-case), and needs result storage every worker reaches. The round trip a person sees
(complete → next level in the inbox) is the same for both: the deciding request opens it — 62 ms
p50 for one approver alone, 391 ms p50 with 8 at once, 1.7× a plain task completion in the same
run (229 ms p50): the API process is the bottleneck (issue #11), not the chain.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from approvals.records import get_request
from approvals.steps import advance
from cases.completion import EFFECTS
from core.errors import PostloanError
from flows.common import business_date, clock, transaction

ACTOR = "system:approval-chain"


def advance_one(request_id: int) -> dict[str, Any]:
    """Bring one request's world in line with its state (one transaction; a no-op if done)."""
    with transaction() as session:
        request = get_request(session, request_id, ACTOR, for_update=True)
        return advance(
            session,
            request,
            EFFECTS,
            actor=ACTOR,
            now=clock().now(),
            business_date=business_date(None),
        )


@task(name="advance-requests", retries=3, retry_delay_seconds=5, timeout_seconds=600)
def advance_requests(request_ids: list[int]) -> list[dict[str, Any]]:
    """Each request in its own transaction: one that fails (and is retried with the step) does
    not hold the others back."""
    results, failed = [], []
    for request_id in request_ids:
        try:
            results.append(advance_one(request_id))
        except PostloanError as exc:
            failed.append(f"request {request_id}: {exc.message}")
    if failed:
        raise RuntimeError("; ".join(failed))  # Prefect retries the step (advance is idempotent)
    return results


@flow(name="approval-chain", log_prints=True)
def approval_chain(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Continue the approval requests of `items` (outbox rows: {"request_id", "seq"})."""
    ids = list(dict.fromkeys(int(item["request_id"]) for item in items))
    results = advance_requests(ids)
    for result in results:
        print(
            f"approval request {result['request_id']}: {result['state']} (level {result['level']})"
        )
    return results
