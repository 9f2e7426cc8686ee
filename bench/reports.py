"""The portfolio report (资产质量报表) on a book of N loans, through the path the report page runs:
`reports.portfolio.portfolio_report(session, on=D, today=D, org_paths=...)` (a) for the whole bank
(org_paths None, the auditor's view) and (b) for one branch's subtree, each run several times
(min and median); then each part of it on its own: the five tiers / overdue query (book_on
grouped), `migration_matrix`, `roll_rates`, `expected_bad_debt`. Floor, measured in the same run:
the five tiers / overdue figures' core aggregation as one hand-written GROUP BY (the loans joined
to their class and state as of D, their bucket on D and their payments summed to D) executed with
the driver directly; its totals are checked against the report's. Then (c) the daily sweep's
summary step for D (`flows.daily_sweep.run_summary`), and (d)/(e) the same two reports read from
the summary — what the page does once the sweep has run — checked equal to the live ones, against
a second floor: D's summary rows summed in one query. Goal: the report page for 1,000,000 loans
<= 2 s. Prints ratios to the floors and to the goal; asserts nothing about time.

    .venv/bin/python -m bench.reports [--loans 1000000] [--db sqlite|postgres]
        [--pg-url postgresql+psycopg://...] [--runs 5] [--part-runs 3] [--keep]

Builds a throw-away database (a temp SQLite file, or Postgres `postloan_bench_reports_<random>`),
migrates it, seeds the demo org, books one loan through `open_loan` and copies its row to N loans
(bulk Core inserts: products and the demo branches mixed, booked on the first of each month over
two and a half years), three allocated payments a loan valued over the months after booking,
overdue bucket history on ~8% of the loans (M1 .. M6+, some cured, some still in arrears on D).
Every state move is a journal entry written by `audit.journal.append_many` in business-date order
(the moves in weekly batches), so the status history the report reads is the production
projection's (audit.projections → loans.status_history): each loan's opening entries, the sweep's
mark_overdue/cure, reclassifications (关注/次级/可疑/损失, some upgraded back), write-offs and
settlements, each an event its machine's transition table allows. The loans' current columns are
set to where the journal leaves them. Postgres gets VACUUM ANALYZE after the load (the steady
state autovacuum keeps); SQLite is left as the app leaves it (no ANALYZE).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.common import throwaway_database
from bench.report_book import D, build

GOAL_S = 2.0  # seconds for the report page of 1,000,000 loans

FLOOR_SQL = """
SELECT l.product, r.state, b.bucket, count(*),
       sum(l.principal_cents - coalesce(p.repaid, 0))
FROM loans l
JOIN loan_status_history s ON s.loan_id = l.id AND s.machine = 'loan_lifecycle'
     AND s.valid_from <= :d AND (s.valid_to IS NULL OR s.valid_to > :d)
JOIN loan_status_history r ON r.loan_id = l.id AND r.machine = 'risk_classification'
     AND r.valid_from <= :d AND (r.valid_to IS NULL OR r.valid_to > :d)
LEFT JOIN (SELECT loan_id, sum(principal_applied_cents) AS repaid FROM payments
           WHERE allocated AND value_date <= :d GROUP BY loan_id) p ON p.loan_id = l.id
LEFT JOIN loan_bucket_history b ON b.loan_id = l.id
     AND b.entered_on <= :d AND (b.left_on IS NULL OR b.left_on > :d)
WHERE s.state NOT IN ('settled', 'written_off')
GROUP BY l.product, r.state, b.bucket
"""


SUMMARY_FLOOR_SQL = """
SELECT a, b, c, sum(loans), sum(balance_cents) FROM book_summary_rows
WHERE day = :d AND figure = 'book' GROUP BY a, b, c
"""


def driver_query(engine: Engine, sql: str) -> tuple[float, list[Any]]:
    """`sql` with D as :d, executed with the driver directly: (seconds, rows)."""
    pg = engine.dialect.name == "postgresql"
    sql = sql.replace(":d", "%(d)s" if pg else ":d")
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        started = time.perf_counter()
        cursor = raw.cursor()
        cursor.execute(sql, {"d": D if pg else D.isoformat()})
        rows = cursor.fetchall()
        cursor.close()
        spent = time.perf_counter() - started
        if pg:
            raw.rollback()
    return spent, rows


def floor(engine: Engine) -> tuple[float, list[Any]]:
    """The tiers/overdue figures as one hand-written GROUP BY, through the driver."""
    return driver_query(engine, FLOOR_SQL)


def timed(runs: int, fn: Callable[[], Any]) -> tuple[list[float], Any]:
    out, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        out.append(time.perf_counter() - started)
    return out, result


def report(engine: Engine, runs: int, part_runs: int, branch_path: str) -> None:
    from core.settings import get_settings
    from loans.aging import bucket_names
    from reports.book_on import book_groups
    from reports.migration import migration_matrix, migration_pairs
    from reports.portfolio import default_since, portfolio_report
    from reports.roll_rates import expected_bad_debt, outcome_counts, roll_points, roll_rates

    settings = get_settings()
    buckets = bucket_names(settings.overdue_bucket_bounds)
    live: dict[str, Any] = {}
    floor(engine)  # warm the cache
    floors = [floor(engine) for _ in range(runs)]
    floor_s = min(f for f, _ in floors)
    floor_rows = floors[0][1]
    print(f"floor: one GROUP BY through the driver, {len(floor_rows)} groups: "
          f"min {floor_s:.3f} s, median {statistics.median(f for f, _ in floors):.3f} s")  # fmt: skip

    def line(label: str, times: list[float], extra: str = "") -> None:
        print(f"{label}: min {min(times):.3f} s, median {statistics.median(times):.3f} s, "
              f"{min(times) / floor_s:.1f}x the floor, {min(times) / GOAL_S:.2f}x the goal "
              f"({GOAL_S:.0f} s){extra}")  # fmt: skip

    for label, paths in (("(a) portfolio_report, whole bank", None),
                         (f"(b) portfolio_report, branch {branch_path}", [branch_path])):  # fmt: skip
        with Session(engine) as session:
            times, result = timed(runs, lambda p=paths, s=session: portfolio_report(
                s, on=D, today=D, org_paths=p))  # fmt: skip
        if paths is None:  # the floor computes the same figures: they must agree
            count = sum(r[3] for r in floor_rows)
            balance = sum(int(r[4]) for r in floor_rows)
            agree = (count, balance) == (result.total.count, result.total.balance_cents)
            extra = (f"; {result.total.count:,} loans on the book, NPL ratio "
                     f"{result.npl_ratio:.4f}, expected bad debt "
                     f"{result.expected_bad_debt_cents / 100:,.0f}, floor agrees: {agree}")  # fmt: skip
        else:
            extra = f"; {result.total.count:,} loans in scope"
        line(label, times, extra)
        since = default_since(D)
        overdue = {b: c.balance_cents for b, c in result.overdue_total.items()}
        parts: list[tuple[str, Callable[[Session], Any]]] = [
            ("five tiers / overdue", lambda s, p=paths: book_groups(s, D, p)),
            ("migration matrix",
             lambda s, p=paths, a=since: migration_matrix(migration_pairs(s, a, D, p))),
            ("roll rates", lambda s, p=paths: roll_rates(s, roll_points(s, D), p, buckets)),
            ("expected bad debt",
             lambda s, o=overdue: expected_bad_debt(outcome_counts(s, D), o, settings)),
        ]  # fmt: skip
        for name, fn in parts:
            with Session(engine) as session:
                t, _ = timed(part_runs, lambda f=fn, s=session: f(s))
            print(f"    {name:<22} min {min(t):.3f} s, median {statistics.median(t):.3f} s")
        live[label] = result
    summarized(engine, runs, branch_path, live, line)


def summary_floor(engine: Engine) -> float:
    """The summary's read as hand-written SQL: D's book rows summed by product, class, bucket."""
    return driver_query(engine, SUMMARY_FLOOR_SQL)[0]


def summarized(
    engine: Engine, runs: int, branch_path: str, live: dict[str, Any], line: Callable[..., None]
) -> None:
    """(c) the sweep's summary step for D (`flows.daily_sweep.run_summary`: D, the seven days
    before it and the twelve month ends), then (d)/(e) the report read from it, checked equal to
    the live report above."""
    import dataclasses

    from flows.daily_sweep import run_summary
    from reports.portfolio import portfolio_report

    started = time.perf_counter()
    built = run_summary(D)
    spent = time.perf_counter() - started
    print(f"(c) run_summary({D}): {built}, {spent:.1f} s "
          f"({spent / max(built['summaries_built'], 1):.2f} s a day)")  # fmt: skip
    floor_s = min(summary_floor(engine) for _ in range(runs))
    print(f"summary floor: D's book rows summed in one query through the driver: {floor_s:.4f} s")
    for (label, expected), paths in zip(live.items(), (None, [branch_path]), strict=True):
        with Session(engine) as session:
            times, result = timed(runs, lambda p=paths, s=session: portfolio_report(
                s, on=D, today=D, org_paths=p))  # fmt: skip
        same = dataclasses.replace(result, summarized_at=None) == expected
        print(f"{label.replace('(a)', '(d)').replace('(b)', '(e)')} from the summary: "
              f"min {min(times):.3f} s, median {statistics.median(times):.3f} s, "
              f"{min(times) / floor_s:.0f}x the summary floor, {min(times) / GOAL_S:.3f}x the "
              f"goal; read from the summary: {result.summarized_at is not None}; "
              f"equals the live report: {same}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each query")
    ap.add_argument("--part-runs", type=int, default=3, help="timed runs of each part")
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    args = ap.parse_args()
    from core.db import make_engine

    with throwaway_database(args.db, args.pg_url, "postloan_bench_reports_", args.keep) as (url, _):
        engine = make_engine(url)
        try:
            t0 = time.perf_counter()
            stats, branch_path = build(engine, args.loans)
            print(f"{args.db}: {args.loans:,} loans, {stats['payments']:,} payments, "
                  f"{stats['bucket_rows']:,} bucket rows on {stats['bucket_loans']:,} loans, "
                  f"{stats['entries']:,} journal entries, built in {time.perf_counter() - t0:.0f} s "
                  f"(loans {stats['loans_s']:.0f} s, payments+buckets {stats['payments_s']:.0f} s, "
                  f"journal+projection {stats['journal_s']:.0f} s"
                  + (f", VACUUM ANALYZE {stats['vacuum_s']:.0f} s" if "vacuum_s" in stats else "")
                  + f") ({url if args.keep else 'temp'})")  # fmt: skip
            print("moves: " + ", ".join(f"{k} {v:,}" for k, v in sorted(stats["moves"].items())))
            report(engine, args.runs, args.part_runs, branch_path)
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
