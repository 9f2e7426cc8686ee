"""Signed anchors and their external, append-only copy (`POSTLOAN_ANCHOR_LOG`, JSON lines).

Each anchor's statement (every field of the anchor but its signature, canonical JSON) is signed
with the key of audit/anchor_keys.py. `anchor_day` flushes the anchor row (so a clash is found
before anything leaves the database), then appends the signed record to the log (O_APPEND,
fsync), then the caller commits. If that commit fails, the log holds a record the database lacks:
the next `anchor_day` restores the row from the record (it is a true, signed statement about
entries already committed) and continues the chain from it. The log is the authority:
verification checks its records, not the database's rows (docs/audit.md).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.anchor_keys import signature_valid, signing_key, trusted_keys
from core.errors import ConflictError
from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from audit.journal import DailyAnchor

VERSION = 1
STATEMENT = ("id", "business_date", "scheme", "first_entry_id", "last_entry_id", "chains",
             "prev_digest", "digest", "created_at", "key_id")  # fmt: skip


class AnchorLogError(ConflictError):
    code = "anchor_log_mismatch"


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def statement(anchor: DailyAnchor) -> dict[str, Any]:
    """What the signature covers: the anchor's fields, canonical types (dates as ISO text)."""
    return {
        "v": VERSION,
        "id": anchor.id,
        "business_date": anchor.business_date.isoformat(),
        "scheme": anchor.scheme,
        "first_entry_id": anchor.first_entry_id,
        "last_entry_id": anchor.last_entry_id,
        "chains": anchor.chains,
        "prev_digest": anchor.prev_digest,
        "digest": anchor.digest,
        "created_at": _iso(anchor.created_at),
        "key_id": anchor.key_id,
    }


def message(record: dict[str, Any]) -> bytes:
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(anchor: DailyAnchor, settings: Settings | None = None) -> dict[str, Any]:
    """Sign the anchor in place (key_id, signature); its external record."""
    key = signing_key(settings)
    anchor.key_id = key.key_id
    record = statement(anchor)
    anchor.signature = key.sign(message(record))
    return {**record, "signature": anchor.signature}


def record_of(anchor: DailyAnchor) -> dict[str, Any]:
    return {**statement(anchor), "signature": anchor.signature}


def append(record: dict[str, Any], settings: Settings | None = None) -> None:
    """Append one record to the external log and make it durable before returning."""
    path = Path((settings or get_settings()).anchor_log)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)  # one write of one line: O_APPEND keeps concurrent lines whole
        os.fsync(fd)
    finally:
        os.close(fd)


def read(settings: Settings | None = None) -> list[dict[str, Any] | str]:
    """Every record of the log in file order; a line that is not a JSON object is kept as its
    text (a finding for verification)."""
    path = Path((settings or get_settings()).anchor_log)
    if not path.exists():
        return []
    out: list[dict[str, Any] | str] = []
    with path.open("rb") as handle:
        for raw in handle:
            text = raw.decode("utf-8", errors="replace").strip()
            if not text:
                continue
            try:
                value = json.loads(text)
            except ValueError:
                out.append(text)
                continue
            out.append(value if isinstance(value, dict) else text)
    return out


def last_record(settings: Settings | None = None) -> dict[str, Any] | None:
    """The log's last record, read from its end (the log grows by a few lines a day)."""
    path = Path((settings or get_settings()).anchor_log)
    if not path.exists():
        return None
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        chunk = 4096
        while True:
            start = max(0, size - chunk)
            handle.seek(start)
            lines = handle.read().splitlines()
            complete = lines if start == 0 else lines[1:]
            filled = [line for line in complete if line.strip()]
            if filled or start == 0:
                break
            chunk *= 4
    if not filled:
        return None
    try:
        value = json.loads(filled[-1])
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise AnchorLogError(
            "外部锚点日志的最后一行无法读取，拒绝继续锚定 (the anchor log's last line is not a "
            "record; run `postloan audit verify`)",
            log=str(path),
        )
    return value


def trusted_signature(record: dict[str, Any], settings: Settings | None = None) -> str | None:
    """None when the record's signature verifies with a trusted key, else why not."""
    public = trusted_keys(settings).get(str(record.get("key_id")))
    if public is None:
        return "unknown_key"
    if not signature_valid(public, message(record), str(record.get("signature") or "")):
        return "bad_signature"
    return None


def reconcile(previous: DailyAnchor | None) -> DailyAnchor | None:
    """The anchor to continue from, given the database's last anchor and the log's last record.

    The log one ahead of the database and continuing it (a commit that failed after the record
    was written): the row is restored from the record. Any other disagreement refuses to anchor
    (it would fork the chain): someone must look (`postloan audit verify`)."""
    from audit.journal import DailyAnchor

    tail = last_record()
    if tail is None:
        if previous is not None and previous.signature is not None:
            raise AnchorLogError(
                "外部锚点日志为空或缺失，而数据库中已有签名锚点，拒绝锚定 (the external anchor "
                "log is empty or missing but the database holds signed anchors: check "
                "POSTLOAN_ANCHOR_LOG)",
                anchor_id=previous.id,
            )
        return previous
    if previous is not None and tail.get("id") == previous.id:
        if previous.signature is not None and tail == record_of(previous):
            return previous
    elif tail.get("id") == (previous.id if previous else 0) + 1 and (
        tail.get("prev_digest") == (previous.digest if previous else None)
        and tail.get("first_entry_id") == (previous.last_entry_id if previous else 0)
        and trusted_signature(tail) is None
    ):
        return DailyAnchor(
            id=tail["id"],
            business_date=date.fromisoformat(tail["business_date"]),
            scheme=tail["scheme"],
            first_entry_id=tail["first_entry_id"],
            last_entry_id=tail["last_entry_id"],
            chains=tail["chains"],
            prev_digest=tail["prev_digest"],
            digest=tail["digest"],
            created_at=datetime.fromisoformat(tail["created_at"]),
            key_id=tail["key_id"],
            signature=tail["signature"],
        )
    raise AnchorLogError(
        "外部锚点日志与数据库的锚点不一致，拒绝锚定 (the external anchor log and the database's "
        "anchors disagree; run `postloan audit verify`)",
        log_anchor=tail.get("id"),
        db_anchor=previous.id if previous else None,
    )
