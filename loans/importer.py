"""CSV import of loans, schedules and payments (贷款、还款计划、还款流水导入), all-or-nothing: every
row is checked before anything is written (format: README, “Importing CSV”). No web or Prefect imports."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session

from loans.csv_rows import (
    Cells,
    LineError,
    Rows,
    read_records,
)
from loans.imports.common import (
    COLUMNS,
    ImportKind,
    ImportRejectedError,
    ImportReport,
    Job,
    ScheduleSource,
    Writer,
)
from loans.imports.installments import plan_installments
from loans.imports.loans import plan_loans
from loans.imports.payments import plan_payments

__all__ = [
    "COLUMNS",
    "ImportKind",
    "ImportRejectedError",
    "ImportReport",
    "LineError",
    "ScheduleSource",
    "import_csv",
    "import_rows",
]


def import_csv(
    session: Session,
    kind: ImportKind,
    path: Path | str,
    *,
    actor: str,
    now: datetime,
    business_date: date,
) -> ImportReport:
    """Import one CSV file: UTF-8, with or without the BOM Excel writes."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportRejectedError(
            path.name,
            [
                LineError(
                    1,
                    None,
                    (
                        f"不是 UTF-8 文本（第 {exc.start} 字节），请另存为“CSV UTF-8” "
                        f"(not UTF-8 text, byte {exc.start}; save it as 'CSV UTF-8')"
                    ),
                )
            ],
        ) from exc
    return import_rows(
        session,
        kind,
        io.StringIO(text, newline=""),
        source=path.name,
        actor=actor,
        now=now,
        business_date=business_date,
    )


def import_rows(
    session: Session,
    kind: ImportKind,
    rows: Rows,
    *,
    source: str,
    actor: str,
    now: datetime,
    business_date: date,
) -> ImportReport:
    """Import CSV text or header-keyed dicts: check every row, then write them all, or raise
    ImportRejectedError having written nothing. Only flushes: the caller's transaction commits."""
    kind = ImportKind(kind)
    errors: list[LineError] = []
    header, records = read_records(rows, errors)
    required, optional = COLUMNS[kind]
    if header:
        errors += [
            LineError(1, c, "缺少必需的列 (missing required column)")
            for c in required
            if c not in header
        ]
    if errors:  # a broken header would fail every row the same way: report it alone
        raise ImportRejectedError(source, errors)
    cells = [Cells(line, values, errors) for line, values in records]
    job = Job(source, actor, now, business_date)
    write = _PLANNERS[kind](session, cells, job)
    if errors:
        position = {c: i for i, c in enumerate(header or ())}  # within a line, as in the file
        errors.sort(key=lambda e: (e.line, position.get(e.column or "", -1)))
        raise ImportRejectedError(source, errors)
    report = ImportReport(kind, rows=len(cells))
    report.details += [
        f"ignored unknown column {c!r}" for c in header or () if c not in required + optional
    ]
    try:
        write(report)
        session.flush()
    except Exception:
        # Rows may be flushed already: roll back so nothing is half-imported. Not a SAVEPOINT:
        # on pysqlite, releasing one opened outside a transaction commits it.
        session.rollback()
        raise
    return report


_PLANNERS: dict[ImportKind, Callable[[Session, list[Cells], Job], Writer]] = {
    ImportKind.loans: plan_loans,
    ImportKind.installments: plan_installments,
    ImportKind.payments: plan_payments,
}
