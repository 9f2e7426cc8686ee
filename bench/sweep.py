"""Daily sweep throughput on Postgres through the path production runs: the daily-sweep flow's
own steps (`flows.daily_sweep.plan_day`, then `run_chunk` one chunk at a time — the sweep, the
classification proposals it opens and raises, the refresh of open tasks — then `run_anchor`),
for one business date over N loans. The floor, measured in the same run, is the aging step
ALONE: days past due of every open loan as ONE hand-written SQL statement (contract due dates,
no buckets, no moves, no journal, no proposals).

    .venv/bin/python -m bench.sweep [--loans 1000000] [--pg-url postgresql+psycopg://...]
        [--chunk 20000] [--keep] [--explain] [--generate-only] [--profile]

Creates a throw-away database `postloan_bench_sweep_<random>`, migrates it, seeds the demo org via
the ORM, then loads borrowers (1 corporate with 2 loans per 20 loans, the rest retail), loans with
12 monthly installments each and a few unallocated payments by COPY, around business date
2026-11-23: ~93 % performing and paid on time, ~5 % in arrears of every age (already overdue as of
yesterday, with their bucket, class and bucket history; a slice falling due yesterday; a slice
paid today), ~1 % paid off (a tenth of them today), some watched and restructured loans. It times
the floor (a warm-up run, VACUUM, the timed run, each rolled back, VACUUM again: the floor and the
sweep meet the same pages), then sweeps the date once and prints loans/s, per-step seconds, peak
RSS and the ratio to the floor. Goals: 1,000,000 loans in <= 15 s, <= 2.5x the floor, RSS <= 1
GiB (run 2,000,000 to see the cost grow linearly). Generation time is reported apart. The
database is dropped at the end unless --keep.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import psycopg
from sqlalchemy.engine import make_url
from sqlmodel import Session

from core.db import make_engine
from core.identity import hash_password
from core.settings import get_settings
from loans import aging
from loans.aging import bucket_for
from loans.demo import seed_org
from loans.schedule import add_months
from loans.sweep import STEPS, chunk_bounds
from migrations import upgrade

TODAY = date(2026, 11, 23)
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai: the evening batch
GOALS = {"seconds": 15.0, "x_floor": 2.5, "rss_mib": 1024.0}
NULL = r"\N"
OPEN = "('normal', 'watched', 'overdue', 'extended', 'non_performing')"
# Floor: what the sweep's aging step does, for every open loan at once, written by hand.
FLOOR_SQL = f"""
UPDATE loans AS l SET days_past_due = f.dpd
FROM (SELECT l2.id, COALESCE(%(d)s::date - a.oldest, 0) AS dpd
      FROM loans AS l2
      LEFT JOIN (SELECT loan_id, min(due_date) AS oldest FROM installments
                 WHERE due_date < %(d)s AND (paid_off_on IS NULL OR paid_off_on > %(d)s)
                 GROUP BY loan_id) AS a ON a.loan_id = l2.id
      WHERE l2.state IN {OPEN}) AS f
WHERE l.id = f.id AND l.days_past_due <> f.dpd"""
OLDEST_SQL = """
SELECT loan_id, min(due_date) AS oldest FROM installments
WHERE due_date < %(d)s AND (paid_off_on IS NULL OR paid_off_on > %(d)s) GROUP BY loan_id"""
# The check: days past due as the bank's rule counts them (from the pay-by day, aging.pay_by).
STALE_SQL = f"""
SELECT count(*) FROM loans AS l
LEFT JOIN ({OLDEST_SQL}) AS a ON a.loan_id = l.id
LEFT JOIN bench_pay_by AS p ON p.due = a.oldest
WHERE l.state IN {OPEN}
  AND l.days_past_due <> GREATEST(COALESCE(%(d)s::date - COALESCE(p.pay_by, a.oldest), 0), 0)"""
LOAN_COLS = ("id, loan_no, borrower_id, product, branch_id, account_manager_id, principal_cents, "
             "annual_rate, currency, disbursement_date, maturity_date, original_maturity_date, "
             "repayment_method, state, risk_class, days_past_due, handed_over, restructured_on, "
             "class_before_restructure, version, created_at, bucket, booked_on")  # fmt: skip
INST_COLS = ("loan_id, seq_no, due_date, principal_due_cents, interest_due_cents, "
             "principal_paid_cents, interest_paid_cents, paid_off_on")  # fmt: skip
# Arrears ages (days past due today) and their weights: every bucket and every class floor.
AGES = [((2, 30), 40), ((31, 60), 15), ((61, 90), 10), ((91, 180), 12), ((181, 360), 10),
        ((361, 600), 10), ((1, 1), 3)]  # fmt: skip


@cache
def iso(day: date) -> str:
    return day.isoformat()


@cache
def due_dates(disbursed: date) -> tuple[date, ...]:
    return tuple(add_months(disbursed, k) for k in range(1, 13))


def floor_class(dpd: int) -> str:
    """The class the default floors give `dpd` (as if yesterday's proposals were confirmed)."""
    for days, cls in (
        (360, "loss"),
        (270, "doubtful"),
        (90, "substandard"),
        (7, "special_mention"),
    ):
        if dpd > days:
            return cls
    return "pass"


class Book:
    """Streams COPY rows for N loans; counts what the sweep should do with them."""

    def __init__(self, n: int, managers: list[tuple[int, int]], seed: int = 7) -> None:
        self.n, self.managers, self.rng = n, managers, random.Random(seed)
        self.expect: Counter[str] = Counter()
        self.history: list[str] = []
        self.payments: list[str] = []

    def borrowers(self) -> Iterator[str]:
        units = [unit for unit, _ in self.managers]
        for group in range((self.n + 19) // 20):
            for r in range(19):
                bid, corp = group * 19 + r + 1, r == 0
                kind = "corporate" if corp else "individual"
                yield (f"{bid}\tC{bid:08d}\t{'企业' if corp else '客户'}{bid}\t{kind}\tf\t"
                       f"{units[group % len(units)]}\t{NULL}\n")  # fmt: skip

    def loans(self, installments: _Sink) -> Iterator[str]:
        """Loan rows; each loan's installment rows go to the `installments` COPY."""
        rng, today = self.rng, TODAY
        for i in range(self.n):
            loan_id, group, r = i + 1, i // 20, i % 20
            borrower = group * 19 + (1 if r < 2 else r)  # loans 0 and 1 share the corporate one
            unit, manager = self.managers[i % len(self.managers)]
            principal = rng.randint(5, 300) * 10_000_00
            rate = ("0.0345", "0.0435", "0.0490")[i % 3]
            state, cls, dpd_stored, bucket = "normal", "pass", 0, NULL
            restructured = before = NULL
            u = rng.random()
            paid_until: date | None = None  # installments due before this are paid on time
            paid_on: date | None = None  # … and the rest of those due before today, on this day
            payoff: date | None = None  # everything paid on this day
            feed = False
            if u < 0.05:  # arrears
                (lo, hi) = rng.choices([a for a, _ in AGES], [w for _, w in AGES])[0]
                dpd = rng.randint(lo, hi)
                first_unpaid = today - timedelta(days=dpd)
                disbursed = add_months(first_unpaid, -rng.randint(1, 12))
                paid_until = first_unpaid
                if dpd > 1:  # already overdue yesterday; dpd 1 falls due today
                    dpd_stored, bucket = dpd - 1, bucket_for(dpd - 1) or NULL
                    cls = floor_class(dpd_stored) if rng.random() < 0.9 else "pass"
                    npl = cls in ("substandard", "doubtful", "loss")
                    state = "non_performing" if npl else "overdue"
                    entered = today - timedelta(days=1 + (dpd_stored - 1) % 30)
                    self.history.append(f"{loan_id}\t{bucket}\t{iso(entered)}\t{NULL}\n")
                    if not npl and dpd <= 90 and rng.random() < 0.05:
                        paid_on = today  # arrears paid today (recorded and allocated): cure
                    elif not npl and dpd <= 90 and rng.random() < 0.005:
                        feed = True  # a bank-feed payment valued today, not yet allocated
            elif u < 0.06:  # paid off early
                disbursed = today - timedelta(days=rng.randint(30, 360))
                today_payoff = rng.random() < 0.1
                payoff = today - timedelta(days=rng.randint(0, 1) if today_payoff else
                                           rng.randint(2, (today - disbursed).days))  # fmt: skip
                state = "normal" if today_payoff else "settled"
            else:
                disbursed = today - timedelta(days=rng.randint(5, 360))
                paid_until = today
                if u < 0.066:
                    state, cls = "watched", "special_mention"
                elif u < 0.0665:  # restructured in financial difficulty, under observation
                    state, cls, before = "extended", "special_mention", "pass"
                    restructured = iso(today - timedelta(days=rng.randint(30, 300)))
            dues = due_dates(disbursed)
            maturity = iso(dues[-1])
            principal_k, interest_k = principal // 12, int(principal * float(rate) / 12)
            owed: list[tuple[int, int]] = []  # unpaid and due before today
            all_off = True  # every installment not in `owed` is paid off
            for k, due in enumerate(dues, start=1):
                p = principal_k if k < 12 else principal - 11 * principal_k
                if payoff is not None:
                    off: date | None = min(due, payoff)
                elif paid_until is not None and due < paid_until:
                    off = due
                elif paid_on is not None and due < today:
                    off = paid_on
                else:
                    off = None
                    if due < today:
                        owed.append((p, interest_k))
                    else:
                        all_off = False
                paid = (p, interest_k) if off else (0, 0)
                installments.append(f"{loan_id}\t{k}\t{iso(due)}\t{p}\t{interest_k}\t{paid[0]}\t"
                                    f"{paid[1]}\t{iso(off) if off else NULL}\n")  # fmt: skip
            paid_up = all_off and (feed or not owed)
            self.expect[_expected_event(state, cls, owed, feed, paid_up)] += 1
            if feed:
                amount = sum(p + i for p, i in owed)
                self.payments.append(f"BENCH-{loan_id}\t{loan_id}\t{iso(today)}\t{amount}\t0\t0\t0\t"
                                     f"f\tbench\t{iso(today)} 09:00:00+08\n")  # fmt: skip
            yield (f"{loan_id}\tLN{loan_id:09d}\t{borrower}\t{'working_capital' if r < 2 else 'consumer'}\t"
                   f"{unit}\t{manager}\t{principal}\t{rate}\tCNY\t{iso(disbursed)}\t{maturity}\t"
                   f"{maturity}\tequal_installment\t{state}\t{cls}\t{dpd_stored}\tf\t{restructured}\t"
                   f"{before}\t1\t{iso(disbursed)} 09:00:00+08\t{bucket}\t{iso(disbursed)}\n")  # fmt: skip


def _expected_event(state: str, cls: str, owed: list[Any], feed: bool, all_paid: bool) -> str:
    """What the sweep should do with a generated loan (the machine's rules, restated for a check)."""
    if state in ("settled", "written_off"):
        return "closed"
    arrears = bool(owed) and not feed
    if all_paid:
        return "settle"
    if arrears and state in ("normal", "watched", "extended"):
        return "mark_overdue"
    if not arrears and state == "overdue":
        return "refused" if cls in ("substandard", "doubtful", "loss") else "cure"
    return "none"


def _constraints(conninfo: str, tables: tuple[str, ...]) -> tuple[list[Any], list[Any]]:
    """Drop the unique/foreign-key constraints and secondary indexes of `tables`; return them."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cons = conn.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u', 'f')",
            (list(tables),),
        ).fetchall()
        for table, name, _ in cons:
            conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        idx = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "AND indexname NOT LIKE '%%pkey'",
            (list(tables),),
        ).fetchall()
        for name, _ in idx:
            conn.execute(f'DROP INDEX "{name}"')
    return cons, idx


class _Sink:
    """Feeds an open COPY in blocks (one write per block, not per row)."""

    def __init__(self, copy: Any, size: int = 20_000) -> None:
        self.copy, self.size, self.rows = copy, size, []  # type: list[str]

    def append(self, row: str) -> None:
        self.rows.append(row)
        if len(self.rows) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.copy.write("".join(self.rows))
            self.rows.clear()


def generate(conninfo: str, n: int, managers: list[tuple[int, int]]) -> tuple[float, Book]:
    """COPY with the constraints and secondary indexes of the loaded tables dropped and rebuilt
    after (as an initial load would), then VACUUM ANALYZE: the steady state autovacuum keeps.
    Loans and installments stream through two connections at once, so nothing piles up."""
    t0, book = time.perf_counter(), Book(n, managers)
    tables = ("borrowers", "loans", "installments", "loan_bucket_history", "payments")
    cons, idx = _constraints(conninfo, tables)
    with psycopg.connect(conninfo) as one, psycopg.connect(conninfo) as two:
        c1, c2 = one.cursor(), two.cursor()
        with c1.copy("COPY borrowers (id, customer_no, name, kind, is_key_client, org_unit_id, "
                     "industry) FROM STDIN") as copy:  # fmt: skip
            sink = _Sink(copy)
            for row in book.borrowers():
                sink.append(row)
            sink.flush()
        with (
            c1.copy(f"COPY loans ({LOAN_COLS}) FROM STDIN") as copy_loans,
            c2.copy(f"COPY installments ({INST_COLS}) FROM STDIN") as copy_insts,
        ):
            loans, insts = _Sink(copy_loans), _Sink(copy_insts, 100_000)
            for row in book.loans(insts):
                loans.append(row)
            loans.flush()
            insts.flush()
        for sql, rows in (
            ("COPY loan_bucket_history (loan_id, bucket, entered_on, left_on) FROM STDIN",
             book.history),
            ("COPY payments (payment_ref, loan_id, value_date, amount_cents, interest_applied_cents, "
             "principal_applied_cents, unapplied_cents, allocated, source, created_at) FROM STDIN",
             book.payments),
        ):  # fmt: skip
            with c1.copy(sql) as copy:
                copy.write("".join(rows))
        one.commit()
        two.commit()
    loaded = time.perf_counter() - t0
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, ddl in idx:
            conn.execute(ddl)
        for table, name, ddl in cons:
            conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {ddl}')
        for table in ("borrowers", "loans"):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
            )
        conn.execute("VACUUM ANALYZE")
    book.expect["payments"] = len(book.payments)
    print(f"  COPY {loaded:.1f} s, indexes + constraints + VACUUM ANALYZE "
          f"{time.perf_counter() - t0 - loaded:.1f} s")  # fmt: skip
    return time.perf_counter() - t0, book


def floor(conninfo: str) -> tuple[float, int]:
    """The floor statement in its own transaction, rolled back (the sweep must find the work)."""
    with psycopg.connect(conninfo) as conn:
        t0 = time.perf_counter()
        rows = conn.execute(FLOOR_SQL, {"d": TODAY}).rowcount
        seconds = time.perf_counter() - t0
        conn.rollback()
    return seconds, rows


def explain_first_chunk(engine: Any, conninfo: str, chunk: int) -> None:
    """EXPLAIN ANALYZE every statement one chunk runs (captured, then replayed and rolled back)."""
    from sqlalchemy import event

    from loans.sweep import npl_borrowers, sweep_chunk

    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many:
            captured.append((statement, params))

    with Session(engine) as session:
        lo, hi = chunk_bounds(session, chunk)[0]
        event.listen(engine, "before_cursor_execute", capture)
        try:
            sweep_chunk(
                session,
                business_date=TODAY,
                loan_id_from=lo,
                loan_id_to=hi,
                now=NOW,
                contagious_borrowers=npl_borrowers(session),
            )  # as the flow's run_chunk does
        finally:
            event.remove(engine, "before_cursor_execute", capture)
            session.rollback()
    seen: set[str] = set()
    with engine.connect() as conn:
        for statement, params in captured:
            if not statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT")):
                conn.exec_driver_sql(statement, params)  # CREATE/ANALYZE/DROP the chunk's facts
                continue
            if "journal" in statement or statement in seen:
                continue
            seen.add(statement)
            plan = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", params)
            lines = plan.scalars().all()
            print("  " + " ".join(statement.split())[:150])
            for line in lines:
                if any(k in line for k in ("Scan", "Join", "Aggregate", "Execution", "Update on",
                                           "Insert on", "Buffers: shared")):  # fmt: skip
                    print("      " + line.strip()[:140])
        conn.rollback()


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def stale_loans(conninfo: str) -> int:
    """Open loans whose stored days past due differ from the bank's rule recomputed here."""
    with psycopg.connect(conninfo) as conn:
        dues = conn.execute(f"SELECT DISTINCT oldest FROM ({OLDEST_SQL}) AS a", {"d": TODAY})
        moved = [(d, aging.pay_by(d)) for (d,) in dues.fetchall() if aging.pay_by(d) != d]
        conn.execute("CREATE TEMP TABLE bench_pay_by (due date, pay_by date)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO bench_pay_by VALUES (%s, %s)", moved)
        return int((conn.execute(STALE_SQL, {"d": TODAY}).fetchone() or (0,))[0])


def production_sweep(chunk: int) -> tuple[dict[str, float], int, float]:
    """The daily-sweep flow's steps, as its Prefect tasks call them, one chunk at a time (the
    import is not timed: a worker has Prefect loaded before its first run)."""
    from flows.daily_sweep import plan_day, run_anchor, run_chunk

    t0 = time.perf_counter()
    bounds = plan_day(TODAY, chunk)
    totals: dict[str, float] = {}
    last = time.perf_counter()
    for done, (lo, hi) in enumerate(bounds, start=1):
        for key, value in run_chunk(TODAY, lo, hi).items():
            if isinstance(value, int | float):
                totals[key] = totals.get(key, 0) + value
        if done == len(bounds) or time.perf_counter() - last > 5:
            last = time.perf_counter()
            print(f"  chunk {done}/{len(bounds)}: ids {lo}-{hi}")
    run_anchor(TODAY)
    return totals, len(bounds), time.perf_counter() - t0


def report(totals: dict[str, float], chunks: int, secs: float, floor_s: float, floor_rows: int,
           gen_s: float, book: Book, stale: int, rss_before: float) -> None:  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loans = int(totals.get("loans", 0))
    steps = {step: totals.get(f"seconds_{step}", 0.0) for step in STEPS}
    other = secs - sum(steps.values())
    ratio = secs / floor_s
    print(f"\ngeneration (ORM org + COPY + indexes + VACUUM ANALYZE): {gen_s:.1f} s")
    print(f"floor, the aging step alone: one UPDATE of days_past_due for all open loans: "
          f"{floor_s:.2f} s ({floor_rows:,} rows changed)")  # fmt: skip
    print(
        f"sweep of {TODAY} through the flow's steps: {loans:,} open loans in {chunks} chunks, "
        f"one at a time, {secs:.2f} s, {loans / secs:,.0f} loans/s, {ratio:.2f}x the floor"
    )
    print("per step:")
    for step, seconds in steps.items():
        print(f"  {step:<10} {seconds:7.2f} s  {seconds / secs:6.1%}")
    print(f"  {'other':<10} {other:7.2f} s  {other / secs:6.1%}  (planning, proposals opened and "
          "raised, task refresh, commits, anchor)")  # fmt: skip
    counts = {k: int(v) for k, v in sorted(totals.items()) if not k.startswith("seconds_")}
    print(f"counts: {counts}")
    print(f"expected from the generated book (contract due dates): {dict(book.expect)}")
    print(f"check: {stale:,} open loans whose days past due differ from the bank's rule")
    print(f"peak RSS {peak:,.0f} MiB (ru_maxrss of the whole process; {rss_before:,.0f} MiB "
          f"before the sweep)")  # fmt: skip
    scaled = secs * 1_000_000 / max(loans, 1)
    print(f"goals: <= {GOALS['seconds']:.0f} s per 1M loans: {scaled:.1f} s "
          f"{'met' if scaled <= GOALS['seconds'] else 'MISSED'}; <= {GOALS['x_floor']}x floor: "
          f"{ratio:.2f}x {'met' if ratio <= GOALS['x_floor'] else 'MISSED'}; "
          f"RSS <= {GOALS['rss_mib']:.0f} MiB: {peak:,.0f} "
          f"{'met' if peak <= GOALS['rss_mib'] else 'MISSED'}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--loans", type=int, default=1_000_000)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    ap.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE one chunk's SQL")
    ap.add_argument("--generate-only", action="store_true", help="load the book, do not sweep")
    ap.add_argument("--profile", action="store_true", help="cProfile the sweep (slower)")
    args = ap.parse_args()
    started, base = time.perf_counter(), make_url(args.pg_url)
    name = f"postloan_bench_sweep_{secrets.token_hex(4)}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = make_engine(url)
    os.environ["POSTLOAN_DATABASE_URL"] = url  # the flow's steps use the process-wide engine
    get_settings.cache_clear()
    try:  # from here on, even Ctrl-C drops the database
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        print(f"database {name}: migrating, seeding the org, loading {args.loans:,} loans …")
        t0 = time.perf_counter()
        upgrade(url)
        with Session(engine, expire_on_commit=False) as session:
            org = seed_org(session, hash_password("bench"))
            session.commit()
            managers = [
                (u.org_unit_id, u.id or 0) for n, u in org.users.items() if n.startswith("am_")
            ]
        copy_s, book = generate(conninfo, args.loans, managers)
        gen_s = time.perf_counter() - t0
        if args.generate_only:
            print(f"generated in {gen_s:.1f} s; expected: {dict(book.expect)}")
            return
        floors = []
        for _ in range(2):  # warm-up, then the timed run; both rolled back
            floors.append(floor(conninfo))
            with psycopg.connect(conninfo, autocommit=True) as conn:
                conn.execute("VACUUM loans")  # the rolled-back floor left dead row versions
        print(f"floor runs: warm-up {floors[0][0]:.2f} s, timed {floors[1][0]:.2f} s")
        if args.explain:
            explain_first_chunk(engine, conninfo, args.chunk)
        rss_before = rss_mib()
        import flows.daily_sweep  # noqa: F401  (loads Prefect, as a worker has: not timed)

        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            totals, chunks, secs = profiler.runcall(production_sweep, args.chunk)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        else:
            totals, chunks, secs = production_sweep(args.chunk)
        stale = stale_loans(conninfo)
        floor_s, floor_rows = floors[1]
        report(totals, chunks, secs, floor_s, floor_rows, gen_s, book, stale, rss_before)
    finally:
        engine.dispose()
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"{'kept' if args.keep else 'dropped'} {name}; "
              f"whole run {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
