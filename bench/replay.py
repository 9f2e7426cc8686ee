"""Journal verification and one loan's as-of replay on a journal of N entries, through the paths
production runs: (a) `audit.verify.verify_journal` on the engine (the CLI's and the API's call)
→ events/s, against a floor measured in the same run: the same rows read by raw SQL in the same
order and each row's text hashed once (SHA-256, no canonical JSON, no checks); (b)
`loans.queries.replay_loan` for random loans on random as-of dates → p50/p95 latency.

    .venv/bin/python -m bench.replay [--entries 1000000] [--loans 50000] [--days 100]
        [--db sqlite|postgres] [--pg-url postgresql+psycopg://...] [--samples 2000] [--keep]

Builds a throw-away database (a temp SQLite file, or Postgres `postloan_bench_replay_<random>`),
migrates it, seeds the demo org, books one loan through `open_loan` and copies its row to N loans,
then writes the journal day by day through `audit.journal.append_many` (real hashes): every loan
opened on day 0, then lifecycle moves its machine allows and book entries on random loans, each day
anchored by `anchor_day` (signed, external log in a temp folder). Goals: >= 200,000 events/s;
<= 10 ms per loan at p95. Prints ratios; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.common import pct, template_loan_row, throwaway_database

START = date(2026, 1, 5)
GOALS = {"events_per_s": 200_000.0, "replay_p95_ms": 10.0}


def build(engine: Engine, entries: int, loans: int, days: int) -> tuple[list[str], int, str]:
    """The book and its journal; (loan numbers, entries written, the branch's org path)."""
    from audit.journal import anchor_day, append_many
    from audit.replay import OPEN_EVENT
    from core.identity import hash_password
    from loans.demo import seed_org
    from loans.models import Borrower, BorrowerKind, Loan
    from statemachines.loan_lifecycle import LoanLifecycle

    rng = random.Random(7)
    now = datetime(2026, 1, 5, 12, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as session:
        org = seed_org(session, hash_password("bench"))
        borrower = Borrower(
            customer_no="C-BENCH",
            name="客户 bench",
            kind=BorrowerKind.corporate,
            org_unit_id=org.units["BJ01"].id or 0,
        )
        session.add(borrower)
        session.flush()
        row = template_loan_row(session, org, borrower.id or 0, "B0000000", START, 24, now)
        numbers = [f"B{k:07d}" for k in range(1, loans)]
        conn = session.connection()
        for part in range(0, len(numbers), 5000):
            conn.execute(
                insert(Loan.__table__),  # type: ignore[attr-defined]
                [{**row, "loan_no": n} for n in numbers[part : part + 5000]],
            )
        session.commit()
        numbers.insert(0, "B0000000")
        opening = [
            {"aggregate_type": "loan", "aggregate_id": n, "machine": m, "event": OPEN_EVENT,
             "from_state": None, "to_state": s, "actor": "u:am_bj1", "reason": "放款 booked",
             "payload": {"principal_cents": 500_000_00, "installments": 24}}
            for n in numbers[1:] for m, s in (("loan_lifecycle", "normal"),
                                              ("risk_classification", "pass"))
        ]  # fmt: skip
        written = 2 + _append_chunks(session, opening, now, START, append_many)
        anchor_day(session, START, now=now)
        session.commit()
        table = LoanLifecycle.transition_table()
        moves: dict[str, list[tuple[str, str]]] = {}
        for (source, event), targets in table.items():
            for target in targets:
                if target not in ("paid_off", "written_off", "transferred"):
                    moves.setdefault(source, []).append((event, target))
        state = dict.fromkeys(numbers, "normal")
        per_day = max(1, (entries - written) // max(1, days - 1))
        for d in range(1, days):
            day = START + timedelta(days=d)
            stamp = now + timedelta(days=d)
            items: list[dict[str, Any]] = []
            for n in rng.choices(numbers, k=min(per_day, entries - written)):
                options = moves.get(state[n], [])
                if options and rng.random() < 0.2:
                    event, target = rng.choice(options)
                    items.append({"aggregate_type": "loan", "aggregate_id": n,
                                  "machine": "loan_lifecycle", "event": event,
                                  "from_state": state[n], "to_state": target,
                                  "actor": "system:daily_sweep", "reason": "批处理 sweep"})  # fmt: skip
                    state[n] = target
                else:
                    items.append({"aggregate_type": "loan", "aggregate_id": n,
                                  "machine": "loan_book", "event": "payment_recorded",
                                  "actor": "u:teller", "payload": {
                                      "amount_cents": rng.randrange(1, 10**7),
                                      "channel": "柜面", "on": day}})  # fmt: skip
            written += _append_chunks(session, items, stamp, day, append_many)
            anchor_day(session, day, now=stamp)
            session.commit()
            if written >= entries:
                break
        loans_t = Loan.__table__  # type: ignore[attr-defined]
        for target in set(state.values()):  # the stored state is what the journal says
            chosen = [n for n, s in state.items() if s == target]
            for part in range(0, len(chosen), 5000):
                session.execute(
                    loans_t.update()
                    .where(loans_t.c.loan_no.in_(chosen[part : part + 5000]))
                    .values(state=target)
                )
        session.commit()
        branch_path = org.units["BJ01"].path
    return numbers, written, branch_path


def _append_chunks(session: Session, items: list[dict[str, Any]], now: datetime, day: date,
                   append_many: Any) -> int:  # fmt: skip
    done = 0
    for part in range(0, len(items), 20_000):
        done += append_many(session, items[part : part + 20_000], now=now, business_date=day)
    return done


def floor(engine: Engine) -> tuple[float, int]:
    """The same rows by raw SQL in the same order, each row's text hashed once."""
    from audit.verify_pass import rows_sql

    started = time.perf_counter()
    n = 0
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        conn.exec_driver_sql("SELECT 1")
        pg = engine.dialect.name == "postgresql"
        cursor = raw.cursor(name="bench_floor") if pg else raw.cursor()
        cursor.execute(rows_sql(engine.dialect.name))
        sha = hashlib.sha256
        while batch := cursor.fetchmany(20_000):
            for r in batch:
                sha(repr(r).encode()).hexdigest()
            n += len(batch)
        cursor.close()
    return time.perf_counter() - started, n


def replay_latency(
    engine: Engine, numbers: list[str], days: int, samples: int, org_paths: list[str]
) -> list[float]:
    """As the timeline page calls it: a viewer's org subtrees, today's date (the as-of check)."""
    from loans.queries import replay_loan

    rng = random.Random(11)
    out: list[float] = []
    today = START + timedelta(days=days)
    for _ in range(samples):
        loan_no = rng.choice(numbers)
        as_of = START + timedelta(days=rng.randrange(days))
        started = time.perf_counter()
        with Session(engine) as session:
            replay_loan(session, loan_no, as_of, org_paths, today)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--loans", type=int, default=50_000)
    ap.add_argument("--days", type=int, default=100, help="business days, one anchor each")
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    args = ap.parse_args()
    from core.db import make_engine
    from core.settings import get_settings

    with throwaway_database(args.db, args.pg_url, "postloan_bench_replay_", args.keep) as (
        url,
        outside,
    ):
        os.environ["POSTLOAN_ANCHOR_KEY_FILE"] = str(outside / "anchor_key.pem")
        os.environ["POSTLOAN_ANCHOR_TRUSTED_KEYS_DIR"] = str(outside / "trusted")
        os.environ["POSTLOAN_ANCHOR_LOG"] = str(outside / "anchor_log.jsonl")
        get_settings.cache_clear()
        engine = make_engine(url)
        try:
            t0 = time.perf_counter()
            numbers, written, branch_path = build(engine, args.entries, args.loans, args.days)
            print(f"{args.db}: {written:,} journal entries on {len(numbers):,} loans, "
                  f"built in {time.perf_counter() - t0:.0f} s ({url if args.keep else 'temp'})")  # fmt: skip
            report(engine, numbers, args, [branch_path])
        finally:
            engine.dispose()


def report(
    engine: Engine, numbers: list[str], args: argparse.Namespace, org_paths: list[str]
) -> None:
    from audit.verify import verify_journal

    floor(engine)  # warm the cache: the floor and verification read the same pages
    floor_s, rows = floor(engine)
    started = time.perf_counter()
    result = verify_journal(engine)
    verify_s = time.perf_counter() - started
    rate = result.entries / verify_s
    print(f"(a) verify: {result.entries:,} entries, {result.anchors} anchors, ok={result.ok}, "
          f"unanchored={result.unanchored} in {verify_s:.2f} s = {rate:,.0f} events/s "
          f"(goal >= {GOALS['events_per_s']:,.0f}); floor {rows / floor_s:,.0f} rows/s "
          f"({floor_s:.2f} s); {verify_s / floor_s:.2f}x the floor")  # fmt: skip
    with Session(engine) as session:
        chains = session.execute(
            select(text("count(*)")).select_from(text("journal")).group_by(text("aggregate_id"))
        ).all()
    latencies = replay_latency(engine, numbers, args.days, args.samples, org_paths)
    print(f"(b) replay_loan as of a random date, {args.samples} random loans "
          f"(~{sum(c[0] for c in chains) / max(1, len(chains)):.0f} entries a loan): "
          f"p50 {pct(latencies, 0.5):.2f} ms, p95 {pct(latencies, 0.95):.2f} ms, "
          f"max {max(latencies):.2f} ms (goal p95 <= {GOALS['replay_p95_ms']:.0f} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
