"""Journal export speed (`postloan audit export`): a generated book of loans with ~20 journal
entries each (default 10,000 loans → ~200k entries) in a fresh SQLite file (or --url), each
format written to /dev/null-like sink; events/s, and the ratio to a floor measured in the same
run: the same columns read from the journal in one plain keyset scan, written nowhere.

    python -m bench.export [--loans 10000] [--url postgresql+psycopg://…]
"""

from __future__ import annotations

import argparse
import io
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

import migrations
from audit import journal
from audit.event_log import COLUMNS, ExportFilter
from audit.exports import ExportFormat, write_export
from core.db import make_engine
from core.identity import hash_password
from loans.demo import seed_org
from reports.journal_cases import BookCases
from tests.factories import make_borrower

EVENTS = ["mark_overdue", "cure"]


class Sink(io.TextIOBase):
    def __init__(self) -> None:
        self.chars = 0

    def write(self, s: str) -> int:
        self.chars += len(s)
        return len(s)


def seed(session: Session, loans: int) -> int:
    from loans.models import Loan

    org = seed_org(session, hash_password("bench"))
    borrower = make_borrower(session, org, "B1")
    now = datetime(2025, 1, 15, 1, tzinfo=UTC)
    for start in range(0, loans, 1000):
        rows = [
            Loan(loan_no=f"BJ01-{n:07d}", borrower_id=borrower.id or 0, product="working_capital",
                 branch_id=org.units["BJ01"].id or 0, account_manager_id=org.users["am_bj1"].id or 0,
                 principal_cents=100_000_00, annual_rate=0.0435, disbursement_date=date(2025, 1, 15),
                 booked_on=date(2025, 1, 15), maturity_date=date(2026, 1, 15),
                 original_maturity_date=date(2026, 1, 15), repayment_method="equal_installment")
            for n in range(start, min(loans, start + 1000))
        ]  # fmt: skip
        session.add_all(rows)
        session.flush()
        items = []
        for loan in rows:
            items.append(dict(aggregate_type="loan", aggregate_id=loan.loan_no,
                              machine="loan_lifecycle", event="open", from_state=None,
                              to_state="normal", actor="system:bench"))  # fmt: skip
            for k in range(19):
                items.append(dict(aggregate_type="loan", aggregate_id=loan.loan_no,
                                  machine="loan_lifecycle", event=EVENTS[k % 2],
                                  from_state=("normal", "overdue")[k % 2],
                                  to_state=("overdue", "normal")[k % 2], actor="system:bench",
                                  reason="逾期 <催收> & 跟进"))  # fmt: skip
        journal.append_many(session, items, now=now + timedelta(seconds=start),
                            business_date=date(2025, 2, 20))  # fmt: skip
        session.commit()
    return loans * 20


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loans", type=int, default=10_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/bench-export.db"
    migrations.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        t = time.perf_counter()
        entries = seed(session, args.loans)
        print(f"seeded {entries} entries for {args.loans} loans in {time.perf_counter() - t:.1f} s")
    with Session(engine) as session:
        t = time.perf_counter()
        cols = [journal.JOURNAL.c[c] for c in COLUMNS]
        n = sum(1 for _ in session.execute(select(*cols).order_by(journal.JOURNAL.c.id)))
        floor = n / (time.perf_counter() - t)
        print(f"floor (plain read of the same columns): {floor:,.0f} entries/s")
    for fmt in ExportFormat:
        with Session(engine) as session:
            sink, t = Sink(), time.perf_counter()
            stats = write_export(
                session, BookCases(session, ExportFilter()), fmt, ExportFilter(), sink
            )
            rate = stats.events / (time.perf_counter() - t)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        print(f"{fmt.value:5} {stats.events:,} events, {sink.chars / 1e6:,.0f} M chars: "
              f"{rate:,.0f} events/s ({rate / floor:.2f} × floor); peak RSS so far {rss} MB")  # fmt: skip


if __name__ == "__main__":
    main()
