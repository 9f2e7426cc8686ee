"""One pass over the journal in id order: every link and hash, every head, and the digest of
every anchor window, computed as the rows stream by (cost linear in the journal, one query; a
chain whose ids do not follow its sequence costs one more, for that chain).

Rows are read as plain driver tuples (no ORM objects, no type processing). Each entry's hash is
first recomputed with orjson; only when that differs from the stored hash is it recomputed by the
definition (`audit.journal.row_hash`, stdlib canonical JSON), so the definition stays the one
every existing entry was written with and a mismatch of encodings is never a false finding.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.engine import Connection

from audit.journal import GENESIS, row_hash, window_digest

COLS = ("id", "aggregate_type", "aggregate_id", "chain_seq", "machine", "event", "from_state",
        "to_state", "business_date", "wall_time", "actor", "on_behalf_of", "reason", "payload",
        "form_kind", "schema_hash", "prev_hash", "hash")  # fmt: skip
# On Postgres the dates and the payload come as the text SQLite stores (the wall time in UTC, in
# SQLite's format): the driver builds no date, datetime or dict a row, and the hash takes its
# fast path on both databases.
_AS_TEXT = {
    "business_date": "to_char(business_date, 'YYYY-MM-DD')",
    "wall_time": "to_char(wall_time AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
    "payload": "payload::text",
}


def select_sql(dialect: str) -> str:
    """The pass's columns (COLS, in order) from the journal, as that database gives them best."""
    pg = dialect == "postgresql"
    return f"SELECT {', '.join(_AS_TEXT.get(c, c) if pg else c for c in COLS)} FROM journal"


def rows_sql(dialect: str) -> str:
    return f"{select_sql(dialect)} ORDER BY id"


_loads, _dumps = orjson.loads, orjson.dumps
_sha = hashlib.sha256


@dataclass(frozen=True)
class Finding:
    aggregate_type: str
    aggregate_id: str
    chain_seq: int | None
    entry_id: int | None
    kind: str  # altered | missing | relinked | anchor_mismatch | anchor_missing | ...
    detail: str

    def describe(self) -> str:
        where = f"{self.aggregate_type}/{self.aggregate_id}"
        if self.chain_seq is not None:
            where += f" entry #{self.chain_seq}"
        if self.entry_id is not None:
            where += f" (journal id {self.entry_id})"
        return f"{where}: {self.kind} — {self.detail}"


@dataclass
class Window:
    """An anchor's window (first, last] of journal ids and the digest it links to."""

    first: int
    last: int
    prev_digest: str | None
    digest: str = ""


@dataclass
class PassResult:
    chains: int = 0
    entries: int = 0
    findings: list[Finding] = field(default_factory=list)
    unanchored: int = 0
    unanchored_first: int | None = None
    unanchored_last: int | None = None


def _wall(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return str(aware.astimezone(UTC).isoformat(timespec="microseconds"))


def defined_hash(r: tuple[Any, ...]) -> str:
    """The entry's hash by the definition (audit.journal.row_hash) from a raw row."""
    row = dict(zip(COLS, r, strict=True))
    if isinstance(row["business_date"], str):
        row["business_date"] = date.fromisoformat(row["business_date"])
    if isinstance(row["wall_time"], str):
        row["wall_time"] = datetime.fromisoformat(row["wall_time"])
    if isinstance(row["payload"], str):
        row["payload"] = json.loads(row["payload"])
    return row_hash(row)


def hash_matches(r: tuple[Any, ...]) -> bool:
    """Whether the entry's stored hash is its content's. First by orjson, equal to `row_hash`
    for every ordinary entry (one call a row: this runs a million times a pass). The body is
    built in sorted key order and dumped as is: payloads are written with sorted keys
    (`audit.journal.jsonable`), so sorting again would only cost time; one stored otherwise
    misses here and is hashed by the definition."""
    try:
        wall = r[9]
        body = {
            "actor": r[10],
            "aggregate_id": r[2],
            "aggregate_type": r[1],
            "business_date": r[8],  # text on both databases (select_sql)
            "chain_seq": r[3],
            "event": r[5],
            "form_kind": r[14],
            "from_state": r[6],
            "machine": r[4],
            "on_behalf_of": r[11],
            "payload": _loads(r[13]),
            "prev_hash": r[16],
            "reason": r[12],
            "schema_hash": r[15],
            "to_state": r[7],
            "wall_time": f"{wall[:10]}T{wall[11:]}+00:00"
            if isinstance(wall, str) and len(wall) == 26 and wall[10] == " "  # UTC
            else _wall(wall),
        }
        if _sha(_dumps(body)).hexdigest() == r[17]:
            return True
    except (TypeError, ValueError, orjson.JSONDecodeError):
        pass
    return defined_hash(r) == r[17]


def rows(conn: Connection, page: int = 20_000) -> Iterator[list[Any]]:
    """The journal in id order, in pages of driver tuples, on the connection's own transaction
    (a server-side cursor on Postgres: memory stays one page whatever the journal holds). Id order
    is the order the table was appended in (SQLite's rowid; Postgres's primary key over pages in
    order): no sort and no jump through the chain index a row, which reading in chain order cost."""
    raw: Any = conn.connection.driver_connection
    conn.exec_driver_sql("SELECT 1")  # the transaction (and its snapshot) has begun
    cursor = (
        raw.cursor(name="postloan_verify") if conn.dialect.name == "postgresql" else raw.cursor()
    )
    try:
        cursor.execute(rows_sql(conn.dialect.name))
        while batch := cursor.fetchmany(page):
            yield batch
    finally:
        cursor.close()


def chain_rows(conn: Connection, aggregate_type: str, aggregate_id: str) -> list[Any]:
    """One chain in chain order (for a chain whose ids do not follow its sequence)."""
    sql = f"{select_sql(conn.dialect.name)} WHERE aggregate_type = :t AND aggregate_id = :i"
    found = conn.execute(
        text(f"{sql} ORDER BY chain_seq"), {"t": aggregate_type, "i": aggregate_id}
    )
    return [tuple(r) for r in found]


def _judge(r: tuple[Any, ...], last_seq: int, prev: str) -> Finding:
    """What is wrong with an entry that does not simply extend its chain (last_seq, prev)."""
    t, i, seq, eid, expected = r[1], r[2], r[3], r[0], last_seq + 1
    if seq != expected:
        return Finding(t, i, expected, None, "missing",
                       f"第 {expected} 条记录缺失 (entry #{expected} is missing; next is "
                       f"#{seq})")  # fmt: skip
    if r[16] != prev:
        return Finding(t, i, seq, eid, "relinked",
                       "前一哈希与上一条记录不符 (prev_hash does not match the previous "
                       "entry's hash)")  # fmt: skip
    return Finding(t, i, seq, eid, "altered",
                   "内容与其哈希不符 (the stored content no longer matches its hash)")  # fmt: skip


def run(
    pages: Iterator[list[Any]],
    heads: dict[tuple[str, str], tuple[int, str]],
    windows: list[Window],
    anchored_upto: int,
    reread: Callable[[str, str], list[Any]],
    check: Callable[[tuple[Any, ...]], bool] = hash_matches,
) -> PassResult:
    """Check every chain; fill each window's digest (windows: disjoint, in id order).

    Rows come in id order, each chain's state (last seq, last hash) kept by key, and findings
    are reported chain by chain in key order, as a pass in chain order would. A chain whose ids
    do not follow its sequence (only a rewrite does that) is read again in chain order by
    `reread` and judged from those rows. A window's heads are the highest seq of each chain among
    its ids, whatever order they came in, digested when the pass leaves the window.
    """
    out = PassResult()
    state: dict[tuple[str, str], tuple[int, str]] = {}
    found: dict[tuple[str, str], list[Finding]] = {}
    disordered: set[tuple[str, str]] = set()
    start = (0, GENESIS)
    k, in_w = 0, {}  # the window the pass is in (or next reaches), and its chains' heads
    lo, hi = (windows[0].first, windows[0].last) if windows else (anchored_upto, anchored_upto)
    for page in pages:
        out.entries += len(page)
        for r in page:
            eid, seq, key = r[0], r[3], (r[1], r[2])
            last_seq, prev = state.get(key, start)
            if seq > last_seq:  # the state is the chain's highest seq so far
                if not (seq == last_seq + 1 and r[16] == prev and check(r)):
                    found.setdefault(key, []).append(_judge(r, last_seq, prev))
                head = state[key] = (seq, r[17])
            else:
                disordered.add(key)
                head = None
            if eid > hi:  # past the window (once a window), or unanchored
                if eid > anchored_upto:
                    out.unanchored += 1
                    if out.unanchored_first is None:
                        out.unanchored_first = eid
                    out.unanchored_last = eid
                    continue
                while k < len(windows) and eid > windows[k].last:
                    _digest(windows[k], in_w)
                    k, in_w = k + 1, {}
                lo, hi = (
                    (windows[k].first, windows[k].last)
                    if k < len(windows)
                    else (anchored_upto,) * 2
                )
            if eid > lo:  # in window k: its heads are each chain's highest seq in it
                if head is not None:
                    in_w[key] = head
                elif (held := in_w.get(key)) is None or seq > held[0]:
                    in_w[key] = (seq, r[17])
    for window in windows[k:]:
        _digest(window, in_w)
        in_w = {}
    for key in sorted(disordered):
        found[key], state[key] = _rejudge(reread(*key), check)
    for key, last in state.items():
        head = heads.pop(key, None)
        if head is None or head != last:
            found.setdefault(key, []).append(
                Finding(key[0], key[1], last[0] + 1, None, "missing",
                        "链在记录的链头之前结束，其后的记录被删除 (the chain ends before its "
                        f"recorded head #{head[0] if head else '?'}: entries after it were "
                        "deleted)"))  # fmt: skip
    out.chains = len(state)
    out.findings = [f for key in sorted(found) for f in found[key]]
    for t, i in sorted(heads):
        out.findings.append(Finding(t, i, 1, None, "missing",
                            "链头存在但其全部记录都已消失 (a chain head exists but all its "
                            "entries are gone)"))  # fmt: skip
    return out


def _rejudge(chain: list[Any], check: Callable[..., bool]) -> tuple[list[Finding], tuple[int, str]]:
    """A chain's findings and last (seq, hash) from its rows in chain order."""
    findings, last = [], (0, GENESIS)
    for r in chain:
        if not (r[3] == last[0] + 1 and r[16] == last[1] and check(r)):
            findings.append(_judge(r, *last))
        last = (r[3], r[17])
    return findings, last


def _digest(window: Window, heads: dict[tuple[str, str], tuple[int, str]]) -> None:
    """The window's digest. Each type is made one object (the driver gives a new string a row):
    sorting the heads then compares equal types by identity, a third of the time it took."""
    one: dict[str, str] = {}
    heads_in = [(one.setdefault(t, t), i, *h) for (t, i), h in heads.items()]
    window.digest = window_digest(window.prev_digest, heads_in)
