"""approval-chain: the flow that owns an approval chain (展期, 五级分类, 核销, 移交, 预警处置).

A chain waits for people with no process and no Prefect run held: its state is the request's row
and the open task of the deciding level, in our DB. Each human act on the request (submit,
decide, return, resubmit, withdraw) commits, with it, an outbox row; the dispatcher delivers it
as one run of this deployment (idempotency key per act), and the run `advance`s the request —
opens the next level's task with its due date, applies the kind's effect on approval, cancels
what is left on refusal — then ends. `advance` is idempotent, and the completing transaction runs
it too, so the next level's task is in the approver's inbox when the decision commits; the run
then finds its work done.

Why this and not `suspend_flow_run(wait_for_input=…)` — measured on this machine (Prefect 3.8.8,
`serve()` polling every second, 2 cores; bench/approvals.py --mechanism suspend|continue):
MEASUREMENTS
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task

from approvals.records import get_request
from approvals.steps import advance
from cases.completion import EFFECTS
from flows.common import business_date, clock, transaction

ACTOR = "system:approval-chain"


@task(name="advance-request", retries=3, retry_delay_seconds=5, timeout_seconds=120)
def advance_request(request_id: int) -> dict[str, Any]:
    """Bring the request's world in line with its state (one transaction; a no-op if done)."""
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


@flow(name="approval-chain", log_prints=True)
def approval_chain(request_id: int, seq: int = 0) -> dict[str, Any]:
    """Continue approval request `request_id` after the act journaled as its entry `seq`."""
    result = advance_request(request_id)
    print(
        f"approval request {request_id} after #{seq}: {result['state']} (level {result['level']})"
    )
    return result
