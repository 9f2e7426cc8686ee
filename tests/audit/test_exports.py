"""The journal exports (CSV, XES, OCEL 2.0): what each holds, escaping, filters, the empty
journal, and what belongs to no loan (sign-ins) left out."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from audit import journal
from audit.event_log import ExportFilter, loan_cases
from audit.exports import ExportFormat, filename, write_export
from core.errors import ValidationError
from loans.transitions import transition_loan
from reports.journal_cases import BookCases
from tests.factories import make_loan, seed_book

XES = "{http://www.xes-standard.org/}"
NASTY = "逾期<3天> & \"催收\" '=SUM(A1)'"  # XML specials, a quote, Chinese


def _export(session, fmt: ExportFormat, filt: ExportFilter | None = None) -> tuple[str, object]:
    filt = filt or ExportFilter()
    out = io.StringIO()
    stats = write_export(session, BookCases(session, filt), fmt, filt, out)
    return out.getvalue(), stats


@pytest.fixture
def book(session, org, clock):
    """Three loans in two branches with a task each; L BJ01-…-0001 overdue with a nasty reason;
    a sign-in entry that belongs to no loan."""
    loans = seed_book(session, org, clock)
    clock.advance(days=1)  # recorded after the seeding (wall time orders a trace)
    transition_loan(session, loans[0].loan_no, "mark_overdue", actor="system:test",
                    now=clock.now(), business_date=date(2025, 2, 20), reason=NASTY)  # fmt: skip
    journal.append(session, aggregate_type="signin", aggregate_id="am_bj1", machine="sign_in",
                   event="failed", from_state=None, to_state=None, actor="anonymous",
                   now=clock.now(), business_date=date(2025, 2, 20))  # fmt: skip
    session.commit()
    return loans


def _journal_rows(session, *types: str) -> int:
    from sqlmodel import col, func, select

    from audit.journal import JournalEntry

    return session.exec(
        select(func.count()).where(col(JournalEntry.aggregate_type).in_(types))
    ).one()


def test_csv_one_row_per_loan_entry_bom_chinese_header_signins_left_out(session, book):
    text, stats = _export(session, ExportFormat.csv)
    assert text.startswith("\ufeff贷款编号 loan_no,")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert len(rows) == stats.events == _journal_rows(session, "loan", "task")
    assert stats.cases == 3
    assert {r["对象类型 aggregate"] for r in rows} == {"loan", "task"}  # no signin
    [overdue] = [r for r in rows if r["事件 event"] == "mark_overdue"]
    assert overdue["贷款编号 loan_no"] == "BJ01-2025-0001"
    assert (overdue["原状态 from"], overdue["新状态 to"]) == ("normal", "overdue")
    assert overdue["理由 reason"] == NASTY  # quotes and commas survive the CSV quoting
    assert overdue["业务日期 business_date"] == "2025-02-20"
    assert overdue["记录时间(UTC) wall_time"].endswith("+00:00")
    task_rows = [r for r in rows if r["对象类型 aggregate"] == "task"]
    assert {r["贷款编号 loan_no"] for r in task_rows} == {b.loan_no for b in book}


def test_csv_formula_cell_shown_as_text(session, org, clock):
    make_loan(session, org, clock, "L1")
    transition_loan(session, "L1", "flag_risk", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 1), reason="=HYPERLINK(\"x\")")  # fmt: skip
    session.commit()
    text, _ = _export(session, ExportFormat.csv)
    [row] = [r for r in csv.reader(io.StringIO(text)) if "flag_risk" in r]
    assert row[13] == '\'=HYPERLINK("x")'


def test_xes_trace_per_loan_escaped_and_well_formed(session, book):
    text, stats = _export(session, ExportFormat.xes)
    root = ET.fromstring(text.encode("utf-8"))  # parses: every special character escaped
    traces = root.findall(f"{XES}trace")
    names = [t.find(f"{XES}string[@key='concept:name']").get("value") for t in traces]
    assert names == [b.loan_no for b in book]
    events = [e for t in traces for e in t.findall(f"{XES}event")]
    assert len(events) == stats.events == _journal_rows(session, "loan", "task")

    def attrs(event):
        return {a.get("key"): a.get("value") for a in event}

    first = attrs(traces[0].findall(f"{XES}event")[-1])
    assert first["concept:name"] == "loan_lifecycle.mark_overdue"
    assert (first["postloan:from"], first["postloan:to"]) == ("normal", "overdue")
    assert first["postloan:reason"] == NASTY
    assert first["org:resource"] == "system:test"
    assert first["lifecycle:transition"] == "complete"
    task_open = [attrs(e) for e in events if attrs(e)["postloan:aggregate"] == "task"]
    assert {
        (a["concept:name"], a["lifecycle:transition"], a["postloan:kind"]) for a in task_open
    } == {("human_task.open", "schedule", "loan_card_check")}
    assert '"催收"' not in text and "&quot;催收&quot;" in text


def test_xes_keeps_newlines_and_tabs_and_replaces_what_xml_cannot_carry(session, org, clock):
    make_loan(session, org, clock, "L1")
    transition_loan(session, "L1", "flag_risk", actor="system:test", now=clock.now(),
                    business_date=date(2025, 2, 1), reason="第一行\n第二行\t\x07末 <&>")  # fmt: skip
    session.commit()
    text, _ = _export(session, ExportFormat.xes)
    [reason] = [
        s.get("value")
        for s in ET.fromstring(text.encode()).iter(f"{XES}string")
        if s.get("key") == "postloan:reason" and s.get("value", "").startswith("第一行")
    ]
    assert reason == "第一行\n第二行\t\ufffd末 <&>"


def test_ocel_objects_events_and_relationships(session, book):
    text, stats = _export(session, ExportFormat.ocel)
    data = json.loads(text)
    types = {o["name"] for o in data["objectTypes"]}
    assert types == {"loan", "task"}
    ids = {o["id"] for o in data["objects"]}
    assert {f"loan:{b.loan_no}" for b in book} <= ids
    tasks = [o for o in data["objects"] if o["type"] == "task"]
    assert len(tasks) == 3 and all(o["relationships"][0]["qualifier"] == "loan" for o in tasks)
    assert len(data["events"]) == stats.events == _journal_rows(session, "loan", "task")
    for event in data["events"]:
        related = {r["objectId"] for r in event["relationships"]}
        assert related <= ids
        assert any(r.startswith("loan:") for r in related)
    [overdue] = [e for e in data["events"] if e["type"] == "loan_lifecycle.mark_overdue"]
    values = {a["name"]: a["value"] for a in overdue["attributes"]}
    assert values["reason"] == NASTY and values["to"] == "overdue"
    assert {e["name"] for e in data["eventTypes"]} == {e["type"] for e in data["events"]}


def test_filters_by_business_date_and_branch(session, book):
    text, stats = _export(
        session, ExportFormat.csv, ExportFilter(date(2025, 2, 1), date(2025, 2, 28))
    )
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert [r[6] for r in rows] == ["mark_overdue"] and stats.cases == 1
    _, early = _export(session, ExportFormat.csv, ExportFilter(date_to=date(2025, 1, 31)))
    assert early.events == 6  # the three loans' two opening entries
    shanghai = json.loads(_export(session, ExportFormat.ocel, ExportFilter(branch="SH01"))[0])
    assert {o["id"] for o in shanghai["objects"] if o["type"] == "loan"} == {"loan:SH01-2025-0003"}
    _, head_office = _export(session, ExportFormat.xes, ExportFilter(branch="HO"))
    assert head_office.cases == 3  # a unit's subtree: every branch below the head office


def test_filter_unknown_branch_or_reversed_dates_names_the_field(session, book):
    with pytest.raises(ValidationError) as unknown:
        BookCases(session, ExportFilter(branch="NOPE"))
    assert unknown.value.errors[0]["field"] == "branch"
    with pytest.raises(ValidationError) as reversed_:
        ExportFilter(date_from=date(2025, 3, 1), date_to=date(2025, 2, 1)).check()
    assert reversed_.value.errors[0]["field"] == "date_to"


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_empty_journal_exports_a_valid_empty_log(session, org, fmt):
    text, stats = _export(session, fmt)
    assert (stats.cases, stats.events) == (0, 0)
    if fmt == ExportFormat.csv:
        assert list(csv.reader(io.StringIO(text)))[1:] == []
    elif fmt == ExportFormat.xes:
        assert ET.fromstring(text.encode()).findall(f"{XES}trace") == []
    else:
        assert json.loads(text) == {
            "events": [],
            "objects": [],
            "objectTypes": [],
            "eventTypes": [],
        }


def test_pages_of_loans_give_the_same_cases_as_one_page(session, book):
    source = BookCases(session, ExportFilter())
    one = [(c.loan_no, [e.id for e in c.events]) for c in loan_cases(session, source, page=500)]
    paged = [(c.loan_no, [e.id for e in c.events]) for c in loan_cases(session, source, page=1)]
    assert one == paged and len(one) == 3


def test_filename_says_format_branch_and_range():
    assert (
        filename(ExportFormat.xes, ExportFilter(), "2026-12-02")
        == "postloan-journal-2026-12-02.xes"
    )
    assert (
        filename(ExportFormat.csv, ExportFilter(date(2025, 1, 1), None, "BJ01"), "x")
        == "postloan-journal-BJ01-2025-01-01_end.csv"
    )
