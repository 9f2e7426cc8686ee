"""The journal exports by format (`postloan audit export`, GET /api/v1/audit/export): CSV, XES
and OCEL 2.0 JSON over the same loan cases (audit/event_log.py), streamed in pieces."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

from sqlmodel import Session

from audit.event_log import CaseSource, ExportFilter, ExportStats, LoanCase, loan_cases
from audit.export_csv import csv_chunks
from audit.export_ocel import ocel_chunks
from audit.export_xes import xes_chunks


class ExportFormat(StrEnum):
    csv = "csv"
    xes = "xes"
    ocel = "ocel"


@dataclass(frozen=True)
class FormatSpec:
    chunks: Callable[[Iterable[LoanCase], ExportStats], Iterator[str]]
    media_type: str
    suffix: str


FORMATS: dict[ExportFormat, FormatSpec] = {
    ExportFormat.csv: FormatSpec(csv_chunks, "text/csv; charset=utf-8", ".csv"),
    ExportFormat.xes: FormatSpec(xes_chunks, "application/xml; charset=utf-8", ".xes"),
    ExportFormat.ocel: FormatSpec(ocel_chunks, "application/json", ".jsonocel"),
}


def export_chunks(
    session: Session,
    source: CaseSource,
    fmt: ExportFormat,
    filt: ExportFilter,
    stats: ExportStats,
    page: int = 500,
) -> Iterator[str]:
    """The export as text pieces; `stats` counts what was written once they are consumed."""
    return FORMATS[fmt].chunks(loan_cases(session, source, filt, page), stats)


def write_export(
    session: Session, source: CaseSource, fmt: ExportFormat, filt: ExportFilter, out: TextIO
) -> ExportStats:
    stats = ExportStats()
    for chunk in export_chunks(session, source, fmt, filt, stats):
        out.write(chunk)
    return stats


def filename(fmt: ExportFormat, filt: ExportFilter, today: str) -> str:
    """e.g. postloan-journal-2026-12-02.xes, or …-BJ01-2025-01-01_2025-03-31.csv"""
    parts = ["postloan-journal"]
    if filt.branch:
        parts.append(filt.branch)
    if filt.date_from or filt.date_to:
        parts.append(f"{filt.date_from or 'start'}_{filt.date_to or 'end'}")
    else:
        parts.append(today)
    return re.sub(r"[^A-Za-z0-9._-]", "_", "-".join(parts)) + FORMATS[fmt].suffix
