"""One simulated day after another. Each day, on the simulated clock (flows.common.using_clock):
the day's new loans are imported (the loans CSV), the morning's scheduled steps run (inspection
scheduler, pre-maturity, SLA escalation — flows/days.py, the functions the deployments run), the
bots file requests and answer the tasks whose time has come, the outbox is delivered to the
approval-chain step, the day's payments arrive (the payments CSV), and the evening's steps run
(the sweep, its anchor and book summary, the collection ladder). Month ends record the figures and
run the checks. The run's row is updated after every day: stopped at any point, `resume` goes on
from the day after the last one completed, and — every draw being a function of the seed — ends
where an uninterrupted run would have."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter

from sqlmodel import col, select

from core.clock import FixedClock
from core.db import session_scope
from core.errors import NotFoundError, ValidationError
from core.settings import get_settings
from flows.approval_chain import advance_requests
from flows.common import using_clock
from flows.days import EVENING, MORNING
from flows.dispatch import _due, _mark
from loans.demo import is_empty
from loans.importer import ImportKind, import_rows
from loans.models import Loan
from sim import checks
from sim.book import add_guarantors, book_rows, managers_of, profile_of, seed_staff
from sim.borrowers import import_payments, payments_on
from sim.bots import Staff, answer_tasks
from sim.figures import final_figures, month_figures
from sim.filing import file_requests
from sim.models import SimulationRun
from sim.params import SimParams

ACTOR = "system:core-banking"  # the core system's daily files: new loans, payments


@dataclass
class World:
    """What a run keeps in memory between days (all of it rebuilt from the seed on resume)."""

    params: SimParams
    rows: dict[str, list[dict[str, str]]]  # disbursement date → the loans CSV rows of that day
    profiles: dict[str, str]
    staff: Staff


Progress = Callable[[date, dict[str, int]], None]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """`day` at a wall time in the bank's zone, as an aware UTC datetime."""
    local = datetime.combine(day, time(hour, minute), tzinfo=get_settings().tz)
    return local.astimezone(UTC)


def start(params: SimParams, now: datetime) -> int:
    """A new run on an empty database: the staff, the opening book (loans disbursed before the
    start, with their payment history) imported the day before the start. Returns its id."""
    with session_scope() as session:
        if not is_empty(session):
            raise ValidationError(
                "模拟需要空数据库 (a simulation needs an empty database)", field="database"
            )
        staff = seed_staff(session, params)
        rows = book_rows(params, staff)
        eve = params.start - timedelta(days=1)
        opening = [r for r in rows if date.fromisoformat(r["disbursement_date"]) <= eve]
        clock = FixedClock(at(eve, 18))
        if opening:
            import_rows(session, ImportKind.loans, opening, source="sim-opening-book.csv",
                        actor=ACTOR, now=clock.now(), business_date=eve)  # fmt: skip
            add_guarantors(session, params, [r["loan_no"] for r in opening])
            profiles = {r["loan_no"]: profile_of(params, r["loan_no"]) for r in rows}
            history = payments_on(session, params, profiles, eve, since=date(1900, 1, 1))
            import_payments(session, history, source="sim-opening-payments.csv",
                            now=clock.now(), day=eve)  # fmt: skip
        run = SimulationRun(params=params.as_json(), started_at=now, updated_at=now,
                            totals={"opening_loans": len(opening)})  # fmt: skip
        session.add(run)
        session.flush()
        return run.id or 0


def load(run_id: int | None) -> SimulationRun:
    with session_scope() as session:
        query = select(SimulationRun).order_by(col(SimulationRun.id).desc())
        if run_id is not None:
            query = query.where(SimulationRun.id == run_id)
        run = session.exec(query).first()
    if run is None:
        raise NotFoundError("没有可继续的模拟 (no simulation to resume)", run_id=run_id)
    return run


def world_of(run: SimulationRun) -> World:
    params = SimParams.from_json(run.params)
    with session_scope() as session:
        staff = Staff.load(session)
        by_day: dict[str, list[dict[str, str]]] = {}
        rows = book_rows(params, managers_of(session))
    for row in rows:
        by_day.setdefault(row["disbursement_date"], []).append(row)
    profiles = {r["loan_no"]: profile_of(params, r["loan_no"]) for r in rows}
    return World(params, by_day, profiles, staff)


def extend_to(run_id: int, day: date) -> SimulationRun:
    """Go on past the run's planned end up to `day` (the demo book brought to today): the same
    draws continue, so the book carries on as if the run had been planned that long."""
    with session_scope() as session:
        run = session.get(SimulationRun, run_id)
        if run is None:
            raise NotFoundError(f"没有编号为 {run_id} 的模拟 (no simulation #{run_id})")
        params = SimParams.from_json(run.params)
        extra = (day - params.start).days + 1 - params.days
        if extra > params.extra_days:
            run.params = {**run.params, "extra_days": extra}
            run.finished_at = None
    return run_days(run_id)


def run_days(run_id: int, *, until: date | None = None, progress: Progress | None = None,
             stop: Callable[[], bool] = lambda: False) -> SimulationRun:  # fmt: skip
    """Run the days not yet run, up to the run's last day (or `until`)."""
    run = load(run_id)
    world = world_of(run)
    params = world.params
    last = params.end
    day = (run.last_day + timedelta(days=1)) if run.last_day else params.start
    end = min(last, until) if until else last
    while day <= end and not stop():
        began = perf_counter()
        counts, failures, month = one_day(world, day)
        _record(run_id, day, counts, failures, month, perf_counter() - began)
        if progress:
            progress(day, counts)
        day += timedelta(days=1)
    if day > last:
        finish(run_id, params)
    return load(run_id)


def one_day(world: World, day: date) -> tuple[Counter[str], list[str], dict | None]:
    params, counts, failures = world.params, Counter[str](), list[str]()
    clock = FixedClock(at(day, 6))
    with using_clock(clock):
        new = _not_booked(world.rows.get(day.isoformat(), []))
        if new:
            with session_scope() as session:
                import_rows(session, ImportKind.loans, new, source=f"sim-loans-{day}.csv",
                            actor=ACTOR, now=clock.now(), business_date=day)  # fmt: skip
                add_guarantors(session, params, [r["loan_no"] for r in new])
            counts["disbursed"] += len(new)
        for _, step in MORNING:
            step(day)
        if day.day == 1 or checks.month_end(day):  # what the morning's scheduler had to open
            with session_scope() as session:
                failures += checks.inspections_opened(session, day)
        clock.current = at(day, 9)
        counts.update(file_requests(params, world.staff, world.profiles, day, clock.now()))
        clock.current = at(day, 10)
        answered = answer_tasks(params, world.staff, world.profiles, day, clock.now())
        counts.update({f"completed {k}": n for k, n in answered.completed.items()})
        counts["late completions"] += answered.late
        counts.update({f"refused {k}": n for k, n in answered.refused.items()})
        clock.current = at(day, 17)
        counts["outbox delivered"] += deliver_outbox(clock.now())
        clock.current = at(day, 18)
        with session_scope() as session:
            payments = payments_on(session, params, world.profiles, day, since=None)
            counts["payments"] += import_payments(session, payments,
                                                  source=f"sim-payments-{day}.csv",
                                                  now=clock.now(), day=day)  # fmt: skip
        clock.current = at(day, 20, 30)
        for _, step in EVENING:
            step(day)
        if checks.month_end(day):
            clock.current = at(day, 22)
            counts.update(close_month(world, day, clock))
    month = None
    with session_scope() as session:
        if checks.month_end(day):
            failures += checks.better_than_floor(session, day)
            failures += checks.late_ones_flagged(session, day)
            month = month_figures(session, day)
    return counts, failures, month


def _not_booked(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The day's loans not in the book yet: a run killed halfway through a day (not stopped
    between days) repeats that day, and every step of it must take what is done as done."""
    if not rows:
        return rows
    with session_scope() as session:
        booked = set(session.exec(
            select(Loan.loan_no).where(col(Loan.loan_no).in_([r["loan_no"] for r in rows]))
        ).all())  # fmt: skip
    return [r for r in rows if r["loan_no"] not in booked]


MONTH_END_ROUNDS = 4  # a chain's levels, decided one after the other at the meeting


def close_month(world: World, day: date, clock: FixedClock) -> Counter[str]:
    """The month-end classification meeting (月末五级分类认定): every open classification
    review is decided that night, level after level, so the month's book is classified before
    it is reported (the floors the evening's sweep proposed included)."""
    counts: Counter[str] = Counter()
    for _ in range(MONTH_END_ROUNDS):
        done = answer_tasks(world.params, world.staff, world.profiles, day, clock.now(),
                            only=("classification_review",))  # fmt: skip
        counts.update({f"month-end {k}": n for k, n in done.completed.items()})
        counts["outbox delivered"] += deliver_outbox(clock.now())
        if not done.completed:
            break
    return counts


def deliver_outbox(now: datetime) -> int:
    """The dispatcher's work without a Prefect server: the due approval-chain rows handed to
    the approval-chain flow's step (its function, idempotent), then marked delivered."""
    rows = _due(now, 10_000)
    chain = [r for r in rows if r["flow"] == "approval-chain"]
    if chain:
        advance_requests.fn([int(r["parameters"]["request_id"]) for r in chain])
    for row in chain:
        _mark(row["id"], now=now, run_id=None, error=None)
    for row in rows:
        if row["flow"] != "approval-chain":
            _mark(row["id"], now=now, run_id=None, error=f"the simulator cannot run {row['flow']}")
    return len(chain)


def _record(run_id: int, day: date, counts: Counter[str], failures: list[str],
            month: dict | None, seconds: float) -> None:  # fmt: skip
    with session_scope() as session:
        run = session.get(SimulationRun, run_id)
        assert run is not None
        totals = Counter(run.totals)
        totals.update(counts)
        run.totals = dict(totals)
        run.failures = [*run.failures, *failures]
        if month is not None:
            run.months = [*run.months, month]
        run.last_day, run.seconds = day, run.seconds + seconds
        run.updated_at = datetime.now(UTC)


def finish(run_id: int, params: SimParams) -> None:
    """The last day's checks over the whole book, and the final figures."""
    end = params.end
    with session_scope() as session:
        failures = checks.journal_verifies(session) + checks.replay_equals_state(session)
        figures = final_figures(session, params.start, end)
        run = session.get(SimulationRun, run_id)
        assert run is not None
        run.failures = [*run.failures, *failures]
        run.figures = figures
        run.finished_at = run.updated_at = datetime.now(UTC)
