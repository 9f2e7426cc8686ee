"""The journal: per-aggregate hash chains, heads, daily anchors and tamper detection."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import Session

from audit import journal
from audit.verify import verify_journal
from tests.audit.chains import NOW, append_chain
from tests.tamper import bypass_append_only


def _verify(engine) -> object:
    with Session(engine) as s:
        return verify_journal(s)


def test_append_links_chain_per_aggregate_and_verifies(session, engine):
    append_chain(session, "A", 3)
    append_chain(session, "B", 2)
    chain_a = journal.chain(session, "loan", "A")
    assert [e.chain_seq for e in chain_a] == [1, 2, 3]
    assert chain_a[0].prev_hash == journal.GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(chain_a, chain_a[1:], strict=False))
    report = _verify(engine)
    assert report.ok, [b.describe() for b in report.breaks]
    assert (report.chains, report.entries) == (2, 5)


def test_verify_altered_payload_names_that_entry(session, engine):
    ids = append_chain(session, "A", 3)
    bypass_append_only(session)
    session.exec(text("UPDATE journal SET reason = 'edited' WHERE id = :i").bindparams(i=ids[1]))
    session.commit()
    report = _verify(engine)
    first = report.first_break
    assert first is not None
    assert (first.aggregate_id, first.chain_seq, first.entry_id, first.kind) == (
        "A",
        2,
        ids[1],
        "altered",
    )
    assert "loan/A entry #2" in first.describe()


def test_verify_rehashed_entry_breaks_next_link(session, engine):
    """A forger who recomputes the altered entry's hash still breaks the following link."""
    ids = append_chain(session, "A", 3)
    entry = session.get(journal.JournalEntry, ids[0])
    entry.actor = "u:forger"
    entry.hash = journal.entry_hash(entry)
    bypass_append_only(session)
    session.add(entry)
    session.commit()
    first = _verify(engine).first_break
    assert (first.chain_seq, first.kind) == (2, "relinked")


def test_verify_deleted_middle_entry_reports_missing(session, engine):
    ids = append_chain(session, "A", 3)
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal WHERE id = :i").bindparams(i=ids[1]))
    session.commit()
    first = _verify(engine).first_break
    assert (first.chain_seq, first.kind) == (2, "missing")


def test_verify_deleted_tail_entry_caught_by_head(session, engine):
    ids = append_chain(session, "A", 3)
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal WHERE id = :i").bindparams(i=ids[2]))
    session.commit()
    first = _verify(engine).first_break
    assert (first.chain_seq, first.kind) == (3, "missing")


def test_verify_judges_a_chain_whose_ids_were_shuffled_in_chain_order(session, engine):
    """A chain whose ids no longer follow its sequence (the hash does not cover the id) is judged
    in chain order all the same: intact, then one alteration, reported with its id."""
    ids = append_chain(session, "A", 3)
    append_chain(session, "B", 2)
    bypass_append_only(session)
    for old, new in ((ids[0], -1), (ids[2], ids[0]), (-1, ids[2])):
        session.exec(text("UPDATE journal SET id = :n WHERE id = :o").bindparams(n=new, o=old))
    session.commit()
    report = _verify(engine)
    assert report.ok and (report.chains, report.entries) == (2, 5), report.summary()
    bypass_append_only(session)
    session.exec(text("UPDATE journal SET reason = 'edited' WHERE id = :i").bindparams(i=ids[0]))
    session.commit()
    assert [(b.aggregate_id, b.chain_seq, b.entry_id, b.kind) for b in _verify(engine).breaks] == [
        ("A", 3, ids[0], "altered")
    ]


def test_verify_deleted_tail_and_head_rewritten_caught_by_anchor(session, engine):
    ids = append_chain(session, "A", 3)
    journal.anchor_day(session, date(2026, 3, 2), now=NOW)
    session.commit()
    second = session.get(journal.JournalEntry, ids[1])
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal WHERE id = :i").bindparams(i=ids[2]))
    session.exec(
        text("UPDATE journal_heads SET chain_seq = 2, hash = :h").bindparams(h=second.hash)
    )
    session.commit()
    report = _verify(engine)
    assert [b.kind for b in report.breaks] == ["anchor_mismatch"]
    assert report.breaks[0].aggregate_id == "2026-03-02 #1"


def test_anchor_later_entries_do_not_disturb_earlier_anchor(session, engine):
    append_chain(session, "A", 2)
    journal.anchor_day(session, date(2026, 3, 2), now=NOW)
    session.commit()
    append_chain(session, "A", 2, day=date(2026, 3, 1))  # even back-dated
    report = _verify(engine)
    assert report.ok and report.anchors == 1


def test_anchor_again_the_same_day_covers_what_was_written_since(session, engine):
    """The issue's reproduction: anchor, then more work the same day; the second anchor covers
    the new entries (it used to say the day was already anchored)."""
    append_chain(session, "A", 2)
    first = journal.anchor_day(session, date(2026, 3, 2), now=NOW)
    session.commit()
    ids = append_chain(session, "B", 3)
    second = journal.anchor_day(session, date(2026, 3, 2), now=NOW)
    session.commit()
    assert (second.first_entry_id, second.last_entry_id, second.chains) == (
        first.last_entry_id, ids[-1], 1
    )  # fmt: skip
    assert second.prev_digest == first.digest and second.id != first.id
    assert journal.anchor_day(session, date(2026, 3, 2), now=NOW).id == second.id  # nothing new
    report = _verify(engine)
    assert report.ok and report.anchors == 2
    # the second window's tail deleted with its head rewritten: only the second anchor catches it
    middle = session.get(journal.JournalEntry, ids[1])
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal WHERE id = :i").bindparams(i=ids[2]))
    session.exec(
        text("UPDATE journal_heads SET chain_seq = 2, hash = :h WHERE aggregate_id = 'B'")
        .bindparams(h=middle.hash)
    )  # fmt: skip
    session.commit()
    breaks = _verify(engine).breaks
    assert [(b.kind, b.aggregate_id) for b in breaks] == [
        ("anchor_mismatch", f"2026-03-02 #{second.id}")
    ]


def test_an_anchor_removed_from_the_middle_is_reported(session, engine):
    for agg in ("A", "B", "C"):
        append_chain(session, agg, 1)
        journal.anchor_day(session, date(2026, 3, 2), now=NOW)
        session.commit()
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal_anchors WHERE id = 2"))
    session.commit()
    breaks = _verify(engine).breaks  # the external log still holds it: the row alone is missing
    assert [(b.kind, b.aggregate_id) for b in breaks] == [("anchor_missing", "2026-03-02 #2")]
    assert "the database lacks this signed anchor" in breaks[0].describe()


def test_anchor_reads_only_the_entries_since_the_last_anchor(session, engine):
    """Anchoring costs what was written since the last anchor, not the whole journal."""
    from sqlalchemy import event

    append_chain(session, "A", 50)
    journal.anchor_day(session, date(2026, 3, 2), now=NOW)
    session.commit()
    append_chain(session, "B", 1)
    statements: list[tuple[str, object]] = []
    listen = lambda conn, cur, stmt, params, ctx, many: statements.append((stmt, params))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        anchor = journal.anchor_day(session, date(2026, 3, 2), now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert anchor.chains == 1
    window = [stmt for stmt, _ in statements if "max(journal.chain_seq)" in stmt]
    assert len(window) == 1 and "journal.id >" in window[0]


def test_verify_head_without_entries_reports_missing(session, engine):
    append_chain(session, "A", 1)
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal"))
    session.commit()
    assert _verify(engine).first_break.kind == "missing"


@pytest.mark.postgres_only
def test_anchor_waits_for_inflight_append_stays_valid(engine):
    """An append holding a lower id, committed after the anchor was asked for, must not make
    the anchor look broken."""
    with Session(engine) as s:
        append_chain(s, "A", 1)
    slow = Session(engine)
    errors: list[BaseException] = []

    def anchor() -> None:
        try:
            with Session(engine) as s:
                journal.anchor_day(s, date(2026, 3, 2), now=NOW)
                s.commit()
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    try:
        journal.append(
            slow,
            aggregate_type="loan",
            aggregate_id="B",
            machine="m",
            event="e",
            from_state=None,
            to_state="x",
            actor="u",
            now=NOW,
            business_date=date(2026, 3, 2),
        )
        slow.flush()  # id taken, not committed
        worker = threading.Thread(target=anchor)
        worker.start()
        time.sleep(0.5)
        waited = worker.is_alive()  # the anchor must wait for the in-flight append
        slow.commit()
    finally:
        slow.close()
    worker.join(10)
    assert not errors, errors
    assert waited
    report = _verify(engine)
    assert report.ok, [b.describe() for b in report.breaks]


def test_append_many_same_chain_as_append_verifies(session, engine):
    append_chain(session, "A", 2)  # existing chain
    items = [
        {
            "aggregate_type": "loan",
            "aggregate_id": agg,
            "machine": "m",
            "event": f"b{k}",
            "from_state": "x",
            "to_state": "y",
            "actor": "system:sweep",
            "payload": {"k": k},
        }
        for k, agg in enumerate(["A", "B", "A", "C", "B"])
    ]
    assert journal.append_many(session, items, now=NOW, business_date=date(2026, 3, 3)) == 5
    session.commit()
    assert [e.chain_seq for e in journal.chain(session, "loan", "A")] == [1, 2, 3, 4]
    assert [e.event for e in journal.chain(session, "loan", "B")] == ["b1", "b4"]
    report = _verify(engine)
    assert report.ok, [b.describe() for b in report.breaks]
    journal.append(
        session,
        aggregate_type="loan",
        aggregate_id="C",
        machine="m",
        event="after",
        from_state=None,
        to_state=None,
        actor="u",
        now=NOW,
        business_date=date(2026, 3, 3),
    )
    session.commit()
    assert _verify(engine).ok and journal.chain(session, "loan", "C")[-1].chain_seq == 2


def test_verify_a_head_that_disagrees_with_its_chain_is_head_mismatch(session, engine):
    """docs/audit.md's `head_mismatch`: a head altered in place, and an entry appended to the
    tail outside the journal (linked and hashed right, the head left as it was)."""
    append_chain(session, "A", 3)
    ids_b = append_chain(session, "B", 2)
    bypass_append_only(session)
    session.exec(text("UPDATE journal_heads SET hash = :h WHERE aggregate_id = 'A'").bindparams(
        h="f" * 64))  # fmt: skip
    last = session.get(journal.JournalEntry, ids_b[1])
    extra = journal.JournalEntry(**{**last.model_dump(), "id": None, "chain_seq": 3,
                                    "event": "e2", "prev_hash": last.hash})  # fmt: skip
    extra.hash = journal.entry_hash(extra)
    session.add(extra)
    session.commit()
    found = [(b.aggregate_id, b.chain_seq, b.kind) for b in _verify(engine).breaks]
    assert found == [("A", 3, "head_mismatch"), ("B", 3, "head_mismatch")]
