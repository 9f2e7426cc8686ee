"""Verification of the journal against anchors the database cannot forge.

One pass over the journal (audit/verify_pass.py) checks every chain's links, hashes and head and
recomputes the digest of every anchor window. The windows come from the external anchor log
(audit/anchor_log.py): its records are the authority, each checked against the trusted public
keys. So a chain rewritten together with its head and the database's anchors is still caught (its
window no longer matches the signed record), an anchor row forged, altered or deleted in the
database is reported, a record missing from the log breaks the log's own chain, and entries
written after the last anchor are reported as unanchored (not yet protected; `ok` stays true).
Anchors written before anchors were signed ("legacy") are checked as before, from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from audit import anchor_log
from audit.journal import DailyAnchor, anchor_digest, heads_between, heads_upto, window_digest
from audit.verify_pass import Finding, Window, rows, run

ANCHORS: Any = DailyAnchor.__table__  # type: ignore[attr-defined]
Break = Finding  # the name callers know


@dataclass
class VerifyReport:
    chains: int = 0
    entries: int = 0
    anchors: int = 0  # anchors verified: signed records of the log plus legacy ones
    signed_anchors: int = 0
    legacy_anchors: int = 0
    pending_anchors: int = 0  # log records newer than this check's snapshot of the database
    anchored_through: int = 0  # the last journal id covered by an anchor
    unanchored: int = 0
    unanchored_first: int | None = None
    unanchored_last: int | None = None
    key_ids: list[str] = field(default_factory=list)
    breaks: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> Finding | None:
        return self.breaks[0] if self.breaks else None

    def summary(self) -> list[str]:
        """The report for a person, Chinese first: what the CLI prints and the API returns."""
        head = "日志完整 journal intact" if self.ok else "日志被破坏 journal broken"
        lines = [
            f"{head}: {self.chains} 条链 chains, {self.entries} 条记录 entries, {self.anchors} 个"
            f"锚点 anchors ({self.signed_anchors} 个已签名 signed, {self.legacy_anchors} 个旧式"
            f"未签名 legacy unsigned)"
        ]
        if self.unanchored:
            lines.append(
                f"未锚定 unanchored: {self.unanchored} 条记录 entries (journal id "
                f"{self.unanchored_first}–{self.unanchored_last}) 尚无锚点，尚未受保护 (written "
                "after the last anchor: not yet protected; run `postloan audit anchor`)"
            )
        if self.pending_anchors:
            lines.append(
                f"待确认 pending: {self.pending_anchors} 个外部锚点晚于本次检查 (anchors "
                "written after this check began)"
            )
        lines += [b.describe() for b in self.breaks]
        return lines


def _anchor_label(a: dict[str, Any]) -> str:
    return f"{a.get('business_date')} #{a.get('id')}"


def _finding(a: dict[str, Any], kind: str, detail: str) -> Finding:
    return Finding("anchor", _anchor_label(a), None, None, kind, detail)


@contextmanager
def _snapshot(target: Session | Engine | Connection) -> Iterator[Connection]:
    """One consistent view: the caller's transaction (a session, a connection), or a
    repeatable-read one of our own (an engine: an intact journal never looks broken while
    others append)."""
    if not isinstance(target, Engine):
        yield target.connection() if isinstance(target, Session) else target
        return
    with target.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


def verify_journal(target: Session | Engine | Connection) -> VerifyReport:
    """Check everything. Given an engine, in a snapshot of its own (the API and CLI do so)."""
    report = VerifyReport()
    with _snapshot(target) as conn:
        db = [dict(r._mapping) for r in conn.execute(select(ANCHORS).order_by(ANCHORS.c.id))]
        max_id = conn.execute(text("SELECT max(id) FROM journal")).scalar() or 0
        records = anchor_log.read()
        windows, slow = _plan(db, records, max_id, report)
        heads = {
            (t, i): (s, h)
            for t, i, s, h in conn.exec_driver_sql(
                "SELECT aggregate_type, aggregate_id, chain_seq, hash FROM journal_heads"
            )
        }
        passed = run(rows(conn), heads, [w for _, w in windows], report.anchored_through)
        session = Session(bind=conn)
        if not passed.in_python_order:  # the database sorts ids otherwise: sort them here
            slow += windows
        else:
            for claim, window in windows:
                if window.digest != claim["digest"]:
                    report.breaks.append(_mismatch(claim))
        for claim, window in slow:
            if claim.get("scheme") == "full":
                digest = anchor_digest(heads_upto(session, window.last))
            else:
                heads_in = heads_between(session, window.first, window.last)
                digest = window_digest(window.prev_digest, heads_in)
            if digest != claim["digest"]:
                report.breaks.append(_mismatch(claim))
    report.chains, report.entries = passed.chains, passed.entries
    report.unanchored = passed.unanchored
    report.unanchored_first, report.unanchored_last = (
        passed.unanchored_first,
        passed.unanchored_last,
    )
    report.breaks = passed.findings + report.breaks  # chain order first, then the anchors
    return report


def _mismatch(claim: dict[str, Any]) -> Finding:
    signed = "签名锚点" if claim.get("signature") else "锚点"
    return _finding(
        claim,
        "anchor_mismatch",
        f"链头与{signed}不符，其窗口内的记录被改写 (the chain heads no longer match the "
        f"{'signed ' if claim.get('signature') else ''}anchor: entries of journal id "
        f"{claim['first_entry_id'] + 1}–{claim['last_entry_id']} were rewritten)",
    )


Plan = tuple[list[tuple[dict[str, Any], Window]], list[tuple[dict[str, Any], Window]]]


def _plan(
    db: list[dict[str, Any]], records: list[dict[str, Any] | str], max_id: int, report: VerifyReport
) -> Plan:
    """Which windows to check (disjoint ones in the pass, the rest by query), and every finding
    about the anchors themselves: the log's signatures and order, and the database's rows."""
    found = report.breaks.append
    trusted: list[dict[str, Any]] = []
    for n, rec in enumerate(records, 1):
        if isinstance(rec, str):
            found(Finding("anchor_log", f"line {n}", None, None, "log_broken",
                          "外部锚点日志有一行无法读取 (a line of the anchor log is not a "
                          "record)"))  # fmt: skip
            continue
        why = anchor_log.trusted_signature(rec)
        if why == "unknown_key":
            found(_finding(rec, why, f"由未受信任的密钥 {rec.get('key_id')} 签名 (signed by a key "
                           "that is not among the trusted public keys)"))  # fmt: skip
        elif why == "bad_signature":
            found(_finding(rec, why, "签名无效，记录被伪造或改动 (the signature does not verify: "
                           "the record was forged or altered)"))  # fmt: skip
        else:
            trusted.append(rec)
    by_id = {a["id"]: a for a in db}
    logged = {r["id"] for r in records if isinstance(r, dict)}
    first_logged = min(logged) if logged else None
    legacy = [
        a for a in db
        if a["signature"] is None and a["id"] not in logged
        and (first_logged is None or a["id"] < first_logged)
    ]  # fmt: skip
    fast: list[tuple[dict[str, Any], Window]] = []
    slow: list[tuple[dict[str, Any], Window]] = []
    base: dict[str, Any] | None = None
    for claim in [*legacy, *trusted]:  # one chain: the legacy anchors, then the signed records
        after = base["last_entry_id"] if base else 0
        prev = base["digest"] if base else None
        window = Window(claim["first_entry_id"], claim["last_entry_id"], claim["prev_digest"])
        continues = claim["first_entry_id"] == after and claim["prev_digest"] == prev
        if claim.get("scheme") != "full" and not continues:
            where = "外部日志中的记录" if claim.get("signature") else "锚点"
            found(_finding(claim, "log_broken" if claim.get("signature") else "anchor_mismatch",
                           f"{where}不接续上一个锚点 (the anchor does not continue the previous "
                           "one: an anchor was removed, inserted, reordered or altered)"))  # fmt: skip
        disjoint = claim.get("scheme") != "full" and claim["first_entry_id"] >= after
        pending = (
            claim.get("signature")
            and claim["id"] not in by_id
            and (claim["last_entry_id"] > max_id)
        )
        if pending:
            report.pending_anchors += 1
            continue
        (fast if disjoint and (not fast or fast[-1][1].last <= window.first) else slow).append(
            (claim, window)
        )
        base = claim
        report.anchored_through = max(report.anchored_through, claim["last_entry_id"])
    report.legacy_anchors = len(legacy)
    report.signed_anchors = len(trusted) - report.pending_anchors
    report.anchors = report.legacy_anchors + report.signed_anchors
    report.key_ids = sorted({r["key_id"] for r in trusted})
    _compare_rows(db, trusted, {a["id"] for a in legacy}, max_id, found)
    return fast, slow


def _compare_rows(
    db: list[dict[str, Any]],
    trusted: list[dict[str, Any]],
    legacy: set[int],
    max_id: int,
    found: Callable[[Finding], None],
) -> None:
    """The database's anchor rows against the signed records: each record has its row, equal in
    every signed field, and every row (but the legacy ones) has its record."""
    by_id = {a["id"]: a for a in db}
    for rec in trusted:
        row = by_id.get(rec["id"])
        if row is None:
            if rec["last_entry_id"] <= max_id:
                found(_finding(rec, "anchor_missing",
                               "数据库中缺少此签名锚点：其行被删除或提交失败，外部记录仍保护其窗口 "
                               "(the database lacks this signed anchor: its row was deleted or "
                               "its commit failed; the external record still protects its "
                               "window)"))  # fmt: skip
        elif anchor_log.record_of(_anchor(row)) != rec:
            found(_finding(row, "anchor_forged",
                           "数据库中的锚点与外部签名记录不符 (the database's anchor differs from "
                           "its signed external record)"))  # fmt: skip
    signed_ids = {r["id"] for r in trusted}
    for row in db:
        if row["id"] not in signed_ids and row["id"] not in legacy:
            found(_finding(row, "anchor_forged",
                           "数据库中的锚点在外部日志中没有受信任的签名记录 (an anchor in the "
                           "database with no trusted signed record in the external log: forged, "
                           "or the log lost it)"))  # fmt: skip


def _anchor(row: dict[str, Any]) -> DailyAnchor:
    return DailyAnchor(**row)
