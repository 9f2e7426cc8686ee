"""Inbox latency on Postgres: `tasks.worklist` and `counts` through the ORM as a request runs them,
against a floor of the same query as one hand-written SQL statement via psycopg, in the same run.

    .venv/bin/python -m bench.inbox [--tasks 1000000] [--pg-url postgresql+psycopg://...]
        [--samples 200] [--keep] [--extra-index] [--analyze-only]

Creates a throw-away database `postloan_bench_<random>`: 134 org units, ~430 users, N synthetic
tasks loaded by COPY (~75% completed, 15% open, 8% claimed, 2% escalated/cancelled). Times each view
for an account manager of the busiest branch and its head, prints p50/p95/max, the ratio to the
floor and the plans, then drops the database (unless --keep). Goal: the ORM's inbox page (rows +
total) at p95 <= 20 ms. Nothing is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from core.db import make_engine
from core.identity import OrgUnitKind, Role, add_org_unit, add_user, hash_password, user_by_username
from loans.demo import CORPORATE, PEOPLE, PRODUCTS, seed_org
from migrations import upgrade
from tasks.access import Actor, actor_for
from tasks.worklist import TaskFilter, View, counts, worklist

TODAY = date(2026, 11, 23)
GOAL_MS = 20.0
CITIES = "GZ SZ HZ NJ WH CD XA TJ CQ SY DL QD XM FZ CS ZZ JN HF KM NN".split()
KINDS = {"loan_card_check": 25, "customer_visit": 20, "first_usage_check": 10,
         "phone_follow_up": 25, "collateral_check": 10, "extension_review": 5,
         "classification_review": 5}  # fmt: skip
RISK = ["pass"] * 14 + ["special_mention"] * 3 + ["substandard", "doubtful", "loss"]
BUCKETS = [r"\N"] * 12 + ["M1"] * 4 + ["M2", "M3", "M4", "M5", "M6", "M6+"]
# Proposed for tasks/models.py; --extra-index applies them after the load.
EXTRA_INDEXES = [
    # a role's queue in page order: top-N reads instead of fetching and sorting the whole subtree
    "CREATE INDEX ix_tasks_waiting ON human_tasks (candidate_role, due_date, priority DESC, id, "
    "candidate_org_path) WHERE state IN ('open', 'escalated')",
    # queue totals index-only, with the kind filter too
    "DROP INDEX ix_tasks_queue",
    "CREATE INDEX ix_tasks_queue ON human_tasks (state, candidate_role, candidate_org_path, "
    "due_date, kind)",
    # archive totals index-only (the view also says state = 'completed')
    "DROP INDEX ix_tasks_archive",
    "CREATE INDEX ix_tasks_archive ON human_tasks (completed_by_id, state, completed_at)",
    # the all view in page order; the subtree is checked inside the index
    "CREATE INDEX ix_tasks_due ON human_tasks (due_date, priority DESC, id, branch_path)",
]
COLUMNS = ("key, kind, title, state, priority, due_date, candidate_role, candidate_org_unit_id, "
           "candidate_org_path, candidate_user_id, assignee_id, claimed_at, completed_by_id, "
           "completed_at, loan_no, borrower_name, branch_id, branch_path, product, bucket, "
           "risk_class, exposure_cents, context, version, created_at, updated_at")  # fmt: skip
NULL = r"\N"
ORDER = "ORDER BY due_date, priority DESC, id"
SIZES = ("SELECT pg_size_pretty(pg_relation_size('human_tasks')), "
         "pg_size_pretty(pg_indexes_size('human_tasks'))")  # fmt: skip
OVERDUE = "state IN ('open', 'claimed', 'escalated') AND due_date < DATE '2026-11-23'"
COST = re.compile(r" ?\(cost=[^)]*\)")
PLAN_LINE = re.compile(r"Index( Only)? Scan|Bitmap Index Scan|Sort Method|Execution Time")


def seed(session: Session) -> dict[str, Any]:
    """The demo org plus 20 branches of 5 sub-branches, 3 account managers per unit; the demo's
    BJ01 and SH01 get 4 more sub-branches and are 4x and 2x as busy as the others."""
    pw = hash_password("bench")  # one hash for all: argon2 is slow

    def user(name: str, unit: Any, role: Role) -> int:
        u = add_user(session, username=name, full_name=name, org_unit=unit, roles=[role],
                     password_hash=pw)  # fmt: skip
        return u.id or 0

    org = seed_org(session, pw)
    units = org.units
    for city in ["BJ", "SH", *CITIES]:
        branch = units.get(f"{city}01") or add_org_unit(
            session, code=f"{city}01", name=city, kind=OrgUnitKind.branch, parent=units["HO"]
        )
        units[branch.code] = branch
        if city not in ("BJ", "SH"):  # the demo has head_bj and head_sh
            user(f"head_{city.lower()}", branch, Role.branch_head)
        for code in (f"{city}010{k}" for k in range(1, 6)):
            if code not in units:
                units[code] = add_org_unit(
                    session, code=code, name=code, kind=OrgUnitKind.sub_branch, parent=branch
                )
    leaves = []
    for unit in units.values():
        if unit.kind not in (OrgUnitKind.branch, OrgUnitKind.sub_branch):
            continue
        ams = [u.id for u in org.users.values() if u.org_unit_id == unit.id and "am_" in u.username]
        ams += [user(f"am_{unit.code.lower()}_{k}", unit, Role.account_manager)
                for k in range(len(ams), 3)]  # fmt: skip
        head = user_by_username(session, f"head_{unit.code[:2].lower()}").id
        weight = {"BJ": 4, "SH": 2}.get(unit.code[:2], 1)
        leaves += [(unit, units[unit.code[:4]], ams, head)] * weight
    session.commit()
    committee = [org.users["committee1"].id, org.users["committee2"].id]
    return {"leaves": leaves, "ho": units["HO"], "committee": committee}


def task_lines(n: int, org: dict[str, Any], rng: random.Random) -> Iterator[str]:
    """COPY text rows in creation order, so the heap is ordered roughly by due date as in life:
    the past is mostly completed; open and claimed work sits around and after today."""
    day = {d: (TODAY + timedelta(days=d)).isoformat() for d in range(-300, 300)}
    kinds = [k for k, w in KINDS.items() for _ in range(w)]
    leaves, ho, committee = org["leaves"], org["ho"], org["committee"]
    for i in range(n):
        f, r = i / n, rng.random()
        due = int(-180 + 360 * f) + rng.randint(-10, 10)  # due dates: today ± 180 days
        created = min(due - rng.randint(15, 60), 0)
        # early half (past due) mostly done; overall 75/15/8/2 % completed/open/claimed/other
        p_open, p_claim, p_other = (0.24 * f, 0.01, 0.01) if f < 0.5 else (0.24, 0.15, 0.03)
        state = ("open" if r < p_open else "claimed" if r < p_open + p_claim
                 else ("escalated" if r < p_open + p_claim + p_other / 2 else "cancelled")
                 if r < p_open + p_claim + p_other else "completed")  # fmt: skip
        unit, branch, ams, head = leaves[int(rng.random() * len(leaves))]
        kind = kinds[int(rng.random() * 100)]
        role, path, unit_id, named, doers = "account_manager", unit.path, unit.id, NULL, ams
        if state == "escalated" or (kind == "extension_review" and rng.random() < 0.7):
            role, path, unit_id, doers = "branch_head", branch.path, branch.id, [head]
        elif kind in ("extension_review", "classification_review"):
            role, path, unit_id, doers = "credit_committee", ho.path, ho.id, committee
        elif rng.random() < 0.02:  # named to one account manager, no candidate role
            role, named = NULL, str(ams[i % len(ams)])
        doer = str(doers[i % len(doers)]) if named == NULL else named
        assignee = claimed = done_by = done_at = NULL
        if state in ("claimed", "completed"):
            assignee, done_by = doer, doer if state == "completed" else NULL
            claimed = f"{day[min(created + rng.randint(0, 3), 0)]} 10:00:00+08"
        if state == "completed":
            done_at = f"{day[min(created + rng.randint(4, 40), -1)]} 16:30:00+08"
        corp, loan_no = rng.random() < 0.5, f"{unit.code}-{2024 + i % 3}-{i % 99991:05d}"
        yield "\t".join((
            f"{kind}:{i}", kind, f"{kind} {loan_no}", state, "1" if i % 5 == 0 else "0", day[due],
            role, str(unit_id), path, named, assignee, claimed, done_by, done_at, loan_no,
            rng.choice(CORPORATE if corp else PEOPLE), str(branch.id), unit.path,
            PRODUCTS[i % 3] if corp else PRODUCTS[3 + i % 4], BUCKETS[i % len(BUCKETS)],
            RISK[i % len(RISK)], str(rng.randint(1, 5000) * 10_000_00), "{}", "1",
            f"{day[created]} 08:00:00+08", f"{day[created]} 08:00:00+08",
        )) + "\n"  # fmt: skip


def load(conninfo: str, n: int, org: dict[str, Any]) -> float:
    """COPY in one transaction. FK triggers are off for this session (every id was just seeded);
    the unique key and all indexes are maintained as usual."""
    t0 = time.perf_counter()
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")
        with cur.copy(f"COPY human_tasks ({COLUMNS}) FROM STDIN") as copy:
            for line in task_lines(n, org, random.Random(7)):
                copy.write(line)  # psycopg buffers, and sends while we generate
    return time.perf_counter() - t0


def timed(fn: Callable[[], object], samples: int) -> list[float]:
    for _ in range(max(10, samples // 10)):  # warm caches and psycopg's prepared statements
        fn()
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def where_sql(actor: Actor, view: View) -> str:
    """By hand, the WHERE that tasks.worklist means for one principal (no deputies here), as the
    naive single statement (the OR) — a reference row, and a check of the rows worklist returns."""
    p, me = actor.me, actor.me.user.id

    def sub(col: str) -> str:  # core.db.subtree: an index range
        return f"{col} >= '{p.org_path}' AND {col} < '{p.org_path[:-1]}0'"

    if view is View.queue:
        roles = " OR ".join(f"(candidate_role = '{r.value}' AND {sub('candidate_org_path')})"
                            for r in sorted(p.roles))  # fmt: skip
        return f"state IN ('open', 'escalated') AND (candidate_user_id = {me} OR {roles})"
    if view is View.inbox:
        return f"state = 'claimed' AND assignee_id = {me}"
    if view is View.archive:
        return f"state = 'completed' AND completed_by_id = {me}"
    return sub("branch_path")


def measure(console: Console, engine: Engine, dsn: str, actors: dict[str, Actor], n: int) -> None:
    am, head = actors["am"], actors["head"]
    cases = [  # label, actor, view, filter, the filter in SQL
        ("AM queue", am, View.queue, TaskFilter(), None),
        ("AM queue · overdue", am, View.queue, TaskFilter(overdue=True), OVERDUE),
        ("AM queue · kind", am, View.queue, TaskFilter(kind="customer_visit"),
         "kind = 'customer_visit'"),
        ("AM inbox", am, View.inbox, TaskFilter(), None),
        ("head all", head, View.all, TaskFilter(), None),
        ("head all · overdue", head, View.all, TaskFilter(overdue=True), OVERDUE),
    ]  # fmt: skip
    table = Table(title=f"inbox on Postgres, {n} samples each, ms; × floor = p95 / floor p95")
    for c in ("case", "query", "rows", "p50", "p95", "max", "× floor", f"p95≤{GOAL_MS:g}"):
        table.add_column(c, justify="left" if c in ("case", "query") else "right")
    raw = psycopg.connect(dsn, autocommit=True)

    def sql(text: str) -> Callable[[], list[Any]]:
        return lambda: raw.execute(text).fetchall()

    captured: list[tuple[str, Any]] = []
    plans: list[str] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, _ctx: Any, _many: bool) -> None:
        captured.append((statement, params))

    def row(case: str, query: str, ms: list[float], total: Any, floor: float | None) -> float:
        p50, p95, worst = statistics.median(ms), statistics.quantiles(ms, n=20)[-1], max(ms)
        goal = ("✓" if p95 <= GOAL_MS else "[red]✗[/]") if query.startswith("ORM") else ""
        table.add_row(case, query, f"{total:,}" if isinstance(total, int) else total, f"{p50:.2f}",
                      f"{p95:.2f}", f"{worst:.2f}", f"{p95 / floor:.2f}" if floor else "floor",
                      goal)  # fmt: skip
        return p95

    def orm(fn: Callable[[Session], Any]) -> Callable[[], Any]:
        def run() -> Any:
            with Session(engine, expire_on_commit=False) as session:  # one per request
                return fn(session)

        return run

    for label, actor, view, f, extra in cases:
        where = where_sql(actor, view) + (f" AND {extra}" if extra else "")
        page = f"SELECT * FROM human_tasks WHERE {where} {ORDER} LIMIT 50"
        count = f"SELECT count(*) FROM human_tasks WHERE {where}"
        run_orm = orm(lambda s, a=actor, v=view, f=f: worklist(s, a, v, today=TODAY, filters=f))
        event.listen(engine, "before_cursor_execute", capture)
        captured.clear()
        rows, total = run_orm()
        event.remove(engine, "before_cursor_execute", capture)
        if [t.id for t in rows] != [r[0] for r in sql(page)()] or [(total,)] != sql(count)():
            console.print(f"[red]{label}: the SQL below does not return what worklist returns[/]")
        # the floor: the very statements worklist sent (page + total), replayed as raw SQL
        sent = list(captured)
        replay = timed(lambda sent=sent: [raw.execute(q, a).fetchall() for q, a in sent], n)
        floor = row(label, "raw, worklist's SQL", replay, total, None)
        row("", "ORM worklist", timed(run_orm, n), total, floor)
        both = timed(lambda p=page, c=count: (sql(p)(), sql(c)()), n)
        row("", "hand SQL, one OR", both, total, floor)
        stmt, params = captured[0]  # the page; the total follows
        with engine.connect() as conn:
            plan = (
                conn.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {stmt}", params).scalars().all()
            )
        plans.append(f"[bold]{label}[/] — the ORM's page query")
        plans += [f"  {COST.sub('', ln.strip())}"
                  for ln in plan[:1] + [ln for ln in plan if PLAN_LINE.search(ln)]]  # fmt: skip
    for label, actor in (("AM counts()", am), ("head counts()", head)):
        q, i, a = (where_sql(actor, v) for v in (View.queue, View.inbox, View.archive))
        late = f"(({q}) OR ({i})) AND due_date < DATE '2026-11-23'"
        one = "SELECT " + ", ".join(f"(SELECT count(*) FROM human_tasks WHERE {w})"
                                    for w in (q, i, a, late))  # fmt: skip
        shown = "/".join(map(str, raw.execute(one).fetchone() or ()))
        floor = row(label, "raw, one statement", timed(sql(one), n), shown, None)
        run = orm(lambda s, a=actor: counts(s, a, today=TODAY))
        row("", "ORM counts", timed(run, n), "/".join(map(str, run().values())), floor)
    raw.close()
    console.print(table)
    console.print("EXPLAIN (ANALYZE, BUFFERS), top node and index lines:")
    for line in plans:
        console.print(line, highlight=False, soft_wrap=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--tasks", type=int, default=1_000_000)
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the bench database")
    ap.add_argument("--extra-index", action="store_true", help="apply EXTRA_INDEXES (proposed)")
    ap.add_argument("--analyze-only", action="store_true",
                    help="ANALYZE, no VACUUM: an empty visibility map, as on pages that churn "
                    "faster than autovacuum; index-only scans then read the heap")  # fmt: skip
    args = ap.parse_args()
    console, started = Console(width=110), time.perf_counter()
    base = make_url(args.pg_url)
    name = f"postloan_bench_{secrets.token_hex(4)}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = make_engine(url)
    try:  # from here on, even Ctrl-C drops the database
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        console.print(f"database {name}: migrating and seeding …")
        upgrade(url)
        with Session(engine, expire_on_commit=False) as session:
            org = seed(session)
            actors = {k: actor_for(session, user_by_username(session, u), TODAY)
                      for k, u in (("am", "am_bj1"), ("head", "head_bj"))}  # fmt: skip
        secs = load(conninfo, args.tasks, org)
        console.print(f"loaded {args.tasks:,} tasks by COPY in {secs:.1f} s "
                      f"({args.tasks / secs:,.0f} rows/s)")  # fmt: skip
        with psycopg.connect(conninfo, autocommit=True) as conn:
            for ddl in EXTRA_INDEXES if args.extra_index else []:
                console.print(f"extra index: {ddl}", highlight=False, soft_wrap=True)
                conn.execute(ddl)
            t0, vacuum = time.perf_counter(), "ANALYZE" if args.analyze_only else "VACUUM ANALYZE"
            conn.execute(f"{vacuum} human_tasks")
            sizes = conn.execute(SIZES).fetchone() or ()
            console.print(f"{vacuum} {time.perf_counter() - t0:.1f} s; heap %s, indexes %s" % sizes)
        measure(console, engine, conninfo, actors, args.samples)
    finally:
        engine.dispose()
        if not args.keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        console.print(f"{'kept' if args.keep else 'dropped'} {name}; "
                      f"whole run {time.perf_counter() - started:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
