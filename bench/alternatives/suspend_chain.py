"""The alternative bench/approvals.py compares against (not product code): an approval chain as
ONE flow run that waits for each level with `suspend_flow_run(wait_for_input=…, key=…)` on a
served deployment with persisted results. Its step is the product's own `advance`.

    python -m bench.alternatives.suspend_chain      # serve it (PREFECT_API_URL, POSTLOAN_DATABASE_URL set)
"""

from __future__ import annotations

from typing import Any

from prefect import flow, serve, task
from prefect.flow_runs import suspend_flow_run
from pydantic import BaseModel

from approvals.records import get_request
from approvals.steps import advance
from cases.completion import EFFECTS
from flows.common import business_date, clock, transaction

NAME = "bench-suspend-chain"


class LevelDecision(BaseModel):
    level: int
    decision: str


@task(persist_result=True)
def open_level(request_id: int, level: int) -> dict[str, Any]:
    with transaction() as session:
        request = get_request(session, request_id, "system:bench", for_update=True)
        return advance(
            session, request, EFFECTS, actor="system:bench", now=clock().now(),
            business_date=business_date(None),
        )  # fmt: skip


@flow(name=NAME, persist_result=True)
def suspend_chain(request_id: int, levels: int = 2) -> str:
    for level in range(1, levels + 1):
        open_level(request_id, level)
        got = suspend_flow_run(wait_for_input=LevelDecision, key=f"level-{level}")
        if got.decision != "approve":
            return "rejected"
    return "approved"


if __name__ == "__main__":
    serve(suspend_chain.to_deployment(name=NAME), limit=8, print_starting_message=False)
