"""The figures a credit officer asks of a simulated year, read through the product's own reports
(reports.portfolio, reports.inspections) and tables: month-end five-tier distribution and NPL
ratio, roll rates, expected bad debt, late inspections per branch as the bank is assessed (by
registration date), SLA escalations, approval-chain durations, collection ladders reaching legal."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from statistics import quantiles
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from cases.ladder import LEGAL
from cases.models import CollectionCase
from reports.inspections import late_inspections
from reports.portfolio import portfolio_report
from tasks.models import TaskEscalation


def _pct(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value) * 100, 2)


def month_figures(session: Session, on: date) -> dict[str, Any]:
    report = portfolio_report(session, on=on, today=on, org_paths=None)
    return {
        "on": on.isoformat(),
        "tiers": {
            t.risk_class: {"count": t.count, "balance_cents": t.balance_cents} for t in report.tiers
        },  # fmt: skip
        "loans": report.total.count,
        "balance_cents": report.total.balance_cents,
        "npl_balance_cents": report.npl.balance_cents,
        "npl_ratio_pct": _pct(report.npl_ratio),
        "expected_bad_debt_cents": report.expected_bad_debt_cents,
        "from_summary": report.summarized_at is not None,
    }


def final_figures(session: Session, start: date, end: date) -> dict[str, Any]:
    report = portfolio_report(session, on=end, today=end, org_paths=None)
    roll = [
        {"start": p.start.isoformat(), "end": p.end.isoformat(),
         "cells": {c.bucket: {"count": c.count, "rolled": c.rolled_count,
                              "rate_pct": _pct(c.count_rate)} for c in p.cells}}
        for p in report.roll
    ]  # fmt: skip
    late = [
        {"branch": r.branch, "name": r.branch_name, "due": r.due, "on_time": r.on_time,
         "late": r.late, "open_late": r.open_late, "late_rate_pct": _pct(r.late_rate)}
        for r in late_inspections(session, on=end, start=start)
        if r.manager is None
    ]  # fmt: skip
    escalations = Counter(
        dict(
            session.execute(
                select(TaskEscalation.step, func.count()).group_by(TaskEscalation.step)
            ).all()
        )
    )
    return {
        "roll_rates": roll,
        "bad_debt": [
            {
                "bucket": r.bucket,
                "balance_cents": r.balance_cents,
                "rate": str(r.rate),
                "from_history": r.from_history,
                "expected_cents": r.expected_cents,
            }
            for r in report.bad_debt
        ],  # fmt: skip
        "late_inspections": late,
        "sla_escalations": dict(escalations),
        "chains": chain_durations(session),
        "ladders": ladders(session),
    }


def chain_durations(session: Session) -> dict[str, Any]:
    """Days from filing to the last decision, per request kind and outcome."""
    rows = session.execute(
        select(
            ApprovalRequest.kind,
            ApprovalRequest.state,
            ApprovalRequest.requested_on,
            ApprovalRequest.decided_on,
        )  # fmt: skip
    ).all()
    by_kind: dict[str, Any] = {}
    for kind in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == kind]
        days = [(r[3] - r[2]).days for r in mine if r[3] is not None]
        by_kind[kind] = {
            "filed": len(mine),
            "outcomes": dict(Counter(str(r[1]) for r in mine)),
            "decided": len(days),
            "days_p50": _quantile(days, 2),
            "days_p95": _quantile(days, 20),
        }
    return by_kind


def _quantile(values: list[int], n: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return float(values[0])
    return round(quantiles(values, n=n, method="inclusive")[-1], 1)


def ladders(session: Session) -> dict[str, int]:
    steps = dict(
        session.execute(
            select(CollectionCase.step, func.count()).group_by(CollectionCase.step)
        ).all()
    )
    closed = session.execute(
        select(func.count()).where(col(CollectionCase.closed_on).is_not(None))
    ).scalar_one()
    return {
        "cases": sum(steps.values()),
        "closed": closed,
        "reached_legal": sum(n for step, n in steps.items() if step >= LEGAL),
        **{f"step_{step}": n for step, n in sorted(steps.items())},
    }
