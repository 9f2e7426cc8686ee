"""A simulation's record: what it was asked (its parameters), how far it got (the last day run,
so a stopped run resumes at the next), what it counted day by day, the month-end figures, the
checks that failed, and the final figures a credit officer reads (`/reports/simulation`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, DateTime
from sqlmodel import Field, SQLModel


class SimulationRun(SQLModel, table=True):
    __tablename__ = "simulation_runs"

    id: int | None = Field(default=None, primary_key=True)
    params: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_day: date | None = Field(default=None, sa_column=Column(Date))  # None: book not built
    seconds: float = 0.0  # time spent running it, over every resume
    totals: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    months: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    failures: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    figures: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
