"""Migration 0012 derives loan_status_history from the journal written before it: the rows it
builds are exactly the rows the projection wrote as the journal was appended."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text

from loans.transitions import reclassify_loan
from statemachines.enums import RiskClass
from tests.factories import make_loan

ROWS = (
    "SELECT l.loan_no, h.machine, h.state, h.valid_from, h.valid_to "
    "FROM loan_status_history h JOIN loans l ON l.id = h.loan_id"
)


def test_upgrade_0012_backfills_status_history_from_the_journal(
    engine, session, org, clock, database_url
):
    import migrations

    clock.set_date(date(2025, 1, 15))
    make_loan(session, org, clock, "M1")
    make_loan(session, org, clock, "M2")
    for day, target in ((date(2025, 3, 1), RiskClass.special_mention),
                        (date(2025, 3, 1), RiskClass.substandard),
                        (date(2025, 6, 30), RiskClass.doubtful)):  # fmt: skip
        clock.set_date(day)
        reclassify_loan(session, "M1", target, actor="u:head_bj", now=clock.now(),
                        business_date=day, reason="test", approved_by="head_bj")  # fmt: skip
    session.commit()
    with engine.connect() as conn:
        projected = sorted(tuple(r) for r in conn.execute(text(ROWS)))
    session.close()
    assert ("M1", "risk_classification", "special_mention", "2025-03-01", "2025-03-01") in [
        (a, b, c, str(d), str(e)) for a, b, c, d, e in projected
    ]

    migrations.downgrade(database_url, "0011")
    migrations.upgrade(database_url, "head")

    with engine.connect() as conn:
        backfilled = sorted(tuple(r) for r in conn.execute(text(ROWS)))
    assert backfilled == projected
    # two loans opened (two machines each), M1's three class moves and the lifecycle's two
    # that follow them (正常 → 关注 → 不良)
    assert len(backfilled) == 2 * 2 + 3 + 2
