"""The inbox and task pages without a browser: tabs, counts, overdue rows, errors kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from audit.journal import chain
from core.clock import FixedClock
from core.identity import user_by_username
from loans.book import get_loan
from loans.demo import DEMO_PASSWORD
from statemachines.enums import TaskState
from tasks import attachments, service
from tasks.models import HumanTask
from tests.api.browser import csrf, post_form, sign_in, sign_out
from tests.factories import make_loan
from tests.tasks.conftest import new_task
from tests.tasks.payloads import customer_visit

FIXED_NOW = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)


@pytest.fixture
def web(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    late = new_task(session, org, clock, loan, key="late", due=date(2025, 3, 1))
    fine = new_task(session, org, clock, loan, key="fine", due=date(2025, 3, 20))
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        sign_in(client, "am_bj1")
        yield client, late, fine
    app.dependency_overrides.clear()


def test_inbox_tabs_counts_overdue_highlighted(web):
    client, late, fine = web
    page = client.get("/inbox").text
    assert 'data-testid="tab-queue"' in page and "待领取" in page
    assert f'<tr class="overdue" data-task-id="{late.id}">' in page
    assert f'<tr class="" data-task-id="{fine.id}">' in page
    assert 'data-testid="overdue-count">已逾期 1<' in page


def test_inbox_filter_overdue_only(web):
    client, late, fine = web
    page = client.get("/inbox", params={"overdue": "yes"}).text
    assert f'data-task-id="{late.id}"' in page and f'data-task-id="{fine.id}"' not in page


def test_task_page_claim_then_form_errors_keep_input(web):
    client, late, _ = web
    post_form(client, f"/tasks/{late.id}", f"/tasks/{late.id}/claim")
    response = post_form(
        client,
        f"/tasks/{late.id}",
        f"/tasks/{late.id}",
        {
            "_action": "complete",
            "other_bank_credit_balance_change": "12.5",
            "external_guarantee_balance_change": "0",
            "conclusion": "normal",
        },
    )
    assert response.status_code == 422
    assert "请修改标出的字段后再提交" in response.text
    assert 'value="12.5"' in response.text  # the user's input is kept
    assert 'data-field="retrieved_on"' in response.text and "has-error" in response.text


def test_task_page_draft_saved_then_shown(web):
    client, late, _ = web
    post_form(client, f"/tasks/{late.id}", f"/tasks/{late.id}/claim")
    saved = post_form(
        client,
        f"/tasks/{late.id}",
        f"/tasks/{late.id}",
        {"_action": "draft", "environment_social_security_tax_notes": "社保正常"},
        follow_redirects=True,
    )
    assert "草稿已保存" in saved.text and "社保正常" in saved.text


def test_task_page_other_branch_404(web, session, org, clock):
    client, late, _ = web
    sign_out(client)
    sign_in(client, "am_sh1")
    assert client.get(f"/tasks/{late.id}").status_code == 404


def test_loan_page_lists_open_tasks_first(web):
    client, late, fine = web
    page = client.get("/loans/L1").text
    assert f'href="/tasks/{late.id}"' in page and f'href="/tasks/{fine.id}"' in page


def test_task_page_submit_by_non_assignee_403_before_form_check(web):
    client, late, _ = web
    post_form(client, f"/tasks/{late.id}", f"/tasks/{late.id}/claim")
    sign_out(client)
    sign_in(client, "am_bj2")
    response = post_form(client, "/inbox", f"/tasks/{late.id}", {"_action": "complete"})
    assert response.status_code == 403
    assert "此任务不在 am_bj2 的待办中，请先领取" in response.text
    assert "inbox" not in response.text.split("<main>")[1]


def _login(client, username):
    sign_out(client)
    sign_in(client, username)


@pytest.fixture
def visit(web, session, org, clock):
    """A customer visit of L1 claimed by am_bj1, and a stored photo."""
    client, late, _ = web
    task = new_task(session, org, clock, late_loan(session), kind="customer_visit", key="v")
    photo = attachments.store(
        session,
        data=PNG,
        filename="site.png",
        content_type="image/png",
        uploaded_by=org.users["am_bj1"].id,
        now=clock.now(),
    ).model_dump(mode="json")
    session.commit()
    post_form(client, f"/tasks/{task.id}", f"/tasks/{task.id}/claim")
    return client, task, photo


def late_loan(session):
    return get_loan(session, "L1")


def _visit_post(inspectors, photo):
    data = customer_visit(inspectors, photo)
    flat = {k: v for k, v in data.items() if k not in ("inspectors", "photos")}
    flat |= {f"inspectors.{i}": name for i, name in enumerate(inspectors)}
    flat |= {f"photos.0.{k}": str(v) for k, v in photo.items()}
    flat |= {"risk_found": "false", "warned_superiors": "false", "_action": "complete"}
    return flat


def test_visit_form_inspectors_picked_from_branch_account_managers(visit):
    client, task, _ = visit
    page = client.get(f"/tasks/{task.id}").text
    assert '<select id="pf-customer_visit-inspectors-0" name="inspectors.0"' in page
    assert '<option value="am_bj2">李娜</option>' in page  # by full name, submitted by username
    assert '<option value="am_bj3">赵磊</option>' in page  # the sub-branch is in the branch
    assert "am_sh1" not in page and "rm_bj" not in page  # another branch, not an account manager


def test_visit_wrong_inspector_chinese_error_beside_field(visit):
    client, task, photo = visit
    response = post_form(
        client, f"/tasks/{task.id}", f"/tasks/{task.id}", _visit_post(["am_bj1", "am_sh1"], photo)
    )
    assert response.status_code == 403
    field = response.text.split('data-field="inspectors"')[1].split('data-field="places_visited"')[
        0
    ]
    assert "检查人 am_sh1 不是本贷款所属机构的客户经理" in field and "field-error" in field
    assert 'data-testid="form-errors">请修改标出的字段后再提交</div>' in response.text  # no `: _`
    assert "account manager" not in response.text


def test_completed_visit_reopened_shows_submitter_time_and_photo_link(visit):
    client, task, photo = visit
    done = post_form(
        client,
        f"/tasks/{task.id}",
        f"/tasks/{task.id}",
        _visit_post(["am_bj1", "am_bj2"], photo),
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    page = client.get(f"/tasks/{task.id}").text
    assert 'data-testid="submitted">已提交: 完成人 王晓明 · 提交时间 2025-' in page
    assert f'href="/api/v1/attachments/{photo["sha256"]}"' in page
    assert '<option value="am_bj2" selected>李娜</option>' in page


def test_loan_page_lists_all_tasks_open_first_with_people(web, session, org):
    client, late, fine = web
    post_form(client, f"/tasks/{fine.id}", f"/tasks/{fine.id}/claim")
    _login(client, "head_bj")
    client.post(
        f"/api/v1/tasks/{late.id}/cancel",
        json={"reason": "重复任务"},
        headers={"X-CSRF-Token": csrf(client)},
    )
    page = client.get("/loans/L1").text
    table = page.split('data-testid="loan-tasks"')[1].split("</table>")[0]
    assert table.index(f'data-task-id="{fine.id}"') < table.index(f'data-task-id="{late.id}"')
    assert "已取消" in table and "处理中" in table and "王晓明" in table


def test_timeline_shows_claim_and_cancel_with_reason(web, session):
    client, late, _ = web
    post_form(client, f"/tasks/{late.id}", f"/tasks/{late.id}/claim")
    _login(client, "head_bj")
    response = post_form(
        client,
        f"/tasks/{late.id}",
        f"/tasks/{late.id}/assign",
        {"to": "am_bj2", "reason": "王晓明休假"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    svc_cancel(session, late.id, "head_bj", "借款人已提前结清")
    timeline = client.get("/loans/L1").text.split('id="timeline"')[1]
    rows = [r for r in timeline.split("<tr") if f'data-task-id="{late.id}"' in r]
    text = " ".join(rows)
    assert "领取" in text and "转派" in text and "取消" in text
    assert "王晓明休假" in text and "借款人已提前结清" in text and "李娜 (am_bj2)" in text


def svc_cancel(session, task_id, username, reason):
    from tests.tasks.conftest import as_user

    session.expire_all()
    service.cancel(
        session, task_id, as_user(session, username), reason=reason,
        now=FIXED_NOW, business_date=date(2025, 3, 3),
    )  # fmt: skip
    session.commit()


def test_head_assigns_unclaimed_task_from_page_journaled(web, session):
    client, late, _ = web
    _login(client, "head_bj")
    page = client.get(f"/tasks/{late.id}").text
    form = page.split('data-testid="assign-form"')[1].split("</form>")[0]
    assert '<option value="am_bj1">王晓明 (am_bj1)</option>' in form and "分派给" in form
    assert "claim" not in form
    response = post_form(
        client,
        f"/tasks/{late.id}",
        f"/tasks/{late.id}/assign",
        {"to": "am_bj2", "reason": "就近"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    session.expire_all()
    task = session.get(HumanTask, late.id)
    assert task.state == TaskState.claimed and task.assignee_id == user_id(session, "am_bj2")
    entry = chain(session, "task", str(late.id))[-1]
    assert (entry.event, entry.reason, entry.payload) == ("assign", "就近", {"to": "am_bj2"})


def user_id(session, username):
    return user_by_username(session, username).id


def test_api_delegate_unclaimed_by_head_assigns_by_member_refused(web, session):
    client, late, fine = web
    head = {"Authorization": f"Bearer {_token(client, 'head_bj')}"}
    ok = client.post(
        f"/api/v1/tasks/{late.id}/delegate", json={"to": "am_bj2", "reason": "分派"}, headers=head
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["state"] == "claimed"
    am = {"Authorization": f"Bearer {_token(client, 'am_bj2')}"}
    refused = client.post(f"/api/v1/tasks/{fine.id}/delegate", json={"to": "am_bj1"}, headers=am)
    assert refused.status_code == 403
    assert refused.json()["detail"]["context"]["rule"] == "not_supervisor"


def _token(client, username):
    answer = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    )
    return answer.json()["access_token"]


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _stored(session, tmp_path):
    from sqlmodel import select

    from tasks.models import Attachment

    files = [p for p in (tmp_path / "att").rglob("*") if p.is_file()]
    return session.exec(select(Attachment)).all(), files


@pytest.mark.parametrize("action", ["draft", "complete"])
def test_task_form_auditor_post_with_file_403_stores_nothing(
    web, session, org, clock, tmp_path, action
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    post_form(
        client, f"/tasks/{visit.id}", f"/tasks/{visit.id}/claim"
    )  # am_bj1 holds it; the auditor may read it
    sign_out(client)
    sign_in(client, "auditor")
    response = post_form(
        client,
        f"/tasks/{visit.id}",
        f"/tasks/{visit.id}",
        {"_action": action},
        files={"photos": ("site.png", PNG, "image/png")},
    )
    assert response.status_code == 403
    assert _stored(session, tmp_path) == ([], [])


def test_task_form_non_assignee_post_with_file_403_stores_nothing(
    web, session, org, clock, tmp_path
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    post_form(client, f"/tasks/{visit.id}", f"/tasks/{visit.id}/claim")
    sign_out(client)
    sign_in(client, "am_bj2")
    response = post_form(
        client,
        f"/tasks/{visit.id}",
        f"/tasks/{visit.id}",
        {"_action": "draft"},
        files={"photos": ("site.png", PNG, "image/png")},
    )
    assert response.status_code == 403  # not in their inbox: refused before storing
    assert _stored(session, tmp_path) == ([], [])


def test_task_form_html_upload_refused_beside_field_nothing_stored(
    web, session, org, clock, tmp_path
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    post_form(client, f"/tasks/{visit.id}", f"/tasks/{visit.id}/claim")
    response = post_form(
        client,
        f"/tasks/{visit.id}",
        f"/tasks/{visit.id}",
        {"_action": "draft"},
        files={"photos": ("x.html", b"<script>alert(1)</script>", "text/html")},
    )
    assert response.status_code == 422
    assert "不接受此类文件（text/html）" in response.text
    assert _stored(session, tmp_path)[0] == []


def test_task_form_draft_with_photo_readable_by_colleague_not_other_branch(
    web, session, org, clock
):
    client, _, _ = web
    visit = new_task(session, org, clock, None, kind="customer_visit", key="visit")
    post_form(client, f"/tasks/{visit.id}", f"/tasks/{visit.id}/claim")
    saved = post_form(
        client,
        f"/tasks/{visit.id}",
        f"/tasks/{visit.id}",
        {"_action": "draft"},
        files={"photos": ("site.png", PNG, "image/png")},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.expire_all()
    from tasks.models import HumanTask

    sha = session.get(HumanTask, visit.id).draft["photos"][0]["sha256"]
    for who, status in (("am_bj2", 200), ("am_sh1", 404)):
        sign_out(client)
        sign_in(client, who)
        assert client.get(f"/api/v1/attachments/{sha}").status_code == status, who
