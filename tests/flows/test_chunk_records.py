"""Each chunk records what it did and where it ran, in its own transaction (loans/models.py
SweptChunk): the counts a distributed sweep adds up. A re-run replaces the record; a chunk
without one is refused by name."""

from __future__ import annotations

import pytest

from core.errors import RuleViolationError
from flows.daily_sweep import run_chunk
from loans import sweep
from tests.flows.test_flows import DAY, book  # noqa: F401  (the fixture)


def test_a_chunk_records_its_counts_and_node(engine, book, session, monkeypatch):  # noqa: F811
    monkeypatch.setenv("POSTLOAN_NODE_NAME", "node-a")
    from core.settings import get_settings

    get_settings.cache_clear()
    bounds = sweep.chunk_bounds(session, size=10_000)
    counts = [run_chunk(DAY, lo, hi) for lo, hi in bounds]
    session.commit()
    session.expire_all()
    records = sweep.chunk_records(session, DAY, bounds)
    assert [r.counts for r in records] == counts
    assert {r.node for r in records} == {"node-a"}
    assert counts[0]["moved_mark_overdue"] == 1  # L-LATE: real work, not a placeholder
    rerun = run_chunk(DAY, *bounds[0])  # nothing left to do: the record now says so
    session.commit()
    session.expire_all()
    (again,) = sweep.chunk_records(session, DAY, bounds[:1])
    assert again.counts == rerun and rerun.get("moved_mark_overdue", 0) == 0
    get_settings.cache_clear()


def test_a_chunk_without_a_record_is_refused_by_name(engine, book, session):  # noqa: F811
    lo, hi = sweep.chunk_bounds(session, size=10_000)[0]
    run_chunk(DAY, lo, hi)
    session.commit()  # a new read: the chunk committed in its own session
    with pytest.raises(RuleViolationError, match=f"{hi + 1}–{hi + 50}") as refused:
        sweep.chunk_records(session, DAY, [(lo, hi), (hi + 1, hi + 50)])
    assert "run the date again" in str(refused.value)
