"""状态历史: the lifecycle state and the risk class each loan had, and for which business days —
a projection of the loan's journal, written in the journal's own transaction (audit.projections),
so that "which loans were 次级 on D" is one indexed range query over the whole book instead of a
fold of every loan's chain.

A row covers [valid_from, valid_to) in business dates; valid_to NULL is the loan's current state.
As of D means at the end of D: of several moves on one day the last counts, and the earlier ones
leave rows with valid_from = valid_to, which no date selects. The journal stays the authority:
the migration that made this table derived it from the journal, and a test folds every loan's
journal through the machines and compares (tests/loans/test_replay_book.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Column, Date, Index, String, Table, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from audit import projections
from loans.book import LOAN
from loans.models import Loan, LoanBucketHistory

LIFECYCLE = "loan_lifecycle"
CLASSIFICATION = "risk_classification"
MACHINES = (LIFECYCLE, CLASSIFICATION)


class LoanStatusHistory(SQLModel, table=True):
    __tablename__ = "loan_status_history"
    __table_args__ = (
        # at most one current row per loan and machine: a second open row is a bug, refused
        Index(
            "ux_loan_status_history_open",
            "loan_id",
            "machine",
            unique=True,
            postgresql_where=text("valid_to IS NULL"),
            sqlite_where=text("valid_to IS NULL"),
        ),
        # as-of D over the book: machine, then the interval, carrying the state
        Index(
            "ix_loan_status_history_asof", "machine", "valid_from", "valid_to", "loan_id", "state"
        ),
        # as-of D of one loan joined from another table (the second machine, the loans): without
        # it SQLite's planner, which has no statistics, ranges over the index above for every
        # loan (quadratic in the book); with it each loan is one seek
        Index(
            "ix_loan_status_history_loan_asof",
            "loan_id",
            "machine",
            "valid_from",
            "valid_to",
            "state",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    loan_id: int = Field(foreign_key="loans.id", index=True)
    machine: str = Field(sa_column=Column(String(40), nullable=False))
    state: str = Field(sa_column=Column(String(40), nullable=False))
    valid_from: date = Field(sa_column=Column(Date, nullable=False))
    valid_to: date | None = Field(default=None, sa_column=Column(Date))


HISTORY: Table = LoanStatusHistory.__table__  # type: ignore[attr-defined]
_LOANS: Table = Loan.__table__  # type: ignore[attr-defined]
BUCKETS: Table = LoanBucketHistory.__table__  # type: ignore[attr-defined]
_CHUNK = 1000  # ids per IN list


def moves_of(rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[tuple[str, date]]]:
    """The state moves among `rows`, per (loan number, machine), in chain order."""
    moves: dict[tuple[str, str], list[tuple[str, date]]] = {}
    for row in rows:
        if (
            row["aggregate_type"] == LOAN
            and row["machine"] in MACHINES
            and row["to_state"] is not None
        ):
            key = (row["aggregate_id"], row["machine"])
            moves.setdefault(key, []).append((str(row["to_state"]), row["business_date"]))
    return moves


def project(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Close each moved loan's current row on the first move's date and add one row per move
    (all but the last closed by the next move). Set-based: the loans' ids in one query per
    thousand, one UPDATE per (machine, date, thousand loans), one multi-row INSERT — a batch of
    the daily sweep costs a few statements, not a few per loan."""
    moves = moves_of(rows)
    if not moves:
        return
    numbers = sorted({no for no, _ in moves})
    ids: dict[str, int] = {}
    for start in range(0, len(numbers), _CHUNK):
        part = numbers[start : start + _CHUNK]
        ids.update(conn.execute(select(_LOANS.c.loan_no, _LOANS.c.id).where(
            _LOANS.c.loan_no.in_(part))).tuples().all())  # fmt: skip
    closing: dict[tuple[str, date], list[int]] = {}
    opening: list[dict[str, Any]] = []
    for (no, machine), seq in moves.items():
        if no not in ids:
            continue  # a journal of no booked loan (tests of the journal alone): nothing to show
        closing.setdefault((machine, seq[0][1]), []).append(ids[no])
        opening.extend(
            {"loan_id": ids[no], "machine": machine, "state": state, "valid_from": on,
             "valid_to": seq[i + 1][1] if i + 1 < len(seq) else None}
            for i, (state, on) in enumerate(seq)
        )  # fmt: skip
    for (machine, on), loan_ids in closing.items():
        for start in range(0, len(loan_ids), _CHUNK):
            conn.execute(
                update(HISTORY)
                .where(
                    HISTORY.c.machine == machine,
                    HISTORY.c.valid_to.is_(None),
                    HISTORY.c.loan_id.in_(loan_ids[start : start + _CHUNK]),
                )
                .values(valid_to=on)
            )
    if opening:
        conn.execute(insert(HISTORY), opening)


projections.register(project)


def on_day(machine: str, on: date, name: str | None = None) -> Any:
    """(loan_id, state) of every loan whose `machine` had a state at the end of `on`, as a
    subquery to join: the one as-of rule every report uses."""
    query = select(HISTORY.c.loan_id, HISTORY.c.state).where(
        HISTORY.c.machine == machine,
        HISTORY.c.valid_from <= on,
        (HISTORY.c.valid_to.is_(None)) | (HISTORY.c.valid_to > on),
    )
    return query.subquery(name or f"{machine}_on")


def bucket_on_day(on: date, name: str = "bucket_on") -> Any:
    """(loan_id, bucket) of every loan in arrears at the end of `on`, from the daily sweep's
    bucket history ([entered_on, left_on), the same rule as above): what the sweep of that day
    saw, so a payment valued earlier but recorded later does not move a past day's bucket."""
    query = select(BUCKETS.c.loan_id, BUCKETS.c.bucket).where(
        BUCKETS.c.entered_on <= on,
        (BUCKETS.c.left_on.is_(None)) | (BUCKETS.c.left_on > on),
    )
    return query.subquery(name)
