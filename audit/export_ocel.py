"""The journal as an object-centric event log, OCEL 2.0 JSON: objects loan / task / approval
request / warning case / collection case, one event per journal entry, each related to the object
whose chain holds it and to that object's loan.

Streamed: events are written as they are read; objects (far fewer) are spooled to a temporary
file meanwhile and follow the events (JSON members are unordered); the types come last.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

from audit.event_log import LOAN, CaseObject, Event, ExportStats, LoanCase
from audit.export_xes import activity

STATIC = "1970-01-01T00:00:00Z"  # OCEL 2.0's time of an attribute that never changes
# journal aggregate type → OCEL object type; an unknown aggregate keeps its own name
OBJECT_TYPES = {
    LOAN: "loan",
    "task": "task",
    "approval": "approval_request",
    "warning": "warning_case",
    "collection": "collection_case",
}
EVENT_ATTRIBUTES = ("machine", "event", "from", "to", "business_date", "actor", "on_behalf_of",
                    "reason", "form_kind", "journal_id", "hash")  # fmt: skip


def object_type(aggregate_type: str) -> str:
    return OBJECT_TYPES.get(aggregate_type, aggregate_type)


def object_id(aggregate_type: str, aggregate_id: str) -> str:
    return f"{object_type(aggregate_type)}:{aggregate_id}"


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _object(obj: CaseObject) -> dict[str, Any]:
    return {
        "id": object_id(*obj.key),
        "type": object_type(obj.aggregate_type),
        "attributes": [
            {"name": k, "time": STATIC, "value": "" if v is None else str(v)}
            for k, v in obj.attributes.items()
        ],
        "relationships": [
            {"objectId": object_id(*other), "qualifier": object_type(other[0])}
            for other in obj.related
        ],
    }


def _event(e: Event, loan_no: str) -> dict[str, Any]:
    values = (e.machine, e.event, e.from_state, e.to_state, e.business_date.isoformat(), e.actor,
              e.on_behalf_of, e.reason, e.form_kind, str(e.id), e.hash)  # fmt: skip
    own = object_id(e.aggregate_type, e.aggregate_id)
    relationships = [{"objectId": own, "qualifier": "subject"}]
    if e.aggregate_type != LOAN:
        relationships.append({"objectId": object_id(LOAN, loan_no), "qualifier": "loan"})
    return {
        "id": f"e{e.id}",
        "type": activity(e),
        "time": e.wall_time.isoformat(),
        "attributes": [
            {"name": n, "value": v}
            for n, v in zip(EVENT_ATTRIBUTES, values, strict=True)
            if v is not None
        ],
        "relationships": relationships,
    }


def ocel_chunks(cases: Iterable[LoanCase], stats: ExportStats) -> Iterator[str]:
    object_attrs: dict[str, set[str]] = {}
    event_types: set[str] = set()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
        yield '{"events":['
        first = True
        for case in cases:
            stats.cases += 1
            for obj in case.objects:
                spool.write(("," if stats.objects else "") + _dump(_object(obj)) + "\n")
                stats.objects += 1
                object_attrs.setdefault(object_type(obj.aggregate_type), set()).update(
                    obj.attributes
                )
            parts = []
            for e in case.events:
                event_types.add(activity(e))
                parts.append(("" if first else ",") + _dump(_event(e, case.loan_no)) + "\n")
                first = False
            stats.events += len(case.events)
            yield "".join(parts)
        yield '],\n"objects":['
        spool.seek(0)
        while block := spool.read(1 << 16):
            yield block
    types = {
        "objectTypes": [
            {"name": name, "attributes": [{"name": a, "type": "string"} for a in sorted(attrs)]}
            for name, attrs in sorted(object_attrs.items())
        ],
        "eventTypes": [
            {"name": name, "attributes": [{"name": a, "type": "string"} for a in EVENT_ATTRIBUTES]}
            for name in sorted(event_types)
        ],
    }
    yield "],\n" + _dump(types)[1:] + "\n"
