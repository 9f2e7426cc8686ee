"""Transactions behave the same on SQLite and Postgres: a rolled-back SAVEPOINT keeps the outer
work, a failed scope keeps nothing."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from core.db import session_scope
from core.identity import OrgUnit, OrgUnitKind, add_org_unit


def _codes(engine) -> list[str]:
    with Session(engine) as s:
        return sorted(s.exec(select(OrgUnit.code)).all())


def test_savepoint_rollback_keeps_outer_work(engine):
    with session_scope(engine) as s:
        add_org_unit(s, code="A", name="a", kind=OrgUnitKind.head_office)
        nested = s.begin_nested()
        add_org_unit(s, code="B", name="b", kind=OrgUnitKind.head_office)
        nested.rollback()
    assert _codes(engine) == ["A"]


def test_failed_scope_keeps_nothing(engine):
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        add_org_unit(s, code="A", name="a", kind=OrgUnitKind.head_office)
        raise RuntimeError("boom")
    assert _codes(engine) == []


@pytest.mark.parametrize(("setting", "pragma"), [(None, 2), ("NORMAL", 1)])
def test_sqlite_synchronous_follows_the_setting(tmp_path, monkeypatch, setting, pragma):
    """FULL (2) unless set: `postloan simulate` asks for NORMAL (1) for its generated book."""
    from core.db import make_engine
    from core.settings import get_settings

    if setting is None:
        monkeypatch.delenv("POSTLOAN_SQLITE_SYNCHRONOUS", raising=False)
    else:
        monkeypatch.setenv("POSTLOAN_SQLITE_SYNCHRONOUS", setting)
    get_settings.cache_clear()
    engine = make_engine(f"sqlite:///{tmp_path / 'sync.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == pragma
    finally:
        engine.dispose()
        get_settings.cache_clear()
