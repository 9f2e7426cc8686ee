"""Tamper evidence that does not trust the database: signed anchors, their external log, the
position of each tampered entry, unanchored entries, keys and their rotation."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session

from audit import anchor_keys, anchor_log, journal
from audit.verify import verify_journal
from core.settings import get_settings
from tests.audit.chains import DAY, NOW, append_chain
from tests.tamper import bypass_append_only


def _anchor(session: Session) -> journal.DailyAnchor:
    anchor = journal.anchor_day(session, DAY, now=NOW)
    session.commit()
    return anchor


def _kinds(engine) -> list[tuple[str, str, int | None]]:
    return [(b.kind, b.aggregate_id, b.chain_seq) for b in verify_journal(engine).breaks]


def _rehash_chain(session: Session, agg: str) -> None:
    """What a database owner can do: re-link and re-hash a whole chain and rewrite its head."""
    prev = journal.GENESIS
    entry = None
    for entry in journal.chain(session, "loan", agg):
        entry.prev_hash = prev
        entry.hash = prev = journal.entry_hash(entry)
        session.add(entry)
    assert entry is not None
    session.exec(
        text(
            "UPDATE journal_heads SET chain_seq = :s, hash = :h WHERE aggregate_id = :a"
        ).bindparams(s=entry.chain_seq, h=entry.hash, a=agg)
    )


def _rewrite_db_anchors(session: Session) -> None:
    """...and recompute every anchor row in the database from the rewritten journal."""
    prev = None
    for a in session.exec(
        text("SELECT id, first_entry_id, last_entry_id FROM journal_anchors ORDER BY id")
    ).all():
        digest = journal.window_digest(prev, journal.heads_between(session, a[1], a[2]))
        session.exec(
            text(
                "UPDATE journal_anchors SET prev_digest = :p, digest = :d WHERE id = :i"
            ).bindparams(p=prev, d=digest, i=a[0])
        )
        prev = digest


def test_anchors_are_signed_and_logged_outside_the_database(session, engine):
    append_chain(session, "A", 2)
    anchor = _anchor(session)
    records = anchor_log.read()
    assert records == [anchor_log.record_of(anchor)]
    assert anchor.key_id == anchor_keys.signing_key().key_id
    assert anchor_log.trusted_signature(records[0]) is None  # type: ignore[arg-type]
    key = Path(get_settings().anchor_key_file)
    assert key.stat().st_mode & 0o077 == 0  # owner-only
    report = verify_journal(engine)
    assert report.ok and (report.signed_anchors, report.legacy_anchors) == (1, 0)
    assert report.key_ids == [anchor.key_id] and report.unanchored == 0


def test_edited_entry_named_by_position(session, engine):
    ids = append_chain(session, "A", 3)
    _anchor(session)
    bypass_append_only(session)
    session.exec(text("UPDATE journal SET reason = 'edited' WHERE id = :i").bindparams(i=ids[1]))
    session.commit()
    assert _kinds(engine) == [("altered", "A", 2)]


def test_deleted_entry_named_by_position(session, engine):
    ids = append_chain(session, "A", 3)
    _anchor(session)
    bypass_append_only(session)
    session.exec(text("DELETE FROM journal WHERE id = :i").bindparams(i=ids[1]))
    session.commit()
    assert _kinds(engine)[0] == ("missing", "A", 2)


def test_inserted_entry_breaks_the_link_after_it(session, engine):
    """A forged entry slipped in as #2: the old #2, renumbered #3, no longer links to it."""
    ids = append_chain(session, "A", 3)
    _anchor(session)
    bypass_append_only(session)
    for i in reversed(ids[1:]):
        session.exec(
            text("UPDATE journal SET chain_seq = chain_seq + 1 WHERE id = :i").bindparams(i=i)
        )
    first = session.get(journal.JournalEntry, ids[0])
    assert first is not None
    forged = journal.JournalEntry(
        **{
            **first.model_dump(exclude={"id"}),
            "chain_seq": 2,
            "event": "forged",
            "prev_hash": first.hash,
        }
    )
    forged.hash = journal.entry_hash(forged)
    session.add(forged)
    session.commit()
    kinds = _kinds(engine)
    assert ("relinked", "A", 3) in kinds and kinds[0][2] == 3


def test_reordered_entries_named_by_position(session, engine):
    ids = append_chain(session, "A", 3)
    _anchor(session)
    bypass_append_only(session)
    session.exec(text("UPDATE journal SET chain_seq = 99 WHERE id = :i").bindparams(i=ids[0]))
    session.exec(text("UPDATE journal SET chain_seq = 1 WHERE id = :i").bindparams(i=ids[1]))
    session.exec(text("UPDATE journal SET chain_seq = 2 WHERE id = :i").bindparams(i=ids[0]))
    session.commit()
    kinds = _kinds(engine)
    assert kinds[0] == ("relinked", "A", 1) and ("relinked", "A", 2) in kinds


def test_rewritten_chain_head_and_db_anchors_caught_by_the_signed_log(session, engine):
    append_chain(session, "A", 3)
    append_chain(session, "B", 2)
    _anchor(session)
    append_chain(session, "A", 1)
    _anchor(session)
    bypass_append_only(session)
    session.exec(
        text("UPDATE journal SET reason = 'rewritten' WHERE aggregate_id = 'A' AND chain_seq = 2")
    )
    session.commit()
    session.expire_all()
    bypass_append_only(session)  # SET LOCAL: each transaction asks again
    _rehash_chain(session, "A")
    _rewrite_db_anchors(session)
    session.commit()
    report = verify_journal(engine)
    # the database alone is consistent again: every chain, head and anchor row agrees...
    assert not [b for b in report.breaks if b.aggregate_type == "loan"]
    # ...but both anchors' windows no longer match their signed records, and the rows differ
    kinds = sorted((b.kind, b.aggregate_id) for b in report.breaks)
    assert kinds == [
        ("anchor_forged", "2026-03-02 #1"),
        ("anchor_forged", "2026-03-02 #2"),
        ("anchor_mismatch", "2026-03-02 #1"),
        ("anchor_mismatch", "2026-03-02 #2"),
    ]


def test_forged_anchor_row_reported(session, engine):
    append_chain(session, "A", 2)
    _anchor(session)
    append_chain(session, "A", 1)
    bypass_append_only(session)
    session.exec(
        text(
            "INSERT INTO journal_anchors (id, business_date, scheme, first_entry_id, last_entry_id,"
            " chains, prev_digest, digest, created_at) SELECT 2, business_date, scheme, 2, 3, 1,"
            " digest, digest, created_at FROM journal_anchors WHERE id = 1"
        )
    )
    session.commit()
    assert _kinds(engine) == [("anchor_forged", "2026-03-02 #2", None)]


def test_deleted_external_record_reported(session, engine):
    for agg in ("A", "B", "C"):
        append_chain(session, agg, 1)
        _anchor(session)
    path = Path(get_settings().anchor_log)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[2])
    kinds = _kinds(engine)
    assert ("log_broken", "2026-03-02 #3", None) in kinds
    assert ("anchor_forged", "2026-03-02 #2", None) in kinds


def test_altered_external_record_fails_its_signature(session, engine):
    append_chain(session, "A", 1)
    _anchor(session)
    path = Path(get_settings().anchor_log)
    record = json.loads(path.read_text())
    record["last_entry_id"] = 0
    path.write_text(json.dumps(record) + "\n")
    kinds = _kinds(engine)
    assert ("bad_signature", "2026-03-02 #1", None) in kinds


def test_unknown_signing_key_reported(session, engine):
    append_chain(session, "A", 1)
    _anchor(session)
    for trusted in Path(get_settings().anchor_trusted_keys_dir).glob("*.pem"):
        trusted.unlink()  # the key that signed is no longer trusted
    kinds = _kinds(engine)
    assert ("unknown_key", "2026-03-02 #1", None) in kinds


def test_rotated_key_old_anchors_still_verify(session, engine):
    append_chain(session, "A", 1)
    first = _anchor(session)
    old, new = anchor_keys.rotate()
    assert old == first.key_id and new != old
    append_chain(session, "B", 1)
    second = _anchor(session)
    assert second.key_id == new
    report = verify_journal(engine)
    assert report.ok, report.summary()
    assert report.signed_anchors == 2 and report.key_ids == sorted([old, new])


def test_unanchored_entries_reported_with_their_range(session, engine):
    append_chain(session, "A", 2)
    _anchor(session)
    late = append_chain(session, "B", 3)
    report = verify_journal(engine)
    assert report.ok  # not a break: not yet protected
    assert (report.unanchored, report.unanchored_first, report.unanchored_last) == (
        3,
        late[0],
        late[-1],
    )
    assert any(line.startswith("未锚定 unanchored: 3") for line in report.summary())


def test_commit_failed_after_log_write_row_restored_next_time(session, engine):
    append_chain(session, "A", 1)
    journal.anchor_day(session, DAY, now=NOW)
    session.rollback()  # the log has the record, the database does not
    # the signed record still protects entries already committed: the row alone is missing
    assert _kinds(engine) == [("anchor_missing", "2026-03-02 #1", None)]
    append_chain(session, "B", 1)
    _anchor(session)
    report = verify_journal(engine)
    assert report.ok and report.signed_anchors == 2, report.summary()


def test_missing_log_refuses_to_anchor(session, engine):
    append_chain(session, "A", 1)
    _anchor(session)
    Path(get_settings().anchor_log).unlink()
    append_chain(session, "B", 1)
    try:
        journal.anchor_day(session, DAY, now=NOW)
    except anchor_log.AnchorLogError as e:
        assert str(e).startswith("外部锚点日志为空或缺失")
    else:
        raise AssertionError("anchored with the external log gone")
    session.rollback()
    assert ("anchor_forged", "2026-03-02 #1", None) in _kinds(engine)
