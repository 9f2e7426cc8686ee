"""Verification of the journal: every chain's links and hashes, its head, and the daily anchors.

The report names the first broken entry (altered, deleted, inserted or re-ordered).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from audit.journal import (
    GENESIS,
    ChainHead,
    DailyAnchor,
    JournalEntry,
    anchor_digest,
    entry_hash,
    heads_between,
    heads_upto,
    window_digest,
)


@dataclass(frozen=True)
class Break:
    aggregate_type: str
    aggregate_id: str
    chain_seq: int | None
    entry_id: int | None
    kind: str  # altered | missing | relinked | head_mismatch | anchor_mismatch
    detail: str

    def describe(self) -> str:
        where = f"{self.aggregate_type}/{self.aggregate_id}"
        if self.chain_seq is not None:
            where += f" entry #{self.chain_seq}"
        if self.entry_id is not None:
            where += f" (journal id {self.entry_id})"
        return f"{where}: {self.kind} — {self.detail}"


@dataclass
class VerifyReport:
    chains: int = 0
    entries: int = 0
    anchors: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Break | None:
        return self.breaks[0] if self.breaks else None


def _entries(session: Session, batch: int = 5000) -> Iterator[JournalEntry]:
    """Stream the journal chain by chain, in keyset pages (a million entries fit in memory-less)."""
    last: tuple[str, str, int] | None = None
    while True:
        query = select(JournalEntry).order_by(
            JournalEntry.aggregate_type, JournalEntry.aggregate_id, JournalEntry.chain_seq
        )
        if last is not None:
            t, i, s = last
            query = query.where(
                (JournalEntry.aggregate_type > t)
                | ((JournalEntry.aggregate_type == t) & (JournalEntry.aggregate_id > i))
                | (
                    (JournalEntry.aggregate_type == t)
                    & (JournalEntry.aggregate_id == i)
                    & (JournalEntry.chain_seq > s)
                )
            )
        rows = list(session.exec(query.limit(batch)).all())
        if not rows:
            return
        yield from rows
        tail = rows[-1]
        last = (tail.aggregate_type, tail.aggregate_id, tail.chain_seq)
        session.expunge_all()


def verify_journal(session: Session) -> VerifyReport:
    """Check everything; run it in a session of its own (it expunges as it streams)."""
    report = VerifyReport()
    heads = {(h.aggregate_type, h.aggregate_id): h for h in session.exec(select(ChainHead)).all()}
    seen: set[tuple[str, str]] = set()
    key: tuple[str, str] | None = None
    expected_seq, prev_hash = 1, GENESIS
    last_entry: JournalEntry | None = None

    def close_chain() -> None:
        if key is None or last_entry is None:
            return
        head = heads.get(key)
        if head is None or head.chain_seq != last_entry.chain_seq or head.hash != last_entry.hash:
            report.breaks.append(
                Break(
                    key[0],
                    key[1],
                    last_entry.chain_seq + 1,
                    None,
                    "missing",
                    "the chain ends before its recorded head"
                    f" (head #{head.chain_seq if head else '?'}): entries after it were deleted",
                )
            )

    for entry in _entries(session):
        report.entries += 1
        this = (entry.aggregate_type, entry.aggregate_id)
        if this != key:
            close_chain()
            key, expected_seq, prev_hash = this, 1, GENESIS
            seen.add(this)
            report.chains += 1
        if entry.chain_seq != expected_seq:
            report.breaks.append(
                Break(
                    *this,
                    expected_seq,
                    None,
                    "missing",
                    f"entry #{expected_seq} is missing (next is #{entry.chain_seq})",
                )
            )
        elif entry.prev_hash != prev_hash:
            report.breaks.append(
                Break(
                    *this,
                    entry.chain_seq,
                    entry.id,
                    "relinked",
                    "prev_hash does not match the previous entry's hash",
                )
            )
        elif entry_hash(entry) != entry.hash:
            report.breaks.append(
                Break(
                    *this,
                    entry.chain_seq,
                    entry.id,
                    "altered",
                    "the stored content no longer matches its hash",
                )
            )
        expected_seq, prev_hash, last_entry = entry.chain_seq + 1, entry.hash, entry
    close_chain()
    for orphan in sorted(set(heads) - seen):
        report.breaks.append(
            Break(*orphan, 1, None, "missing", "a chain head exists but all its entries are gone")
        )

    _verify_anchors(session, report)
    report.breaks.sort(key=lambda b: b.kind == "anchor_mismatch")  # stable: chain order first
    return report


def _verify_anchors(session: Session, report: VerifyReport) -> None:
    """Each anchor against the journal it covers: a window anchor reads only its own window (so
    the cost over all anchors is one pass over the journal), links to the previous anchor's
    digest and starts where it ended; a "full" anchor (written before windows) re-reads every
    head up to it."""
    previous: DailyAnchor | None = None
    for anchor in session.exec(select(DailyAnchor).order_by(col(DailyAnchor.id))).all():
        report.anchors += 1
        label = f"{anchor.business_date.isoformat()} #{anchor.id}"
        if anchor.scheme == "full":
            digest = anchor_digest(heads_upto(session, anchor.last_entry_id))
        else:
            after = previous.last_entry_id if previous else 0
            prev_digest = previous.digest if previous else None
            if anchor.first_entry_id != after or anchor.prev_digest != prev_digest:
                report.breaks.append(
                    _anchor_break(
                        label,
                        "the anchor does not continue the previous one (an "
                        "anchor was removed or altered)",
                    )  # fmt: skip
                )
            heads = heads_between(session, anchor.first_entry_id, anchor.last_entry_id)
            digest = window_digest(anchor.prev_digest, heads)
        if digest != anchor.digest:
            report.breaks.append(_anchor_break(label, "the chain heads no longer match the anchor"))
        previous = anchor


def _anchor_break(label: str, message: str) -> Break:
    return Break("anchor", label, None, None, "anchor_mismatch", message)
