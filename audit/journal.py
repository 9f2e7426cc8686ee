"""The append-only journal: one hash chain per aggregate plus a daily anchor over all chain heads.

Chains are per aggregate so appends never serialize on one global row (DESIGN decision 1).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    func,
    insert,
    text,
    tuple_,
    update,
)
from sqlmodel import Field, Session, SQLModel, col, select

from audit import projections
from core.db import is_postgres

GENESIS = "0" * 64


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal"
    __table_args__ = (UniqueConstraint("aggregate_type", "aggregate_id", "chain_seq"),)

    # Global order of appends; BIGINT on Postgres, INTEGER (rowid alias) on SQLite.
    id: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    )
    aggregate_type: str = Field(sa_column=Column(String(20), nullable=False))
    aggregate_id: str = Field(sa_column=Column(String(64), nullable=False))
    chain_seq: int = Field(sa_column=Column(Integer, nullable=False))
    machine: str = Field(sa_column=Column(String(40), nullable=False))
    event: str = Field(sa_column=Column(String(40), nullable=False))
    from_state: str | None = Field(default=None, sa_column=Column(String(40)))
    to_state: str | None = Field(default=None, sa_column=Column(String(40)))
    business_date: date = Field(sa_column=Column(Date, nullable=False, index=True))
    wall_time: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(sa_column=Column(String(100), nullable=False))
    on_behalf_of: str | None = Field(default=None, sa_column=Column(String(100)))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    form_kind: str | None = Field(default=None, sa_column=Column(String(40)))
    schema_hash: str | None = Field(default=None, sa_column=Column(String(64)))
    prev_hash: str = Field(sa_column=Column(String(64), nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class ChainHead(SQLModel, table=True):
    """The last entry of each chain; it also serializes appends to one chain (row lock / PK)."""

    __tablename__ = "journal_heads"

    aggregate_type: str = Field(sa_column=Column(String(20), primary_key=True))
    aggregate_id: str = Field(sa_column=Column(String(64), primary_key=True))
    chain_seq: int = Field(sa_column=Column(Integer, nullable=False))
    hash: str = Field(sa_column=Column(String(64), nullable=False))


class DailyAnchor(SQLModel, table=True):
    """An anchor over the journal up to an entry id, several a day as work is done.

    scheme "window": the digest covers the heads, within (first_entry_id, last_entry_id], of the
    chains written in that window, and the previous anchor's digest, so anchors form a chain of
    their own and each costs only what was written since the last one. scheme "full" (anchors
    written before windows existed): the digest over every chain head up to last_entry_id.
    """

    __tablename__ = "journal_anchors"

    id: int | None = Field(default=None, primary_key=True)
    business_date: date = Field(sa_column=Column(Date, nullable=False, index=True))
    scheme: str = Field(default="window", sa_column=Column(String(10), nullable=False))
    first_entry_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_entry_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    chains: int
    prev_digest: str | None = Field(default=None, sa_column=Column(String(64)))
    digest: str = Field(sa_column=Column(String(64), nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # Ed25519 over the anchor's statement (audit/anchor_log.py) by the key of that id; NULL for
    # anchors written before anchors were signed. The signed copy that counts is the external log.
    key_id: str | None = Field(default=None, sa_column=Column(String(64)))
    signature: str | None = Field(default=None, sa_column=Column(String(128)))


JOURNAL: Table = JournalEntry.__table__  # type: ignore[attr-defined]
HEADS: Table = ChainHead.__table__  # type: ignore[attr-defined]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def jsonable(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The payload exactly as the JSON column will give it back (so hashes re-verify)."""
    return json.loads(canonical_json(payload or {}))


def _utc_iso(moment: datetime) -> str:
    # SQLite returns naive datetimes; everything is written in UTC, so naive means UTC.
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


_HASHED = ("aggregate_type", "aggregate_id", "chain_seq", "machine", "event", "from_state",
           "to_state", "business_date", "wall_time", "actor", "on_behalf_of", "reason", "payload",
           "form_kind", "schema_hash", "prev_hash")  # fmt: skip


def row_hash(row: Mapping[str, Any]) -> str:
    """The entry's hash over every recorded field and the previous hash (canonical JSON)."""
    body = {name: row[name] for name in _HASHED}
    body["business_date"] = row["business_date"].isoformat()
    body["wall_time"] = _utc_iso(row["wall_time"])
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def entry_hash(entry: JournalEntry) -> str:
    return row_hash({name: getattr(entry, name) for name in _HASHED})


def append(
    session: Session,
    *,
    aggregate_type: str,
    aggregate_id: str,
    machine: str,
    event: str,
    from_state: str | None,
    to_state: str | None,
    actor: str,
    now: datetime,
    business_date: date,
    reason: str | None = None,
    payload: dict[str, Any] | None = None,
    on_behalf_of: str | None = None,
    form_kind: str | None = None,
    schema_hash: str | None = None,
) -> JournalEntry:
    """Append one entry to the aggregate's chain, inside the caller's transaction.

    Three prebuilt Core statements on the session's connection — the head locked, the entry
    inserted, the head moved (inserted for a new chain) — after flushing what the caller has
    pending (its version check fails here, as before). Every request that moves something pays
    this: the ORM's unit of work for two objects cost more than the statements. The entry is
    hashed by `row_hash`, as `append_many` does, so both write the same chain."""
    session.flush()
    conn = session.connection()
    head = conn.execute(_LOCK_HEAD, {"t": aggregate_type, "i": aggregate_id}).first()
    row: dict[str, Any] = {
        "aggregate_type": aggregate_type,
        "aggregate_id": aggregate_id,
        "chain_seq": (head.chain_seq + 1) if head else 1,
        "machine": machine,
        "event": event,
        "from_state": None if from_state is None else str(from_state),
        "to_state": None if to_state is None else str(to_state),
        "business_date": business_date,
        "wall_time": now.astimezone(UTC),
        "actor": actor,
        "on_behalf_of": on_behalf_of,
        "reason": reason,
        "payload": jsonable(payload),
        "form_kind": form_kind,
        "schema_hash": schema_hash,
        "prev_hash": head.hash if head else GENESIS,
    }
    row["hash"] = row_hash(row)
    entry_id = conn.execute(_INSERT_ENTRY, row).inserted_primary_key[0]  # type: ignore[index]
    moved = {"t": aggregate_type, "i": aggregate_id, "s": row["chain_seq"], "h": row["hash"]}
    conn.execute(_MOVE_HEAD if head else _NEW_HEAD, moved)
    entry = JournalEntry(id=entry_id, **row)
    projections.project(conn, [entry.model_dump()])
    return entry


# the statements `append` runs, built once (the whole chain stays as it was: see `row_hash`)
_LOCK_HEAD = (
    select(HEADS.c.chain_seq, HEADS.c.hash)
    .where(HEADS.c.aggregate_type == bindparam("t"), HEADS.c.aggregate_id == bindparam("i"))
    .with_for_update()
)
_INSERT_ENTRY = insert(JOURNAL)
_MOVE_HEAD = (
    update(HEADS)
    .where(HEADS.c.aggregate_type == bindparam("t"), HEADS.c.aggregate_id == bindparam("i"))
    .values(chain_seq=bindparam("s"), hash=bindparam("h"))
)
_NEW_HEAD = insert(HEADS).values(
    aggregate_type=bindparam("t"), aggregate_id=bindparam("i"), chain_seq=bindparam("s"),
    hash=bindparam("h"),
)  # fmt: skip


def chain(
    session: Session, aggregate_type: str, aggregate_id: str, as_of: date | None = None
) -> list[JournalEntry]:
    query = select(JournalEntry).where(
        JournalEntry.aggregate_type == aggregate_type, JournalEntry.aggregate_id == aggregate_id
    )
    if as_of is not None:
        query = query.where(JournalEntry.business_date <= as_of)
    return list(session.exec(query.order_by(JournalEntry.chain_seq)).all())


def heads_upto(session: Session, last_entry_id: int) -> list[tuple[str, str, int, str]]:
    """(type, id, seq, hash) of every chain's last entry among entries with id ≤ last_entry_id
    (anchors of the "full" scheme)."""
    return heads_between(session, 0, last_entry_id)


def anchor_digest(heads: list[tuple[str, str, int, str]]) -> str:
    lines = "\n".join(f"{t}:{i}:{s}:{h}" for t, i, s, h in sorted(heads))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def heads_between(session: Session, after_id: int, upto_id: int) -> list[tuple[str, str, int, str]]:
    """(type, id, seq, hash) of the last entry of each chain written in (after_id, upto_id]: a
    range of the journal's primary key, so it reads only that window."""
    window = (JournalEntry.id > after_id) & (JournalEntry.id <= upto_id)  # type: ignore[operator]
    last = (
        select(
            JournalEntry.aggregate_type,
            JournalEntry.aggregate_id,
            func.max(JournalEntry.chain_seq).label("seq"),
        )  # fmt: skip
        .where(window)
        .group_by(JournalEntry.aggregate_type, JournalEntry.aggregate_id)
        .subquery()
    )
    rows = session.exec(
        select(
            JournalEntry.aggregate_type,
            JournalEntry.aggregate_id,
            JournalEntry.chain_seq,
            JournalEntry.hash,
        )  # fmt: skip
        .join(
            last,
            (JournalEntry.aggregate_type == last.c.aggregate_type)
            & (JournalEntry.aggregate_id == last.c.aggregate_id)
            & (JournalEntry.chain_seq == last.c.seq),
        )
        .where(window)
    ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def window_digest(prev_digest: str | None, heads: list[tuple[str, str, int, str]]) -> str:
    lines = "\n".join(
        [prev_digest or GENESIS, *(f"{t}:{i}:{s}:{h}" for t, i, s, h in sorted(heads))]
    )
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def last_anchor(session: Session) -> DailyAnchor | None:
    return session.exec(select(DailyAnchor).order_by(col(DailyAnchor.id).desc()).limit(1)).first()


def anchor_day(session: Session, business_date: date, *, now: datetime) -> DailyAnchor:
    """Anchor everything written since the last anchor (any number a day: each covers all
    entries up to it). Nothing new since the last anchor: that one is returned, unchanged.

    The anchor is signed and, once its row is flushed, appended to the external log before the
    caller commits (audit/anchor_log.py says what happens when the two disagree)."""
    from audit import anchor_log

    if is_postgres(session):
        # Wait out appenders still in flight: an uncommitted entry with an id below max(id)
        # would otherwise commit later and make an intact journal look tampered. Held only
        # while the entries since the last anchor are read (an index range, not the journal).
        session.execute(text("LOCK TABLE journal IN SHARE MODE"))
    in_db = last_anchor(session)
    previous = anchor_log.reconcile(in_db)
    if previous is not None and previous is not in_db:  # its commit had failed: restore it
        session.add(previous)
        session.flush()
    after = previous.last_entry_id if previous else 0
    last_id = session.exec(select(func.max(JournalEntry.id))).one() or 0
    if previous is not None and last_id <= after:
        return previous
    heads = heads_between(session, after, last_id)
    prev_digest = previous.digest if previous else None
    anchor = DailyAnchor(
        id=(previous.id or 0) + 1 if previous else 1,  # explicit: two anchorers clash on the PK
        business_date=business_date,
        first_entry_id=after,
        last_entry_id=last_id,
        chains=len(heads),
        prev_digest=prev_digest,
        digest=window_digest(prev_digest, heads),
        created_at=now.astimezone(UTC),
    )
    record = anchor_log.sign(anchor)
    session.add(anchor)
    session.flush()
    anchor_log.append(record)
    return anchor


def append_many(
    session: Session, items: list[dict[str, Any]], *, now: datetime, business_date: date
) -> int:
    """Append many entries in a few statements (batch work: the daily sweep, bulk task opening).

    Each item has the keyword arguments of `append` except now/business_date. Chains are locked
    (Postgres) and extended in item order; the hashes are exactly those `append` would write.
    """
    if not items:
        return 0
    keys = sorted({(i["aggregate_type"], i["aggregate_id"]) for i in items})
    heads: dict[tuple[str, str], tuple[int, str]] = {}
    for start in range(0, len(keys), 1000):
        part = keys[start : start + 1000]
        query = (
            select(ChainHead)
            .where(tuple_(col(ChainHead.aggregate_type), col(ChainHead.aggregate_id)).in_(part))
            .with_for_update()
        )
        for head in session.exec(query):
            heads[(head.aggregate_type, head.aggregate_id)] = (head.chain_seq, head.hash)
    known = set(heads)
    rows: list[dict[str, Any]] = []
    wall = now.astimezone(UTC)
    for item in items:
        key = (item["aggregate_type"], item["aggregate_id"])
        seq, prev = heads.get(key, (0, GENESIS))
        row: dict[str, Any] = {  # plain rows: no ORM object per entry in batch work
            "aggregate_type": key[0],
            "aggregate_id": key[1],
            "chain_seq": seq + 1,
            "machine": item["machine"],
            "event": item["event"],
            "from_state": None if item.get("from_state") is None else str(item["from_state"]),
            "to_state": None if item.get("to_state") is None else str(item["to_state"]),
            "business_date": business_date,
            "wall_time": wall,
            "actor": item["actor"],
            "on_behalf_of": item.get("on_behalf_of"),
            "reason": item.get("reason"),
            "payload": jsonable(item.get("payload")),
            "form_kind": item.get("form_kind"),
            "schema_hash": item.get("schema_hash"),
            "prev_hash": prev,
        }
        row["hash"] = row_hash(row)
        heads[key] = (row["chain_seq"], row["hash"])
        rows.append(row)
    conn = session.connection()  # Core executemany: no ORM bulk semantics, one round trip each
    conn.execute(insert(JOURNAL), rows)
    new = [
        {"aggregate_type": t, "aggregate_id": i, "chain_seq": s, "hash": h}
        for (t, i), (s, h) in heads.items()
        if (t, i) not in known
    ]
    if new:
        conn.execute(insert(HEADS), new)
    changed = [
        {"t": t, "i": i, "s": s, "h": h} for (t, i), (s, h) in heads.items() if (t, i) in known
    ]
    if changed:
        conn.execute(
            update(HEADS)
            .where(HEADS.c.aggregate_type == bindparam("t"), HEADS.c.aggregate_id == bindparam("i"))
            .values(chain_seq=bindparam("s"), hash=bindparam("h")),
            changed,
        )
    projections.project(conn, rows)
    return len(rows)
