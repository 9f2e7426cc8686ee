"""The book bench/reports.py times: N loans built fast by bulk Core inserts — products and the
demo branches mixed, booked on the first of each month, three allocated payments each, overdue
bucket history on ~8 % — with every state move written through `audit.journal.append_many`, so
the status history the report reads is the one the production projection writes."""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bench.common import template_loan_row

D = date(2026, 11, 30)  # the report date, and today
FIRST_BOOKED = date(2024, 6, 1)
BRANCHES = ("BJ01", "BJ0101", "SH01", "SH0101")
MANAGERS = {"BJ01": "am_bj1", "BJ0101": "am_bj3", "SH01": "am_sh1", "SH0101": "am_sh2"}
CHUNK = 20_000
MONTH = 30  # days a bucket lasts: M1 at 1..30 days past due, and so on


class Moves:
    """Each loan's journal-worthy moves, checked against the machines' transition tables."""

    def __init__(self) -> None:
        from statemachines.loan_lifecycle import LoanLifecycle
        from statemachines.risk_classification import RiskClassification

        self.tables = {
            "loan_lifecycle": LoanLifecycle.transition_table(),
            "risk_classification": RiskClassification.transition_table(),
        }
        self.by_day: dict[date, list[dict[str, Any]]] = {}
        self.final: dict[str, tuple[str, str]] = {}  # loan → (state, class) at the end
        self.counts: dict[str, int] = {}

    def add(self, loan_no: str, moves: list[tuple[date, str, str, str]]) -> None:
        """`moves`: (day, machine, event, target) in the order they happen."""
        state = {"loan_lifecycle": "normal", "risk_classification": "pass"}
        for exact, machine, event, target in moves:
            day = exact - timedelta(days=exact.weekday())  # the weekly batch it is written in
            source = state[machine]
            allowed = self.tables[machine].get((source, event), ())
            if target not in allowed:
                raise AssertionError(f"{machine}: {source} --{event}--> {target} is not allowed")
            self.by_day.setdefault(day, []).append(
                {"aggregate_type": "loan", "aggregate_id": loan_no, "machine": machine,
                 "event": event, "from_state": source, "to_state": target,
                 "actor": "system:daily_sweep" if event in ("mark_overdue", "cure", "settle")
                 else "u:rm_bj", "reason": "批处理 sweep" if event in ("mark_overdue", "cure")
                 else "分类认定 classified",
                 "payload": {"approved_by": "head_bj"} if machine == "risk_classification"
                 or event == "write_off" else None}
            )  # fmt: skip
            state[machine] = target
            self.counts[event] = self.counts.get(event, 0) + 1
        self.final[loan_no] = (state["loan_lifecycle"], state["risk_classification"])


def _plan_bucket_loan(rng: random.Random, booked: date) -> tuple[list[tuple[str, date, date | None]], list[tuple[date, str, str, str]]]:  # fmt: skip
    """One arrears episode from M1 on, a bucket each 30 days: cured within a few buckets, or
    still in arrears on D (M6+ at the end), and some of the 损失 ones written off."""
    latest = (D - booked).days - 10
    start = booked + timedelta(days=rng.randrange(30, max(31, latest)))
    names = ["M1", "M2", "M3", "M4", "M5", "M6", "M6+"]
    cured_in = rng.randrange(5) if rng.random() < 0.45 else None  # the bucket it is cured in
    rows: list[tuple[str, date, date | None]] = []
    moves: list[tuple[date, str, str, str]] = [(start, "loan_lifecycle", "mark_overdue", "overdue")]
    risk, life = "pass", "overdue"
    for k, name in enumerate(names):
        entered = start + timedelta(days=MONTH * k)
        if entered > D:
            break
        left: date | None = entered + timedelta(days=MONTH) if k < len(names) - 1 else None
        if k == cured_in:
            left = entered + timedelta(days=rng.randrange(3, MONTH))
        if left is not None and left > D:
            left = None
        if k == 0 and rng.random() < 0.6:  # 关注 soon after the first missed installment
            moves.append((entered + timedelta(days=min(5, (D - entered).days)),
                          "risk_classification", "classify_special_mention", "special_mention"))  # fmt: skip
            risk = "special_mention"
        target = {2: "substandard", 4: "doubtful", 6: "loss"}.get(k)
        if target:
            moves.append((entered, "risk_classification", f"classify_{target}", target))
            if life != "non_performing":
                moves.append((entered, "loan_lifecycle", "classify_npl", "non_performing"))
                life = "non_performing"
            risk = target
        rows.append((name, entered, left))
        if k == cured_in or left is None:
            break
    name, entered, left = rows[-1]
    if k == cured_in and left is not None:  # paid up: back to the performing book
        if life == "overdue":
            watch = risk != "pass"
            moves.append((left, "loan_lifecycle", "cure", "watched" if watch else "normal"))
            back = left + timedelta(days=20)
            if watch and back <= D and rng.random() < 0.5:
                moves.append((back, "risk_classification", "classify_pass", "pass"))
                moves.append((back, "loan_lifecycle", "clear_risk", "normal"))
    elif risk == "loss" and rng.random() < 0.5:  # 核销 a month after 损失
        off = entered + timedelta(days=MONTH)
        if off <= D:
            moves.append((off, "loan_lifecycle", "write_off", "written_off"))
            rows[-1] = (name, entered, off)
    return rows, moves


def build(engine: Engine, loans: int) -> tuple[dict[str, Any], str]:
    """The book; (what was built, counts by kind, the branch's org path)."""
    from audit.journal import append_many
    from audit.replay import OPEN_EVENT
    from core.identity import hash_password
    from loans.demo import PRODUCTS, seed_org
    from loans.models import Borrower, BorrowerKind, Loan, LoanBucketHistory, Payment
    from loans.schedule import add_months

    rng = random.Random(7)
    now = datetime(2024, 6, 1, 12, tzinfo=UTC)
    stats: dict[str, Any] = {}
    with Session(engine, expire_on_commit=False) as session:
        org = seed_org(session, hash_password("bench"))
        borrowers = {}
        for code in BRANCHES:
            b = Borrower(customer_no=f"C-BENCH-{code}", name=f"客户 bench {code}",
                         kind=BorrowerKind.corporate, org_unit_id=org.units[code].id or 0)  # fmt: skip
            session.add(b)
            session.flush()
            borrowers[code] = b.id or 0
        row = template_loan_row(session, org, borrowers["BJ01"], "R0000000", FIRST_BOOKED, 36, now)
        del row["loan_no"]
        months = [add_months(FIRST_BOOKED, i) for i in range(29)]  # a booking day a month
        branch_ids = {c: org.units[c].id or 0 for c in BRANCHES}
        manager_ids = {c: org.users[u].id or 0 for c, u in MANAGERS.items()}
        book: list[tuple[str, str, date, int]] = [
            ("R0000000", "working_capital", FIRST_BOOKED, 500_000_00)
        ]
        t0 = time.perf_counter()
        conn = session.connection()
        batch: list[dict[str, Any]] = []
        for k in range(1, loans):
            branch = BRANCHES[k % 4]
            product = PRODUCTS[rng.randrange(len(PRODUCTS))]
            booked = months[rng.randrange(len(months))]
            principal = rng.randrange(20_000, 5_000_000) * 100
            loan_no = f"R{k:07d}"
            book.append((loan_no, product, booked, principal))
            batch.append({**row, "loan_no": loan_no, "product": product, "booked_on": booked,
                          "disbursement_date": booked, "principal_cents": principal,
                          "maturity_date": add_months(booked, 36),
                          "original_maturity_date": add_months(booked, 36),
                          "branch_id": branch_ids[branch], "borrower_id": borrowers[branch],
                          "account_manager_id": manager_ids[branch]})  # fmt: skip
            if len(batch) == CHUNK:
                conn.execute(insert(Loan.__table__), batch)  # type: ignore[attr-defined]
                batch = []
        if batch:
            conn.execute(insert(Loan.__table__), batch)  # type: ignore[attr-defined]
        session.commit()
        stats["loans_s"] = time.perf_counter() - t0
        ids = dict(session.execute(select(Loan.loan_no, Loan.id)).all())  # type: ignore[call-overload]

        # the plan: arrears episodes, reclassifications, settlements, payments
        moves = Moves()
        buckets: list[dict[str, Any]] = []
        payments: list[dict[str, Any]] = []
        settled = 0
        for loan_no, _product, booked, principal in book:
            room = (D - booked).days
            days = sorted(rng.randrange(20, max(21, room)) for _ in range(3))
            shares = [rng.randrange(2, 12) for _ in range(3)]
            applied = [principal * s // 100 for s in shares]
            plan: list[tuple[date, str, str, str]] = []
            roll = rng.random()
            if roll < 0.08 and room > 45:
                rows, plan = _plan_bucket_loan(rng, booked)
                buckets += [{"loan_id": ids[loan_no], "bucket": b, "entered_on": e, "left_on": left}
                            for b, e, left in rows]  # fmt: skip
            elif roll < 0.095:  # 关注 on a warning signal; a third upgraded back later
                on = booked + timedelta(days=rng.randrange(20, max(21, room)))
                plan = [(on, "risk_classification", "classify_special_mention", "special_mention"),
                        (on, "loan_lifecycle", "flag_risk", "watched")]  # fmt: skip
                back = on + timedelta(days=rng.randrange(30, 120))
                if rng.random() < 0.33 and back <= D:
                    plan += [(back, "risk_classification", "classify_pass", "pass"),
                             (back, "loan_lifecycle", "clear_risk", "normal")]  # fmt: skip
            elif roll < 0.098:  # 次级 by contagion (第七条): another loan of the borrower is 不良
                on = booked + timedelta(days=rng.randrange(20, max(21, room)))
                plan = [(on, "risk_classification", "classify_substandard", "substandard"),
                        (on, "loan_lifecycle", "classify_npl", "non_performing")]  # fmt: skip
            elif roll < 0.108:  # 结清 early: the last payment repays the rest
                applied[2] = principal - applied[0] - applied[1]
                plan = [(booked + timedelta(days=days[2]), "loan_lifecycle", "settle", "settled")]
                settled += 1
            if plan:
                moves.add(loan_no, plan)
            for i in range(3):
                interest = principal * 435 // 10_000 * (days[i] - (days[i - 1] if i else 0)) // 365
                payments.append({"payment_ref": f"{loan_no}-{i}", "loan_id": ids[loan_no],
                                 "value_date": booked + timedelta(days=days[i]),
                                 "amount_cents": applied[i] + interest,
                                 "interest_applied_cents": interest,
                                 "principal_applied_cents": applied[i], "unapplied_cents": 0,
                                 "allocated": True, "source": "bench", "created_at": now})  # fmt: skip
        t0 = time.perf_counter()
        conn = session.connection()
        for part in range(0, len(payments), CHUNK):
            conn.execute(insert(Payment.__table__), payments[part : part + CHUNK])  # type: ignore[attr-defined]
        for part in range(0, len(buckets), CHUNK):
            conn.execute(insert(LoanBucketHistory.__table__), buckets[part : part + CHUNK])  # type: ignore[attr-defined]
        session.commit()
        stats["payments_s"] = time.perf_counter() - t0
        stats.update(payments=len(payments), bucket_rows=len(buckets),
                     bucket_loans=len({b["loan_id"] for b in buckets}), settled=settled)  # fmt: skip

        # the journal, day by day: each loan's opening entries on its booking day, then the moves
        for loan_no, _product, booked, principal in book[1:]:
            for machine, state in (("loan_lifecycle", "normal"), ("risk_classification", "pass")):
                moves.by_day.setdefault(booked, []).insert(0, {
                    "aggregate_type": "loan", "aggregate_id": loan_no, "machine": machine,
                    "event": OPEN_EVENT, "from_state": None, "to_state": state,
                    "actor": "u:am_bj1", "reason": "放款 booked",
                    "payload": {"principal_cents": principal, "installments": 36}})  # fmt: skip
        t0 = time.perf_counter()
        written = 0
        for day in sorted(moves.by_day):
            items = moves.by_day[day]
            stamp = datetime(day.year, day.month, day.day, 18, tzinfo=UTC)
            for part in range(0, len(items), CHUNK):
                written += append_many(session, items[part : part + CHUNK], now=stamp,
                                       business_date=day)  # fmt: skip
            session.commit()
        stats["journal_s"] = time.perf_counter() - t0
        stats["entries"] = written
        stats["moves"] = moves.counts

        loans_t = Loan.__table__  # type: ignore[attr-defined]
        finals: dict[tuple[str, str], list[str]] = {}
        for loan_no, final in moves.final.items():
            finals.setdefault(final, []).append(loan_no)
        for (state, risk_class), chosen in finals.items():  # the columns say what the journal says
            for part in range(0, len(chosen), 5000):
                session.execute(
                    loans_t.update()
                    .where(loans_t.c.loan_no.in_(chosen[part : part + 5000]))
                    .values(state=state, risk_class=risk_class)
                )
        session.commit()
        branch_path = org.units["BJ01"].path
    if engine.dialect.name == "postgresql":
        t0 = time.perf_counter()
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql("VACUUM ANALYZE")
        stats["vacuum_s"] = time.perf_counter() - t0
    return stats, branch_path
