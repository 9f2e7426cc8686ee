"""The `postloan` CLI as a person runs it: messages and exit codes."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

# Prefect sets up its logging on first import: do it here, not inside CliRunner's captured
# streams (closed after each command, they broke every later Prefect log: RecursionError).
import flows.daily_sweep  # noqa: F401
from api.cli import app
from tests.tamper import bypass_append_only

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def seeded(engine):
    result = run("demo", "seed", "--loans", "12", "--days", "12", "--today", "2026-11-23")
    assert result.exit_code == 0, result.output
    return engine


def test_db_upgrade_at_head(engine):
    result = run("db", "upgrade")
    assert result.exit_code == 0 and "database at head" in result.output


def test_demo_seed_twice_refused_unless_if_empty(seeded):
    again = run("demo", "seed")
    assert again.exit_code == 1 and "already has data" in again.output
    assert run("demo", "seed", "--if-empty").exit_code == 0


def test_loan_show_unknown_exit_1_names_loan(seeded):
    result = run("loan", "show", "NOPE")
    assert result.exit_code == 1 and "no loan 'NOPE'" in result.output


def test_audit_verify_intact_then_tampered_names_entry(seeded):
    ok = run("audit", "verify")
    assert ok.exit_code == 0 and "journal intact" in ok.output
    with seeded.begin() as conn:
        victim = conn.execute(
            text(
                "SELECT aggregate_id, chain_seq, id FROM journal WHERE chain_seq = 2 ORDER BY id LIMIT 1"
            )
        ).one()
        bypass_append_only(conn)
        conn.execute(text("UPDATE journal SET actor = 'u:nobody' WHERE id = :i"), {"i": victim.id})
    bad = run("audit", "verify")
    assert bad.exit_code == 1
    assert f"loan/{victim.aggregate_id} entry #2 (journal id {victim.id}): altered" in bad.output


def test_audit_replay_matches_and_as_of(seeded):
    with seeded.connect() as conn:
        loan_no = conn.execute(text("SELECT loan_no FROM loans ORDER BY loan_no LIMIT 1")).scalar()
        opened = conn.execute(
            text("SELECT disbursement_date FROM loans WHERE loan_no = :n"), {"n": loan_no}
        ).scalar()
    now = run("audit", "replay", loan_no)
    assert now.exit_code == 0 and "回放与当前状态一致 Replay matches the stored state" in now.output
    before = run("audit", "replay", loan_no, "--as-of", "2000-01-01")
    assert before.exit_code == 1 and "截至日期 2000-01-01 须在放款日" in before.output
    at_open = run("audit", "replay", loan_no, "--as-of", str(opened))
    assert "状态 State 正常 (normal) · 五级分类 Risk class 正常 (pass)" in at_open.output
    assert "{'" not in at_open.output  # a person reads labels, not a Python dict


def test_audit_replay_stored_state_drifted_exit_1(seeded):
    with seeded.begin() as conn:
        loan_no = conn.execute(
            text("SELECT loan_no FROM loans WHERE state = 'normal' LIMIT 1")
        ).scalar()
        conn.execute(text("UPDATE loans SET state = 'settled' WHERE loan_no = :n"), {"n": loan_no})
    result = run("audit", "replay", loan_no)
    assert result.exit_code == 1 and "Replay does NOT match the stored state" in result.output
    assert "当前 stored: 状态 State 结清 (settled)" in result.output and "{'" not in result.output


def test_loan_show_on_date_shows_that_day_with_labels(seeded):
    with seeded.connect() as conn:
        loan_no, opened, ref = conn.execute(
            text(
                "SELECT l.loan_no, l.disbursement_date, p.payment_ref FROM loans l"
                " JOIN payments p ON p.loan_id = l.id ORDER BY l.loan_no, p.value_date LIMIT 1"
            )
        ).one()
    today = run("loan", "show", loan_no)
    assert today.exit_code == 0, today.output
    assert "状态 State" in today.output and "还款记录 Payments" in today.output
    assert ref in today.output
    then = run("loan", "show", loan_no, "--on", str(opened))
    assert then.exit_code == 0, then.output
    assert f"截至 As of {opened}" in then.output and "正常 (normal)" in then.output
    assert ref not in then.output and f"0 ({opened})" in then.output  # nothing paid or due yet
    before = run("loan", "show", loan_no, "--on", "2000-01-01")
    assert before.exit_code == 1 and "截至日期 2000-01-01 须在放款日" in before.output


def test_sweep_prints_labelled_measures_not_keys(seeded):
    result = run("sweep", "--on", "2026-11-24")
    assert result.exit_code == 0, result.output
    assert "低于分类底线 Below their class floor" in result.output
    assert "耗时（秒）Seconds: 逾期档 buckets" in result.output
    for key in ("below_floor", "seconds_buckets", "dpd_updated", "moved_"):
        assert key not in result.output


def test_demo_seed_if_empty_brings_stale_book_to_today(seeded):
    result = run("demo", "seed", "--if-empty", "--today", "2026-12-02")
    assert result.exit_code == 0, result.output
    assert "9 days run" in result.output
    with seeded.connect() as conn:
        assert conn.execute(text("SELECT max(business_date) FROM swept_days")).scalar() in (
            date(2026, 12, 2), "2026-12-02",
        )  # fmt: skip
        owed = text(
            "SELECT l.loan_no, l.state, COALESCE(SUM(i.principal_due_cents - i.principal_paid_cents"
            " + i.interest_due_cents - i.interest_paid_cents), 0) AS owed,"
            " MIN(CASE WHEN i.paid_off_on IS NULL THEN i.due_date END) AS oldest"
            " FROM loans l JOIN installments i ON i.loan_id = l.id GROUP BY l.loan_no, l.state"
        )
        rows = conn.execute(owed).all()
        open_tasks = {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT l.loan_no FROM human_tasks t JOIN loans l ON l.id = t.loan_id"
                    " WHERE t.state IN ('open', 'claimed', 'escalated')"
                )
            )
        }
    assert rows
    for loan_no, state, owed_cents, oldest in rows:
        if owed_cents == 0:
            assert state == "settled" and loan_no not in open_tasks, loan_no
        if oldest is not None and str(oldest) < "2026-11-25":  # unpaid a week and more
            assert state != "normal", loan_no


def test_audit_anchor_twice_nothing_new_the_second_time(seeded):
    first = run("audit", "anchor", "--on", "2026-11-23")
    assert first.exit_code == 0 and "entries #" in first.output
    again = run("audit", "anchor", "--on", "2026-11-23")
    assert again.exit_code == 0 and "nothing written since anchor" in again.output


def test_bad_date_option_usage_error(seeded):
    result = run("audit", "replay", "X", "--as-of", "23/11/2026")
    assert result.exit_code == 2


SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_import_samples_then_reimport_payments_skips(seeded):
    for kind in ("loans", "installments", "payments"):
        result = run("import", kind, str(SAMPLES / f"{kind}.csv"))
        assert result.exit_code == 0, result.output
    again = run("import", "payments", str(SAMPLES / "payments.csv"))
    assert again.exit_code == 0 and "0 created 新建, 11 already present 已存在" in again.output


def test_import_bad_file_lists_every_line_exit_1(seeded, tmp_path):
    bad = tmp_path / "payments.csv"
    bad.write_text(
        "payment_ref,loan_no,value_date,amount\nX1,NOPE,2025-13-01,-5\nX2,NOPE,2025-03-01,1.001\n",
        encoding="utf-8",
    )
    result = run("import", "payments", str(bad))
    assert result.exit_code == 1
    assert "payments.csv：2 行有误，未导入任何数据" in result.output  # Chinese first
    assert "payments.csv: 2 bad lines, nothing imported" in result.output
    for fragment in (
        "line 2 field loan_no: 未知贷款 'NOPE' (unknown loan 'NOPE')",
        "line 2 field value_date: 日期格式应为 YYYY-MM-DD",
        "line 3 field amount: 小数超过 2 位",
    ):
        assert fragment in result.output


def test_import_unknown_kind_usage_error(seeded):
    result = run("import", "nonsense", str(SAMPLES / "loans.csv"))
    assert result.exit_code == 2 and "unknown import kind" in result.output


def test_audit_verify_cli_and_api_say_the_same(seeded):
    """One report, two readers: every line the CLI prints is the API's summary, in order, for an
    intact journal with unanchored entries and for a tampered one."""
    from fastapi.testclient import TestClient

    from api.main import app as web
    from loans.demo import DEMO_PASSWORD

    def both() -> tuple[list[str], list[str]]:  # the API first: its sign-in is journaled too
        with TestClient(web) as client:
            token = client.post(
                "/api/v1/auth/token", data={"username": "auditor", "password": DEMO_PASSWORD}
            ).json()["access_token"]
            api = client.get(
                "/api/v1/audit/verify", headers={"Authorization": f"Bearer {token}"}
            ).json()
        cli = run("audit", "verify")
        return [line.strip() for line in cli.output.splitlines() if line.strip()], api["summary"]

    cli, api = both()
    assert cli == api and cli[0].startswith("日志完整 journal intact")
    with seeded.begin() as conn:
        victim = conn.execute(text("SELECT id FROM journal ORDER BY id LIMIT 1")).scalar_one()
        bypass_append_only(conn)
        conn.execute(text("UPDATE journal SET reason = 'x' WHERE id = :i"), {"i": victim})
    cli, api = both()
    assert api[0].startswith("日志被破坏 journal broken")
    assert any("altered" in line for line in api)
    assert cli == api[: len(cli)] and len(cli) >= 2
