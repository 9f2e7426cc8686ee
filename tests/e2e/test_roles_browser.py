"""In a real browser, three roles on one loan: an account manager picks the visit's inspectors by
name, sees a wrong pick refused beside the field, completes the visit and finds who submitted it,
the photo and the claim on the loan page; a branch head assigns an unclaimed task with a reason
and reads it in the timeline (and the English inbox fits 1366 px); an auditor reads everything
and changes nothing; a form posted without its CSRF token is refused with the Chinese 403 page.
"""

from __future__ import annotations

import re
import struct
import zlib
from datetime import date
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.identity import Role
from tasks.models import HumanTask
from tasks.opening import TaskSpec, open_task
from tests.factories import make_loan

HAN = re.compile(r"[\u4e00-\u9fff]")


def _png(path: Path) -> Path:
    """A real 2×2 PNG (the server checks the bytes, not the name)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    ihdr = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def book(server, session, org, clock):
    """Loan L1 (BJ01, am_bj1) with an open customer visit and an open loan check."""
    loan = make_loan(session, org, clock, "L1")
    loan.assistant_manager_id = org.users["am_bj2"].id
    session.add(loan)
    ids = {}
    for kind, title in [("customer_visit", "客户拜访 L1"), ("loan_card_check", "贷后检查 L1")]:
        task, _ = open_task(
            session,
            TaskSpec(
                kind=kind,
                key=f"{kind}:L1:2025-03",
                title=title,
                due_date=date(2025, 3, 20),
                org_unit=org.units["BJ01"],
                candidate_role=Role.account_manager,
                loan=loan,
            ),
            actor="system:test",
            now=clock.now(),
            business_date=date(2025, 3, 3),
        )
        ids[kind] = task.id
    session.commit()
    return ids


def _task(engine, task_id: int) -> HumanTask:
    with Session(engine) as s:
        return s.exec(select(HumanTask).where(HumanTask.id == task_id)).one()


def _expect_refused_in_chinese(page, response) -> None:
    assert response.status == 403
    alert = page.locator("[role=alert][data-code]")
    assert alert.get_attribute("data-code") == "csrf_token_invalid"
    assert HAN.search(alert.inner_text()), alert.inner_text()
    assert page.locator("html").get_attribute("lang", timeout=1000) in ("zh-CN", "zh")


def _fill_visit(page, photo: Path) -> None:
    page.fill("input[name=visited_on]", "2025-03-03")
    page.check("input[name=places_visited][value=borrower_office]")
    for name, text in [
        ("item_1_operations", "经营正常，营收同比增长5%"),
        ("item_2_financing_investment", "无新增融资"),
        ("item_3_counterparties", "主要客户稳定"),
        ("item_4_market_outlook", "行业平稳"),
        ("item_7_cooperation_problems", "无"),
        ("site_observations", "厂区开工正常，库存合理"),
    ]:
        page.fill(f"textarea[name={name}]", text)
    page.set_input_files("input[name=photos]", str(photo))
    page.check("input[name=risk_found][value=false]")


def _inspector_error(page) -> str:
    field = page.locator("[data-field=inspectors]")
    assert "has-error" in (field.get_attribute("class") or "")
    text = field.locator(".field-error").inner_text().strip()
    assert HAN.search(text), text
    banner = page.locator("[data-testid=form-errors]").inner_text()
    assert "_" not in banner and HAN.search(banner), banner
    return text


def test_manager_visit_picks_by_name_wrong_pick_beside_field_then_submitted_shown(
    book, page, sign_in, server, shoot, tmp_path
):
    sign_in(page, "am_bj1")
    page.goto(f"{server}/tasks/{book['customer_visit']}")
    page.get_by_role("button", name="领取").click()
    page.wait_for_url("**/tasks/*?saved=claimed")
    names = page.locator("select[name='inspectors.0'] option").all_inner_texts()
    assert any("王晓明" in n for n in names) and any("李娜" in n for n in names), names

    _fill_visit(page, _png(tmp_path / "site.png"))
    page.select_option("select[name='inspectors.0']", label="王晓明")
    page.get_by_role("button", name="提交").click()  # the second inspector not picked
    page.wait_for_selector("[data-testid=form-errors]")
    _inspector_error(page)

    # a pick that is no one the select offered (a tampered page)
    page.evaluate(
        """() => { const s = document.querySelector("select[name='inspectors.1']");
                   s.add(new Option('冒名', 'ghost_user')); s.value = 'ghost_user'; }"""
    )
    page.get_by_role("button", name="提交").click()
    page.wait_for_selector("[data-testid=form-errors]")
    _inspector_error(page)
    shoot(page, "manager-visit-error")

    page.select_option("select[name='inspectors.1']", label="李娜")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/inbox?view=archive")

    page.goto(f"{server}/tasks/{book['customer_visit']}")
    submitted = page.locator("[data-testid=submitted]").inner_text()
    assert "王晓明" in submitted and re.search(r"2025-03-0\d \d\d:\d\d", submitted), submitted
    assert page.locator("form.task-page-form").count() == 0  # read-only now
    photo = page.locator("a[href*='/api/v1/attachments/']").first
    response = page.request.get(server + photo.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "image/png"
    assert response.body().startswith(b"\x89PNG")
    shoot(page, "manager-visit-submitted")

    page.goto(f"{server}/loans/L1")
    assert page.get_by_test_id("loan-state").locator(".badge-k").inner_text() == "状态"
    assert page.get_by_test_id("loan-class").locator(".badge-k").inner_text() == "五级分类"
    rows = page.locator("[data-testid=loan-tasks] tr[data-task-id]")
    assert rows.count() == 2  # the completed visit stays listed beside the open check
    done = page.locator(f"[data-testid=loan-tasks] tr[data-task-id='{book['customer_visit']}']")
    assert "已完成" in done.inner_text() and "王晓明" in done.inner_text()
    claims = page.locator(
        f"tr.task-entry[data-task-id='{book['customer_visit']}']", has_text="领取"
    )
    assert claims.count() == 1 and "王晓明" in claims.inner_text()
    unpaid = page.locator("[data-testid=loan-schedule] tr", has_text="2025-02-15")
    assert unpaid.locator(".state-overdue").inner_text() == "已逾期"  # a badge, not a heading
    shoot(page, "manager-loan")


def test_manager_claim_without_csrf_token_refused_in_chinese_task_unclaimed(
    book, page, sign_in, server, engine
):
    sign_in(page, "am_bj1")
    task_id = book["loan_card_check"]
    page.goto(f"{server}/tasks/{task_id}")
    claim = page.locator(f"form[action='/tasks/{task_id}/claim']")
    claim.locator("input[name=_csrf]").evaluate("el => el.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        claim.get_by_role("button", name="领取").click()
    _expect_refused_in_chinese(page, posted.value)
    task = _task(engine, task_id)
    assert task.state == "open" and task.assignee_id is None


def test_head_assigns_unclaimed_task_with_reason_timeline_shows_it_english_inbox_fits(
    book, new_page, sign_in, server, shoot, engine, org
):
    page = new_page()
    sign_in(page, "head_bj")
    task_id = book["loan_card_check"]
    page.goto(f"{server}/tasks/{task_id}")
    form = page.get_by_test_id("assign-form")
    form.locator("select[name=to]").select_option("am_bj2")
    reason = form.locator("input[name=reason]")
    reason.fill("王晓明休假，改由李娜检查")
    assert reason.evaluate("e => e.scrollWidth <= e.clientWidth")  # the reason is read whole
    shoot(page, "head-task-assign")
    form.get_by_role("button").click()
    page.wait_for_load_state()
    assert _task(engine, task_id).assignee_id == org.users["am_bj2"].id

    page.goto(f"{server}/loans/L1")
    entry = page.locator(f"tr.task-entry[data-task-id='{task_id}']", has_text="分派")
    assert entry.count() == 1
    assert "李娜" in entry.inner_text() and "王晓明休假，改由李娜检查" in entry.inner_text()
    shoot(page, "head-loan-timeline")

    wide = new_page(1366, 768)
    sign_in(wide, "head_bj")
    wide.goto(f"{server}/inbox?view=all&lang=en")  # the branch's tasks, as the head sees them
    assert wide.locator("html").get_attribute("lang") == "en"
    assert wide.locator("tr[data-task-id]").count() == 2
    assert "Task type" in wide.locator("thead").inner_text()
    assert wide.evaluate("document.documentElement.scrollWidth") <= 1366
    shoot(wide, "head-inbox-en-1366")


def test_auditor_reads_task_and_loan_forged_and_tokened_posts_refused_nothing_changed(
    book, page, sign_in, server, shoot, engine
):
    sign_in(page, "auditor")
    task_id = book["customer_visit"]
    page.goto(f"{server}/tasks/{task_id}")
    assert page.locator("h1").inner_text().startswith("客户拜访")
    assert page.locator(f"form[action='/tasks/{task_id}/claim']").count() == 0
    assert page.locator("form.task-page-form").count() == 0
    assert page.locator("[data-testid=assign-form]").count() == 0
    editable = "textarea:not([disabled]):not([readonly]), select:not([disabled]), input:not([type=hidden]):not([disabled]):not([readonly])"
    assert page.locator(editable).count() == 0
    shoot(page, "auditor-task")
    page.goto(f"{server}/loans/L1")
    assert page.locator("[data-testid=loan-tasks] tr[data-task-id]").count() == 2
    shoot(page, "auditor-loan")
    token = page.locator("input[name=_csrf]").first.input_value()

    post = """([action, token]) => { const f = document.createElement('form');
        f.method = 'post'; f.action = action;
        if (token) { const i = document.createElement('input');
                     i.type = 'hidden'; i.name = '_csrf'; i.value = token; f.append(i); }
        document.body.append(f); f.submit(); }"""
    with page.expect_response(lambda r: r.request.method == "POST") as forged:
        page.evaluate(post, [f"/tasks/{task_id}/claim", None])
    _expect_refused_in_chinese(page, forged.value)
    shoot(page, "auditor-csrf-403")

    page.goto(f"{server}/loans/L1")
    with page.expect_response(lambda r: r.request.method == "POST") as tokened:
        page.evaluate(post, [f"/tasks/{task_id}/claim", token])
    assert tokened.value.status == 403
    alert = page.locator("[role=alert][data-code]")
    assert alert.get_attribute("data-code") != "csrf_token_invalid"
    assert HAN.search(alert.inner_text())
    task = _task(engine, task_id)
    assert task.state == "open" and task.assignee_id is None
