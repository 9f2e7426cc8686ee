"""One pass over the journal, chain by chain: every link and hash, every head, and the digest of
every anchor window, computed as the rows stream by (cost linear in the journal, one query).

Rows are read as plain driver tuples (no ORM objects, no type processing). Each entry's hash is
first recomputed with orjson; only when that differs from the stored hash is it recomputed by the
definition (`audit.journal.row_hash`, stdlib canonical JSON), so the definition stays the one
every existing entry was written with and a mismatch of encodings is never a false finding.
"""

from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from audit.journal import GENESIS, row_hash

COLS = ("id", "aggregate_type", "aggregate_id", "chain_seq", "machine", "event", "from_state",
        "to_state", "business_date", "wall_time", "actor", "on_behalf_of", "reason", "payload",
        "form_kind", "schema_hash", "prev_hash", "hash")  # fmt: skip
_loads, _dumps = orjson.loads, orjson.dumps
_sha = hashlib.sha256


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
    return f"{select_sql(dialect)} ORDER BY aggregate_type, aggregate_id, chain_seq"


@dataclass(frozen=True)
class Finding:
    aggregate_type: str
    aggregate_id: str
    chain_seq: int | None
    entry_id: int | None
    kind: (
        str  # altered | missing | relinked | head_mismatch | anchor_mismatch | anchor_missing | ...
    )
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
    in_python_order: bool = True  # False: window digests must be recomputed by sorting


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
    """The journal in chain order, in pages of driver tuples, on the connection's own transaction
    (a server-side cursor on Postgres: memory stays one page whatever the journal holds)."""
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


def run(
    pages: Iterator[list[Any]],
    heads: dict[tuple[str, str], tuple[int, str]],
    windows: list[Window],
    anchored_upto: int,
    check: Callable[[tuple[Any, ...]], bool] = hash_matches,
) -> PassResult:
    """Check every chain; fill each window's digest (windows: disjoint, in id order)."""
    out = PassResult()
    found = out.findings.append
    ends = [w.last for w in windows]
    hashers = [_sha((w.prev_digest or GENESIS).encode()) for w in windows]
    start = windows[0].first if windows else 0
    cur_t: str | None = None
    cur_i: str | None = None
    expected, prev, last_seq, last_hash = 1, GENESIS, 0, ""
    chain_w: dict[int, tuple[int, str]] = {}
    lo, hi, w = 0, -1, -1  # ids in (lo, hi] belong to window w (-1: none)

    def close() -> None:
        if cur_t is None or cur_i is None:
            return
        head = heads.pop((cur_t, cur_i), None)
        if head is not None and head[0] > last_seq:
            found(Finding(cur_t, cur_i, last_seq + 1, None, "missing",
                          "链在记录的链头之前结束，其后的记录被删除 (the chain ends before its "
                          f"recorded head #{head[0]}: entries after it were deleted)"))  # fmt: skip
        elif head != (last_seq, last_hash):
            recorded = f"#{head[0]}" if head else "none"
            found(Finding(cur_t, cur_i, last_seq, None, "head_mismatch",
                          f"链头 {recorded} 与链的最后一条 #{last_seq} 不符：链头被改动，或有记录"
                          f"绕过日志追加 (the recorded head, {recorded}, does not match the "
                          f"chain's last entry #{last_seq}: the head was altered, or entries were "
                          "appended outside the journal)"))  # fmt: skip
        for k, (s, h) in chain_w.items():
            hashers[k].update(f"\n{cur_t}:{cur_i}:{s}:{h}".encode())
        chain_w.clear()

    for page in pages:
        for r in page:
            out.entries += 1
            eid, t, i, seq = r[0], r[1], r[2], r[3]
            if i != cur_i or t != cur_t:
                close()
                if cur_t is not None and (t, i) < (cur_t, cur_i):
                    out.in_python_order = False
                cur_t, cur_i, expected, prev = t, i, 1, GENESIS
                out.chains += 1
            if seq != expected:
                found(Finding(t, i, expected, None, "missing",
                              f"第 {expected} 条记录缺失 (entry #{expected} is missing; next is "
                              f"#{seq})"))  # fmt: skip
            elif r[16] != prev:
                found(Finding(t, i, seq, eid, "relinked",
                              "前一哈希与上一条记录不符 (prev_hash does not match the previous "
                              "entry's hash)"))  # fmt: skip
            elif not check(r):
                found(Finding(t, i, seq, eid, "altered",
                              "内容与其哈希不符 (the stored content no longer matches its "
                              "hash)"))  # fmt: skip
            expected, prev, last_seq, last_hash = seq + 1, r[17], seq, r[17]
            if eid > anchored_upto:
                out.unanchored += 1
                if out.unanchored_first is None or eid < out.unanchored_first:
                    out.unanchored_first = eid
                if out.unanchored_last is None or eid > out.unanchored_last:
                    out.unanchored_last = eid
            elif not lo < eid <= hi:
                k = bisect_left(ends, eid)
                if eid <= start or k == len(ends) or eid <= windows[k].first:
                    lo, hi, w = eid - 1, eid, -1  # between or before windows: one id at a time
                else:
                    lo, hi, w = windows[k].first, windows[k].last, k
            if w >= 0 and lo < eid <= hi:
                chain_w[w] = (seq, r[17])
    close()
    for t, i in sorted(heads):
        found(Finding(t, i, 1, None, "missing",
                      "链头存在但其全部记录都已消失 (a chain head exists but all its entries are "
                      "gone)"))  # fmt: skip
    for window, hasher in zip(windows, hashers, strict=True):
        window.digest = hasher.hexdigest()
    return out
