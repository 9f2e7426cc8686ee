"""Step 5 of the sweep: loans whose regulatory floor is worse than their class, as proposals
(never applied here); the days-past-due floors in SQL, the rest through floors_for."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    ARRAY,
    Integer,
    and_,
    any_,
    case,
    exists,
    false,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from core.db import is_postgres
from loans.floors import floors_for
from loans.models import (
    BorrowerKind,
)
from loans.regulation import Floor, FloorFacts, RuleBook, classification_floor
from loans.sweeping.results import (
    BORROWERS,
    LOANS,
    NPL,
    OPEN,
    FloorProposal,
    among,
    id_parts,
)
from statemachines.enums import RiskClass


# -- 5. class floors ------------------------------------------------------------------------------
def npl_borrowers(session: Session) -> frozenset[int]:
    """Non-retail borrowers with at least one 不良 loan (第七条 contagion): the loans of these
    borrowers get the full floor facts. Computed once per date by sweep_date (one small query)."""
    npl = LOANS.c.risk_class.in_([literal_column(f"'{c}'") for c in NPL])  # ix_loans_npl_borrower
    query = (
        select(LOANS.c.borrower_id)
        .distinct()
        .join(BORROWERS, BORROWERS.c.id == LOANS.c.borrower_id)
        .where(
            npl,
            LOANS.c.state.in_(OPEN),  # claims on the books only (not settled, not written off)
            BORROWERS.c.kind != BorrowerKind.individual.value,
        )
    )
    return frozenset(session.connection().execute(query).scalars())


def floor_proposals(
    session: Session,
    d: date,
    lo: int,
    hi: int,
    book: RuleBook,
    contagious: frozenset[int] | None = None,
) -> list[FloorProposal]:
    """Loans whose floor on `d` is worse than their class. Days-past-due floors in SQL (a CASE over
    the rule parameters in force); restructured loans and non-retail borrowers with another 不良
    loan get the full facts of floor_for, gathered for the whole chunk at once."""
    conn, loans = session.connection(), LOANS
    dpd_rules = sorted(
        (r for r in book.in_force(d) if r.floor is not None and "days" in r.params),
        key=lambda r: r.floor.rank if r.floor else 0,
        reverse=True,
    )  # the days-past-due rules (分类办法 第九–十二条); worst first, so CASE yields the worst
    whens = [
        (loans.c.days_past_due > r.params["days"], r.floor.rank if r.floor else 0)
        for r in dpd_rules
    ]
    floor_rank: Any = case(*whens, else_=0) if whens else literal(0)
    class_rank = case({c.value: c.rank for c in RiskClass}, value=loans.c.risk_class, else_=0)
    cols = (
        loans.c.id,
        loans.c.loan_no,
        loans.c.risk_class,
        loans.c.days_past_due,
        loans.c.borrower_id,
        loans.c.restructured_on,
        loans.c.class_before_restructure,
    )
    chunk = and_(loans.c.id.between(lo, hi), loans.c.state.in_(OPEN), loans.c.booked_on <= d)
    maybe_full = or_(loans.c.restructured_on.is_not(None), _contagion(session, contagious))
    rows = list(
        conn.execute(
            select(*cols, maybe_full.label("maybe_full")).where(
                chunk, or_(floor_rank > class_rank, maybe_full)
            )
        )
    )  # one scan: the days-past-due candidates and those that need the full facts
    kind_of: dict[int, str] = {}
    borrowers = {row.borrower_id for row in rows if row.maybe_full}
    for part in id_parts(session, borrowers):
        query = select(BORROWERS.c.id, BORROWERS.c.kind).where(among(session, BORROWERS.c.id, part))
        kind_of.update((borrower_id, kind) for borrower_id, kind in conn.execute(query))
    retail = BorrowerKind.individual.value
    full = [
        r for r in rows if r.maybe_full and (r.restructured_on or kind_of[r.borrower_id] != retail)
    ]
    skip = {row.id for row in full}
    floors_for_rows = floors_for(session, full, d, book)  # the same facts as floor_for, in bulk
    by_dpd: dict[int, Floor] = {}  # a days-past-due floor depends on the days only

    def dpd_floor(days: int) -> Floor:
        if days not in by_dpd:
            by_dpd[days] = classification_floor(FloorFacts(days_past_due=days), d, book)
        return by_dpd[days]

    found: list[tuple[Any, Floor]] = [
        (row, dpd_floor(row.days_past_due)) for row in rows if row.id not in skip
    ]
    found += [(row, floors_for_rows[row.id]) for row in full]
    proposals = [
        FloorProposal(
            row.id,
            row.loan_no,
            RiskClass(row.risk_class),
            floor.risk_class,
            floor.reasons,
            floor.rule_refs,
            row.days_past_due,
        )
        for row, floor in found
        if floor.risk_class.rank > RiskClass(row.risk_class).rank
    ]
    return sorted(proposals, key=lambda p: p.loan_id)


def _contagion(session: Session, contagious: frozenset[int] | None) -> ColumnElement[bool]:
    """The loan's borrower may be caught by 第七条: on Postgres from the precomputed set when given
    (one array parameter), else asked per loan of the partial index ix_loans_npl_borrower (its
    predicate needs the literal class values). Retail borrowers are dropped afterwards."""
    if contagious is None or not is_postgres(session):
        other = LOANS.alias("other")
        return exists().where(
            other.c.borrower_id == LOANS.c.borrower_id,
            other.c.risk_class.in_([literal_column(f"'{c}'") for c in NPL]),
            other.c.id != LOANS.c.id,
            other.c.state.in_(OPEN),  # a written-off loan is no longer a claim on the books
        )
    if not contagious:
        return false()
    return LOANS.c.borrower_id == any_(literal(sorted(contagious), ARRAY(Integer)))
