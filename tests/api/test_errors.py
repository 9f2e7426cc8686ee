"""Every error is one shape: `{"detail": {"code", "message", "context"}}` on the API, an HTML error
page (with the signed-in header) on pages — 2^63 ids, FastAPI's 422, 404/405 and any 500."""

from __future__ import annotations

import logging
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from loans.demo import DEMO_PASSWORD
from tests.api.browser import post_form, sign_in
from tests.factories import make_loan
from tests.tasks.conftest import new_task

TOO_BIG = 2**63  # past any 64-bit integer: SQLite's driver crashed (OverflowError)
PG_TOO_BIG = 2**31  # past Postgres' INTEGER keys: "integer out of range" (found by the fuzz)
MAX_ID = 2**31 - 1


@pytest.fixture
def setup(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    task = new_task(session, org, clock, loan)
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    yield task
    app.dependency_overrides.clear()


@pytest.fixture
def api(setup):
    with TestClient(app, raise_server_exceptions=False) as client:
        token = client.post(
            "/api/v1/auth/token", data={"username": "am_bj1", "password": DEMO_PASSWORD}
        ).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        yield client, setup


@pytest.fixture
def web(setup):
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, "am_bj1")
        yield client, setup


def _shape(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    detail = response.json()["detail"]
    assert detail["code"] == code and isinstance(detail["context"], dict)
    assert isinstance(detail["message"], str) and detail["message"]
    return detail


def _page(response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def _signed_in_header(page: str) -> bool:
    return "王晓明 (am_bj1)" in page and 'action="/logout"' in page


@pytest.mark.parametrize(
    ("method", "path", "params", "field"),
    [
        ("get", f"/api/v1/tasks/{TOO_BIG}", {}, "path.task_id"),
        ("post", f"/api/v1/tasks/{TOO_BIG}/cancel", {}, "path.task_id"),
        ("post", f"/api/v1/tasks/{TOO_BIG}/claim", {}, "path.task_id"),
        ("get", f"/api/v1/approval-requests/{TOO_BIG}", {}, "path.request_id"),
        ("get", "/api/v1/loans", {"offset": TOO_BIG}, "query.offset"),
        ("get", "/api/v1/tasks", {"offset": TOO_BIG}, "query.offset"),
        ("get", "/api/v1/tasks", {"limit": TOO_BIG}, "query.limit"),
        ("get", "/api/v1/approval-requests", {"offset": TOO_BIG}, "query.offset"),
        ("get", "/api/v1/tasks/0", {}, "path.task_id"),
        ("get", f"/api/v1/tasks/{PG_TOO_BIG}", {}, "path.task_id"),
        ("post", f"/api/v1/tasks/{PG_TOO_BIG}/draft", {}, "path.task_id"),
        ("get", f"/api/v1/approval-requests/{PG_TOO_BIG}", {}, "path.request_id"),
    ],
)
def test_request_out_of_bounds_integer_is_422_naming_the_field(api, method, path, params, field):
    client, _ = api
    body = {"reason": "x", "data": {}} if path.endswith(("/cancel", "/draft")) else None
    detail = _shape(client.request(method, path, params=params, json=body), 422, "invalid_input")
    assert [e["field"] for e in detail["errors"]] == [field]


def test_request_largest_id_is_an_ordinary_404(api):
    client, _ = api
    _shape(client.get(f"/api/v1/tasks/{MAX_ID}"), 404, "not_found")
    _shape(client.get(f"/api/v1/approval-requests/{MAX_ID}"), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/tasks/{TOO_BIG}", {}),
        ("/loans", {"page": TOO_BIG}),
        ("/inbox", {"page": TOO_BIG}),
        (f"/requests/{TOO_BIG}", {}),
        (f"/tasks/{PG_TOO_BIG}", {}),
        ("/loans/L1", {"as_of": "bad"}),
        ("/inbox", {"view": "bogus"}),
    ],
)
def test_page_invalid_parameter_is_an_html_422_with_the_header(web, path, params):
    client, _ = web
    page = _page(client.get(path, params=params), 422)
    assert "输入有误" in page and '"detail"' not in page
    assert _signed_in_header(page)


def test_page_overflowing_post_is_an_html_422(web):
    client, _ = web
    response = post_form(client, "/inbox", f"/tasks/{TOO_BIG}/claim")
    assert _signed_in_header(_page(response, 422))


def test_request_validation_message_is_chinese_with_english_per_field(api):
    client, _ = api
    detail = _shape(client.get("/api/v1/tasks", params={"limit": 0}), 422, "invalid_input")
    assert detail["message"].startswith("输入有误")
    [error] = detail["errors"]
    assert error["field"] == "query.limit" and error["message"] == "不能小于 1"
    assert error["type"] == "greater_than_equal" and "greater than or equal" in error["message_en"]


def test_request_invalid_body_lists_every_missing_field(api):
    client, task = api
    detail = _shape(client.post(f"/api/v1/tasks/{task.id}/cancel", json={}), 422, "invalid_input")
    assert detail["errors"][0]["field"] == "body.reason"
    assert detail["errors"][0]["message"] == "必填"


def test_request_malformed_json_is_422_shape(api):
    client, task = api
    response = client.post(
        f"/api/v1/tasks/{task.id}/cancel",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    detail = _shape(response, 422, "invalid_input")
    assert detail["errors"][0]["message"] == "JSON 格式有误"


def test_request_unknown_route_is_404_shape(api):
    client, _ = api
    detail = _shape(client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert detail["context"] == {"path": "/api/v1/no-such-thing"}
    assert detail["message"].startswith("找不到")


def test_request_wrong_method_is_405_shape_keeping_allow(api):
    client, _ = api
    response = client.delete("/api/v1/tasks")
    _shape(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


def test_page_unknown_route_is_html_404_with_the_header(web):
    client, _ = web
    page = _page(client.get("/no-such-page"), 404)
    assert "找不到" in page and _signed_in_header(page)


def test_page_domain_error_keeps_the_header(web):
    client, _ = web
    assert _signed_in_header(_page(client.get("/tasks/999"), 404))


def test_page_error_signed_out_has_no_user(setup):
    with TestClient(app) as client:
        page = _page(client.get("/no-such-page"), 404)
    assert "am_bj1" not in page and 'action="/logout"' not in page


def _boom() -> None:
    raise RuntimeError("the clock fell off the wall")


def test_request_unexpected_exception_is_500_shape_and_logged(api, caplog):
    client, _ = api
    app.dependency_overrides[get_clock] = _boom
    with caplog.at_level(logging.ERROR, logger="api.errors"):
        detail = _shape(client.get("/api/v1/tasks"), 500, "internal_error")
    assert "the clock fell off" not in detail["message"] and detail["context"] == {}
    assert any(r.exc_info and "the clock fell off" in str(r.exc_info[1]) for r in caplog.records)


def test_page_unexpected_exception_is_an_html_500(web):
    client, _ = web
    app.dependency_overrides[get_clock] = _boom
    page = _page(client.get("/inbox"), 500)
    assert "系统内部错误" in page and "the clock fell off" not in page


def test_read_timestamps_carry_their_time_zone(api):
    client, task = api
    entries = client.get("/api/v1/loans/L1/history").json()["entries"]
    assert entries and all(datetime.fromisoformat(e["wall_time"]).tzinfo for e in entries)
    client.post(f"/api/v1/tasks/{task.id}/claim")
    from tests.tasks.payloads import LOAN_CARD_CHECK

    done = client.post(f"/api/v1/tasks/{task.id}/complete", json={"data": LOAN_CARD_CHECK})
    assert datetime.fromisoformat(done.json()["completed_at"]).utcoffset() is not None


def test_openapi_documents_every_error_with_the_error_schema(api):
    client, _ = api
    spec = client.get("/openapi.json").json()
    assert "ErrorPublic" in spec["components"]["schemas"]
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = {s: r for s, r in operation["responses"].items() if s.startswith("4")}
            where = f"{method.upper()} {path}"
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in errors, where
            if path.startswith("/api/v1/") and path not in {"/api/v1/warnings/signals"}:
                assert "401" in errors, where
            for status, response in errors.items():
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorPublic"), (where, status)


def test_request_unparsable_body_is_422_not_400(api):
    client, task = api  # found by the fuzz: bytes that are not UTF-8 JSON gave an undocumented 400
    response = client.post(
        f"/api/v1/tasks/{task.id}/cancel",
        content=b"{\xff\x00r[",
        headers={"Content-Type": "application/json"},
    )
    detail = _shape(response, 422, "invalid_input")
    assert detail["errors"][0]["field"] == "body"


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/loans", {"q": "a\x00b"}, "query.q"),
        ("/api/v1/loans", {"branch": "BJ\x0001"}, "query.branch"),
        ("/api/v1/tasks", {"kind": "a\x00b"}, "query.kind"),
        ("/api/v1/approval-requests", {"state": "\x00"}, "query.state"),
    ],
)
def test_request_nul_in_query_is_422_not_500(api, path, params, field):
    client, _ = api  # Postgres refuses NUL in text: it was a 500 there
    detail = _shape(client.get(path, params=params), 422, "invalid_input")
    assert [e["field"] for e in detail["errors"]] == [field]
    assert detail["errors"][0]["message"] == "不能包含空字符 (NUL)"


def test_request_nul_in_body_text_is_422_not_500(api):
    client, task = api
    response = client.post(f"/api/v1/tasks/{task.id}/cancel", json={"reason": "a\x00b"})
    assert _shape(response, 422, "invalid_input")["errors"][0]["field"] == "body.reason"


def test_request_overlong_filter_is_422(api):
    client, _ = api
    detail = _shape(client.get("/api/v1/tasks", params={"kind": "k" * 65}), 422, "invalid_input")
    assert detail["errors"][0]["message"] == "最多 64 个字符"


def test_page_nul_in_query_is_an_html_422(web):
    client, _ = web
    assert _signed_in_header(_page(client.get("/inbox", params={"kind": "a\x00b"}), 422))
    assert _signed_in_header(_page(client.get("/loans", params={"q": "a\x00b"}), 422))
