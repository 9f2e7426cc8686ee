"""/api/v1/reports/simulation: a `postloan simulate` run's figures as JSON — the month-end five
tiers and NPL ratio, roll rates, late inspections, SLA escalations, approval-chain durations,
ladders, and the checks that failed. The book is the whole bank's: readers whose reports cover
the whole bank (head office, auditors)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.auth import ActorDep
from api.deps import OneHopRoute, SessionDep
from api.error_schema import error_responses
from core.errors import NotFoundError, PermissionDeniedError
from reports.scope import report_scope
from sim.models import SimulationRun
from tasks.access import Actor

router = APIRouter(prefix="/reports", tags=["reports"], route_class=OneHopRoute)

RunId = Annotated[
    int | None, Query(ge=1, description="模拟编号，默认最近一次 (the run; default: the latest)")
]


class SimulationPublic(BaseModel):
    """模拟运行: what was asked, how far it got, and what it found."""

    run: int
    params: dict[str, Any]
    last_day: str | None
    finished: bool
    seconds: float
    totals: dict[str, int]
    months: list[dict[str, Any]]
    figures: dict[str, Any]
    failures: list[str]


def require_whole_bank(actor: Actor) -> None:
    scope = report_scope(actor)
    if scope is not None and not any(path.count("/") == 2 for path in scope):
        raise PermissionDeniedError(
            "模拟报表为全行数据，仅总行人员与审计人员可以查看 "
            "(the simulation covers the whole bank: head office and auditors read it)"
        )


def load_run(session: Any, run: int | None) -> SimulationRun:
    from sqlmodel import col, select

    query = select(SimulationRun).order_by(col(SimulationRun.id).desc())
    if run is not None:
        query = query.where(SimulationRun.id == run)
    found = session.exec(query).first()
    if found is None:
        raise NotFoundError(
            "没有模拟记录，请先运行 postloan simulate (no simulation: run `postloan simulate`)"
            if run is None
            else f"没有编号为 {run} 的模拟 (no simulation #{run})",
            run=run,
        )
    return found


def public(r: SimulationRun) -> SimulationPublic:
    return SimulationPublic(
        run=r.id or 0,
        params=r.params,
        last_day=r.last_day.isoformat() if r.last_day else None,
        finished=r.finished_at is not None,
        seconds=round(r.seconds, 1),
        totals=r.totals,
        months=r.months,
        figures=r.figures,
        failures=r.failures,
    )


@router.get(
    "/simulation", response_model=SimulationPublic, responses=error_responses(401, 403, 404, 422)
)
def simulation_report(session: SessionDep, actor: ActorDep, run: RunId = None) -> SimulationPublic:
    require_whole_bank(actor)
    return public(load_run(session, run))
