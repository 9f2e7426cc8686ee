"""Chains the journal tests write and then verify or tamper with: `n` entries on one aggregate,
with a reason and a payload that exercises canonical JSON (Chinese keys, a date, nesting)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from audit import journal

NOW = datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)
DAY = date(2026, 3, 2)


def append_chain(session: Session, agg: str, n: int, day: date = DAY) -> list[int]:
    """Append `n` entries to aggregate loan/`agg` and commit; their journal ids."""
    ids = []
    for k in range(n):
        e = journal.append(
            session,
            aggregate_type="loan",
            aggregate_id=agg,
            machine="m",
            event=f"e{k}",
            from_state=f"s{k}",
            to_state=f"s{k + 1}",
            actor="u:王",
            now=NOW,
            business_date=day,
            reason="原因 reason",
            payload={"金额": 100 + k, "when": date(2026, 1, 31), "nested": {"b": [1, 2]}},
        )
        ids.append(e.id or 0)
    session.commit()
    return ids
