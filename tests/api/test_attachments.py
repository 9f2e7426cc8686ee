"""/api/v1/attachments: who may read a file (what references it, else its uploader), which types
are accepted (checked against the bytes), how files are served, the size caps, and the security
headers on every kind of response."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from api.deps import get_clock
from api.main import app
from core.clock import FixedClock
from loans.demo import DEMO_PASSWORD
from tasks.models import Attachment, AttachmentLink
from tests.factories import make_loan
from tests.tasks.conftest import new_task

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
HTML = b"<html><script>fetch('/api/v1/tasks')</script></html>"


@pytest.fixture
def api(engine, session, org, clock, tmp_path, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("POSTLOAN_ATTACHMENTS_DIR", str(tmp_path / "att"))
    get_settings.cache_clear()
    loan = make_loan(session, org, clock, "L1")
    task = new_task(session, org, clock, loan, kind="customer_visit")
    fixed = FixedClock()
    fixed.set_date(date(2025, 3, 3))
    app.dependency_overrides[get_clock] = lambda: fixed
    with TestClient(app) as client:
        yield client, task
    app.dependency_overrides.clear()
    get_settings.cache_clear()


def _h(client, username):
    token = client.post(
        "/api/v1/auth/token", data={"username": username, "password": DEMO_PASSWORD}
    ).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def _upload(client, who, data=PNG, name="site.png", content_type="image/png"):
    return client.post(
        "/api/v1/attachments", headers=who, files={"file": (name, data, content_type)}
    )


def _in_draft(client, who, task, ref):
    """The uploader claims the visit task and saves a draft holding the photo."""
    claimed = client.post(f"/api/v1/tasks/{task.id}/claim", json={}, headers=who)
    assert claimed.status_code == 200, claimed.text
    saved = client.post(
        f"/api/v1/tasks/{task.id}/draft", json={"data": {"photos": [ref]}}, headers=who
    )
    assert saved.status_code == 200, saved.text


def test_download_own_unreferenced_upload_200(api):
    client, _ = api
    am = _h(client, "am_bj1")
    ref = _upload(client, am).json()
    down = client.get(f"/api/v1/attachments/{ref['sha256']}", headers=am)
    assert down.status_code == 200 and down.content == PNG


def test_download_colleagues_unreferenced_upload_404(api):
    client, _ = api
    ref = _upload(client, _h(client, "am_bj1")).json()
    down = client.get(f"/api/v1/attachments/{ref['sha256']}", headers=_h(client, "am_bj2"))
    assert down.status_code == 404 and down.json()["detail"]["code"] == "not_found"


def test_download_referenced_by_task_reader_may_read_200(api):
    client, task = api
    am = _h(client, "am_bj1")
    ref = _upload(client, am).json()
    _in_draft(client, am, task, ref)
    for reader in ("am_bj2", "head_bj", "auditor"):  # the task's branch, its head, an auditor
        down = client.get(f"/api/v1/attachments/{ref['sha256']}", headers=_h(client, reader))
        assert down.status_code == 200 and down.content == PNG, reader


def test_download_cross_branch_404_like_unknown_file(api):
    client, task = api
    am = _h(client, "am_bj1")
    ref = _upload(client, am).json()
    _in_draft(client, am, task, ref)
    sh = _h(client, "am_sh1")
    other = client.get(f"/api/v1/attachments/{ref['sha256']}", headers=sh)
    unknown = client.get(f"/api/v1/attachments/{'0' * 64}", headers=sh)
    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"]["code"] == unknown.json()["detail"]["code"] == "not_found"


def test_download_referenced_upload_cross_branch_uploader_sees_it_through_task_only(
    api, session, org
):
    """SH01 uploads the same bytes a BJ01 task holds: the file is referenced, so SH01 reads it
    only through what references it — no upload opens someone else's evidence."""
    client, task = api
    am = _h(client, "am_bj1")
    ref = _upload(client, am).json()
    _in_draft(client, am, task, ref)
    sh = _h(client, "am_sh1")
    assert _upload(client, sh).status_code == 201
    assert client.get(f"/api/v1/attachments/{ref['sha256']}", headers=sh).status_code == 404


def test_upload_text_html_refused_422_naming_field_and_type(api, session):
    client, _ = api
    up = _upload(client, _h(client, "am_sh1"), HTML, "x.html", "text/html")
    assert up.status_code == 422
    error = up.json()["detail"]["errors"][0]
    assert error["field"] == "file" and "text/html" in error["message"]
    assert error["message"].startswith("不接受") and "text/html" in error["message_en"]
    assert session.exec(select(Attachment)).all() == []


def test_upload_png_declared_with_html_bytes_refused_422(api, session, tmp_path):
    client, _ = api
    up = _upload(client, _h(client, "am_bj1"), HTML, "x.png", "image/png")
    assert up.status_code == 422
    error = up.json()["detail"]["errors"][0]
    assert error["field"] == "file" and "image/png" in error["message"]
    assert session.exec(select(Attachment)).all() == []
    assert not (tmp_path / "att").exists() or not any((tmp_path / "att").rglob("*"))


def test_upload_octet_stream_with_png_bytes_stored_as_png(api):
    client, _ = api
    up = _upload(client, _h(client, "am_bj1"), PNG, "photo", "application/octet-stream")
    assert up.status_code == 201 and up.json()["content_type"] == "image/png"


def test_download_pdf_served_as_attachment_image_inline(api):
    client, _ = api
    am = _h(client, "am_bj1")
    pdf = _upload(client, am, PDF, "合同.pdf", "application/pdf").json()
    png = _upload(client, am).json()
    got = client.get(f"/api/v1/attachments/{pdf['sha256']}", headers=am)
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E5%90%88%E5%90%8C.pdf" in got.headers["content-disposition"]
    assert "sandbox" in got.headers["content-security-policy"]
    shown = client.get(f"/api/v1/attachments/{png['sha256']}", headers=am)
    assert shown.headers["content-disposition"].startswith("inline;")


def test_download_html_stored_before_type_checks_served_as_octet_stream_download(
    api, session, org, clock
):
    """A row stored before this check (the SH01 → BJ01 attack) is defused on the way out."""
    from tasks import attachments

    client, _ = api
    am = org.users["am_bj1"]
    ref = attachments.store(
        session, data=HTML, filename="x.html", content_type="text/html",
        uploaded_by=am.id, now=clock.now(), generated=True,
    )  # fmt: skip
    session.commit()
    got = client.get(f"/api/v1/attachments/{ref.sha256}", headers=_h(client, "am_bj1"))
    assert got.status_code == 200 and got.content == HTML
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert got.headers["x-content-type-options"] == "nosniff"


def test_upload_over_file_limit_422_with_error_shape(api, monkeypatch):
    from core.settings import get_settings

    client, _ = api
    monkeypatch.setenv("POSTLOAN_ATTACHMENT_MAX_BYTES", "100")
    get_settings.cache_clear()
    up = _upload(client, _h(client, "am_bj1"), PNG + b"\x00" * 200)
    assert up.status_code == 422
    detail = up.json()["detail"]
    assert set(detail) >= {"code", "message", "context"} and detail["context"]["max_bytes"] == 100
    assert detail["errors"][0]["field"] == "file" and "MB" in detail["errors"][0]["message"]


def test_request_over_body_limit_413_before_reading(api, monkeypatch, session):
    from core.settings import get_settings

    client, _ = api
    am = _h(client, "am_bj1")
    monkeypatch.setenv("POSTLOAN_REQUEST_MAX_BYTES", "1000")
    get_settings.cache_clear()
    up = _upload(client, am, PNG + b"\x00" * 5000)
    assert up.status_code == 413
    detail = up.json()["detail"]
    assert detail["code"] == "request_too_large" and detail["context"]["max_bytes"] == 1000
    assert detail["message"].startswith("请求内容超过")
    assert up.headers["x-content-type-options"] == "nosniff"
    assert session.exec(select(Attachment)).all() == []


def test_request_streamed_without_length_over_limit_413(api, monkeypatch, session):
    from core.settings import get_settings

    client, _ = api
    am = _h(client, "am_bj1")
    monkeypatch.setenv("POSTLOAN_REQUEST_MAX_BYTES", "1000")
    get_settings.cache_clear()
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()

    def chunks():  # no Content-Length: counted as it streams
        yield head + PNG
        for _ in range(10):
            yield b"\x00" * 500
        yield f"\r\n--{boundary}--\r\n".encode()

    up = client.post(
        "/api/v1/attachments",
        headers={**am, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=chunks(),
    )
    assert up.status_code == 413 and up.json()["detail"]["code"] == "request_too_large"
    assert session.exec(select(Attachment)).all() == []


def test_security_headers_on_api_page_static_404_and_errors(api):
    client, _ = api
    am = _h(client, "am_bj1")
    responses = {
        "api": client.get("/api/v1/tasks", headers=am),
        "page": client.get("/login"),
        "static": client.get("/static/app.css"),
        "404": client.get("/no/such/page"),
        "api 404": client.get("/api/v1/tasks/999999", headers=am),
        "401": client.get("/api/v1/tasks"),
        "422": _upload(client, am, HTML, "x.html", "text/html"),
    }
    for what, response in responses.items():
        assert response.headers["x-content-type-options"] == "nosniff", what
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, what
        assert response.headers["x-frame-options"] == "DENY", what
        assert response.headers["referrer-policy"] == "same-origin", what


def test_security_headers_on_unhandled_500():
    def boom() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/__test_boom", boom)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.get("/__test_boom")
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in response.headers["content-security-policy"]


def test_upload_records_uploader_link(api, session, org):
    client, _ = api
    ref = _upload(client, _h(client, "am_bj1")).json()
    links = session.exec(select(AttachmentLink).where(AttachmentLink.sha256 == ref["sha256"])).all()
    assert [(link.owner_type, link.owner_id) for link in links] == [
        ("upload", org.users["am_bj1"].id)
    ]
