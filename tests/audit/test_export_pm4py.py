"""The exports read by a process-mining tool (pm4py, a test-only dependency): a book moved through
the real services along every transition of the loan lifecycle; the process model pm4py
discovers from the exported log has exactly the machine's transitions, and the OCEL relates
each task, request and case event to its object and its loan."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import Session

from approvals.filing import file_extension
from audit.event_log import ExportFilter
from audit.exports import ExportFormat, write_export
from cases.completion import EFFECTS
from cases.warnings import raise_warning
from core.clock import FixedClock
from loans.book import get_loan, installments_of
from loans.payments import record_payment
from loans.schedule import add_months
from loans.transitions import reclassify_loan, transition_loan
from reports.journal_cases import BookCases
from statemachines.enums import LoanState, RiskClass
from statemachines.loan_lifecycle import LoanLifecycle
from tests.approvals.conftest import APPROVE_EXTENSION, decide, level_task, who
from tests.factories import make_loan

pm4py = pytest.importorskip("pm4py")
C = RiskClass


class Book:
    """Moves one loan at a time, the clock only forward (a trace is ordered by wall time)."""

    def __init__(self, session: Session, org, clock: FixedClock) -> None:
        self.s, self.org, self.clock = session, org, clock

    def at(self, day: date) -> date:
        current = self.clock.today()
        if day > current:
            self.clock.set_date(day)
        else:
            self.clock.advance(minutes=1)
        return day

    def loan(self, loan_no: str, months: int = 12) -> str:
        self.clock.set_date(date(2025, 1, 15))
        make_loan(self.s, self.org, self.clock, loan_no, months=months)
        return loan_no

    def go(self, loan_no: str, event: str, day: date, **kw) -> None:
        transition_loan(self.s, loan_no, event, actor="system:test", now=self.clock.now(),
                        business_date=self.at(day), **kw)  # fmt: skip
        self.s.commit()

    def classify(self, loan_no: str, target: RiskClass, day: date, upgrade: bool = False) -> None:
        approval = {"proposed_by": "am_bj1", "approved_by": "committee1"} if upgrade else {}
        reclassify_loan(self.s, loan_no, target, actor="u:committee1" if upgrade else "system:test",
                        now=self.clock.now(), business_date=self.at(day), reason="分类 <复核>",
                        **approval)  # fmt: skip
        self.s.commit()

    def pay(self, loan_no: str, until: date) -> None:
        """Every installment due up to `until`, each on its due date (or now, if later)."""
        loan = get_loan(self.s, loan_no)
        for inst in installments_of(self.s, loan.id or 0):
            if inst.due_date <= until and inst.outstanding_cents:
                day = self.at(max(inst.due_date, self.clock.today()))
                record_payment(self.s, loan, payment_ref=f"{loan_no}-{inst.seq_no}-{day}",
                               value_date=day, amount_cents=inst.outstanding_cents,
                               actor="system:test", now=self.clock.now(), business_date=day)  # fmt: skip
        self.s.commit()

    def pay_off(self, loan_no: str) -> None:
        self.pay(loan_no, get_loan(self.s, loan_no).maturity_date)

    def extend(self, loan_no: str, day: date) -> None:
        """展期 through its approval chain: filed by the manager, approved by the branch head."""
        self.at(day)
        new = add_months(get_loan(self.s, loan_no).maturity_date, 6)
        request = file_extension(self.s, loan_no, who(self.s, "am_bj1", day), EFFECTS,
                                 new_maturity_date=new, reason="回款延迟", financial_difficulty=False,
                                 guarantor_consents=[], now=self.clock.now(), business_date=day)  # fmt: skip
        self.s.commit()
        self.clock.advance(minutes=1)
        decide(
            self.s, self.clock, level_task(self.s, request), "head_bj", APPROVE_EXTENSION, on=day
        )
        assert get_loan(self.s, loan_no).state == LoanState.extended

    def next_due(self, loan_no: str) -> date:
        loan = get_loan(self.s, loan_no)
        return min(i.due_date for i in installments_of(self.s, loan.id or 0) if i.outstanding_cents)


def _every_transition(b: Book) -> None:
    d = date
    # L1 正常→关注→正常→逾期→正常→结清
    b.loan("L1")
    b.classify("L1", C.special_mention, d(2025, 1, 20))  # flag_risk
    b.classify("L1", C.pass_, d(2025, 1, 21), upgrade=True)  # clear_risk
    b.go("L1", "mark_overdue", d(2025, 2, 20))
    b.pay("L1", d(2025, 2, 25))
    b.go("L1", "cure", d(2025, 2, 25))  # → normal (class 正常)
    b.pay_off("L1")
    b.go("L1", "settle", d(2026, 1, 20))
    # L2 关注→逾期→关注→展期→逾期→不良→移交→核销→收回
    b.loan("L2")
    b.classify("L2", C.special_mention, d(2025, 1, 20))
    b.go("L2", "mark_overdue", d(2025, 2, 20))
    b.pay("L2", d(2025, 2, 25))
    b.go("L2", "cure", d(2025, 2, 25))  # → watched (class 关注)
    b.extend("L2", d(2025, 3, 1))
    due = b.next_due("L2")
    b.go("L2", "mark_overdue", d.fromordinal(due.toordinal() + 5))
    b.classify("L2", C.substandard, d.fromordinal(due.toordinal() + 6))  # classify_npl
    b.go("L2", "hand_over", d.fromordinal(due.toordinal() + 7), approved_by="risk_bj",
         requested_by="am_bj1")  # fmt: skip
    b.classify("L2", C.loss, d(2026, 6, 1))
    b.go("L2", "write_off", d(2026, 6, 2), approved_by="committee1", requested_by="am_bj1")
    b.go("L2", "record_recovery", d(2026, 7, 1), payload={"amount_cents": 1000})
    # L3 展期→不良→结清
    b.loan("L3")
    b.extend("L3", d(2025, 1, 20))
    b.classify("L3", C.substandard, d(2025, 1, 25))
    b.pay_off("L3")
    b.go("L3", "settle", d(2026, 8, 1))
    # L4 正常→不良→(six months repaid, approved upgrade) 正常
    b.loan("L4", months=24)
    b.classify("L4", C.substandard, d(2025, 1, 20))
    b.pay("L4", d(2025, 7, 15))
    b.classify("L4", C.pass_, d(2025, 7, 21), upgrade=True)  # reinstate → normal
    raise_warning(b.s, "L4", who(b.s, "am_bj1", d(2025, 7, 22)), EFFECTS,
                  signals=["customer_bankrupt"], description="主要客户破产 & <应收> 难收回",
                  now=b.clock.now(), business_date=b.at(d(2025, 7, 22)))  # fmt: skip
    b.s.commit()
    # L5 关注→不良→关注→结清
    b.loan("L5")
    b.classify("L5", C.special_mention, d(2025, 1, 20))
    b.classify("L5", C.substandard, d(2025, 1, 21))
    b.pay("L5", d(2025, 7, 15))
    b.classify("L5", C.special_mention, d(2025, 7, 22), upgrade=True)  # reinstate → watched
    b.pay_off("L5")
    b.go("L5", "settle", d(2026, 1, 20))
    # L6 展期→结清;  L7 逾期→结清
    b.loan("L6")
    b.extend("L6", d(2025, 1, 20))
    b.pay_off("L6")
    b.go("L6", "settle", d(2026, 8, 1))
    b.loan("L7")
    b.go("L7", "mark_overdue", d(2025, 2, 20))
    b.pay_off("L7")
    b.go("L7", "settle", d(2026, 1, 20))


@pytest.fixture
def exported(session, org, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "attachments"))
    _every_transition(Book(session, org, clock))
    paths = {}
    for fmt, suffix in ((ExportFormat.xes, "xes"), (ExportFormat.ocel, "jsonocel")):
        paths[fmt] = tmp_path / f"journal.{suffix}"
        with paths[fmt].open("w", encoding="utf-8") as out:
            write_export(session, BookCases(session, ExportFilter()), fmt, ExportFilter(), out)
    return paths


def _machine_edges() -> tuple[set[tuple[str, str]], set[tuple[str, str, str]]]:
    table = LoanLifecycle.transition_table()
    triples = {(s, e, t) for (s, e), targets in table.items() for t in targets}
    return {(s, t) for s, _, t in triples}, triples


def test_xes_discovered_state_graph_equals_the_lifecycle_machine(exported):
    log = pm4py.read_xes(str(exported[ExportFormat.xes]))
    assert set(log["case:concept:name"]) == {f"L{n}" for n in range(1, 8)}
    lifecycle = pm4py.filter_event_attribute_values(
        log, "postloan:machine", {"loan_lifecycle"}, level="event", retain=True
    )
    dfg, start, _end = pm4py.discover_dfg(lifecycle, activity_key="postloan:to")
    edges, _ = _machine_edges()
    assert set(dfg) == edges  # every allowed move among states, and no other
    assert set(start) == {"normal"}
    # the resources: who moved what (system, the branch head's approval, the committee)
    assert {"system:test", "u:committee1"} <= set(log["org:resource"])


def test_ocel_lifecycle_moves_equal_the_machine_and_events_relate_their_objects(exported):
    ocel = pm4py.read_ocel2_json(str(exported[ExportFormat.ocel]))
    events = ocel.events
    lifecycle = events[events["machine"] == "loan_lifecycle"]
    moves = lifecycle[lifecycle["event"] != "open"]
    _, triples = _machine_edges()
    assert set(zip(moves["from"], moves["event"], moves["to"], strict=True)) == triples
    types = set(ocel.objects["ocel:type"])
    assert {"loan", "task", "approval_request", "warning_case"} <= types
    related = ocel.relations.groupby("ocel:eid")["ocel:type"].agg(frozenset)
    machine_of = dict(zip(events["ocel:eid"], events["machine"], strict=True))
    expected = {
        "loan_lifecycle": {"loan"},
        "risk_classification": {"loan"},
        "human_task": {"task", "loan"},
        "approval_request": {"approval_request", "loan"},
        "warning_case": {"warning_case", "loan"},
    }
    seen = set()
    for eid, object_types in related.items():
        machine = machine_of[eid]
        if machine in expected:
            assert object_types == expected[machine], (eid, machine)
            seen.add(machine)
    assert seen == set(expected)
    # object-to-object: each task belongs to its loan (and a decision task to its request)
    o2o = set(zip(ocel.o2o["ocel:oid"].str.split(":").str[0],
                  ocel.o2o["ocel:oid_2"].str.split(":").str[0], strict=True))  # fmt: skip
    assert {("task", "loan"), ("task", "approval_request"), ("warning_case", "loan")} <= o2o
