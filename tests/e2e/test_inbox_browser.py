"""In a real browser (Playwright driving Debian's chromium): an account manager signs in, claims
a customer visit, submits it with a field missing (the error is shown beside the field and the
input kept), fixes it and finds it in the archive."""

from __future__ import annotations

from datetime import date

import pytest

from core.identity import Role
from loans.demo import DEMO_PASSWORD
from tasks.opening import TaskSpec, open_task
from tests.factories import make_loan


@pytest.fixture
def visit(server, session, org, clock):
    loan = make_loan(session, org, clock, "L1")
    loan.assistant_manager_id = org.users["am_bj2"].id
    session.add(loan)
    spec = TaskSpec(
        kind="customer_visit",
        key="customer_visit:L1:2025-03",
        title="客户拜访 L1",
        due_date=date(2025, 3, 20),
        org_unit=org.units["BJ01"],
        candidate_role=Role.account_manager,
        loan=loan,
    )
    open_task(session, spec, actor="system:test", now=clock.now(), business_date=date(2025, 3, 3))
    session.commit()
    return server


def test_visit_claim_submit_missing_field_fix_archive(visit, page, tmp_path):
    page.goto(f"{visit}/inbox")
    page.fill("input[name=username]", "am_bj1")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/inbox")
    row = page.locator("tr[data-task-id]", has_text="客户拜访 L1")
    row.get_by_role("button", name="领取").click()
    page.wait_for_url("**/tasks/*?saved=claimed")

    page.fill("input[name=visited_on]", "2025-03-03")
    page.select_option("select[name='inspectors.0']", "am_bj1")  # picked by name: 王晓明
    page.select_option("select[name='inspectors.1']", label="李娜")
    page.check("input[name=places_visited][value=borrower_office]")
    for name, text in [
        ("item_2_financing_investment", "无新增融资"),
        ("item_3_counterparties", "主要客户稳定"),
        ("item_4_market_outlook", "行业平稳"),
        ("item_7_cooperation_problems", "无"),
        ("site_observations", "厂区开工正常，库存合理"),
    ]:
        page.fill(f"textarea[name={name}]", text)
    photo = tmp_path / "site.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n fake site photo")
    page.set_input_files("input[name=photos]", str(photo))
    page.check("input[name=risk_found][value=false]")
    page.screenshot(path=str(tmp_path / "before.png"))
    page.get_by_role("button", name="提交").click()  # item 1 is missing

    page.wait_for_selector("[data-testid=form-errors]")
    field = page.locator("[data-field=item_1_operations]")
    assert "has-error" in (field.get_attribute("class") or "")
    assert field.locator(".field-error").inner_text().strip()
    assert page.input_value("textarea[name=site_observations]") == "厂区开工正常，库存合理"
    assert page.input_value("select[name='inspectors.1']") == "am_bj2"
    assert page.is_checked("input[name=places_visited][value=borrower_office]")
    assert "site.png" in page.content()  # the uploaded photo is kept

    page.fill("textarea[name=item_1_operations]", "经营正常，营收同比增长5%")
    page.get_by_role("button", name="提交").click()
    page.wait_for_url("**/inbox?view=archive")
    assert page.locator("tr[data-task-id]", has_text="客户拜访 L1").count() == 1
    assert "已完成" in page.locator("[data-testid=tab-archive]").inner_text()
