"""Replay pages without a browser: the loan's timeline as of a date (state and class on that date,
who / on behalf / why, links to forms and attachments, the lifecycle diagram as an <img> of our
own SVG route with its own CSP, or a note without graphviz), the re-opened form of an approval
with who and when, and the journal across loans; Chinese first, English with ?lang=en."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api import lifecycle_diagram
from tests.api import replay_world
from tests.api.browser import sign_in


@pytest.fixture
def world(session, org, clock):
    return replay_world.build(session, org, clock)


@pytest.fixture
def web(engine, world):
    with replay_world.web_client() as client:
        sign_in(client, "auditor")
        yield client


def _text(html: str, testid: str) -> str:
    m = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</', html, re.S)
    assert m, testid
    return m.group(1).strip()


def test_timeline_state_and_class_on_the_chosen_date(web):
    before = web.get("/loans/L1/timeline", params={"as_of": "2025-10-08"})
    assert before.status_code == 200, before.text
    assert _text(before.text, "replayed-state") == "正常"
    on = web.get("/loans/L1/timeline", params={"as_of": "2025-10-09"}).text
    assert _text(on, "replayed-state") == "展期"
    assert _text(on, "replayed-class") == "正常"  # pass (正常类)
    l2 = web.get("/loans/L2/timeline", params={"as_of": "2025-10-09"}).text
    assert _text(l2, "replayed-class") == "关注"
    assert 'data-aggregate="task"' in on and 'data-aggregate="approval"' in on
    assert 'data-aggregate="approval"' not in before.text


def test_timeline_names_people_and_links_forms_and_evidence(web, world):
    html = web.get("/loans/L2/timeline").text
    assert "孙建国" in html and "钱宏" in html and "王晓明" in html  # head_bj, committee1, am_bj1
    assert "主要客户流失，销售额下降三成" in html  # why
    assert f'data-sha256="{world.evidence_sha256}"' in html
    assert f'href="/api/v1/attachments/{world.evidence_sha256}"' in html
    forms = re.findall(r'href="(/journal/\d+)" data-testid="open-form"', html)
    assert forms and all(web.get(u).status_code == 200 for u in forms)
    assert "UTC+0800" in html  # times in the bank's zone, with the offset


def test_timeline_in_english(web):
    html = web.get("/loans/L1/timeline", params={"lang": "en"}).text
    assert "Replay" in html and "Extended" in html and "Path taken" in html


def test_timeline_outside_the_loans_life_refused_and_unseen_loan_not_found(web):
    assert web.get("/loans/L1/timeline", params={"as_of": "2024-12-01"}).status_code == 422
    web.cookies.clear()
    sign_in(web, "am_sh1")
    assert web.get("/loans/L1/timeline").status_code == 404
    assert web.get("/loans/L1/timeline/lifecycle.svg").status_code == 404


@pytest.mark.skipif(not lifecycle_diagram.available(), reason="graphviz `dot` is not installed")
def test_diagram_is_our_svg_with_the_path_highlighted_and_a_locked_csp(web):
    html = web.get("/loans/L1/timeline").text
    assert 'src="/loans/L1/timeline/lifecycle.svg"' in html and "<svg" not in html
    r = web.get("/loans/L1/timeline/lifecycle.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert "script-src" not in r.headers["content-security-policy"]
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    assert "<svg" in r.text and lifecycle_diagram.PATH_COLOR in r.text
    old = web.get("/loans/L1/timeline/lifecycle.svg", params={"as_of": "2025-10-08"}).text
    assert old != r.text  # the extension is not on the path yet


def test_without_graphviz_the_page_says_so(web, monkeypatch):
    monkeypatch.setattr(lifecycle_diagram, "available", lambda: False)
    lifecycle_diagram.lifecycle_svg.cache_clear()
    html = web.get("/loans/L1/timeline").text
    assert 'data-testid="diagram-missing"' in html and "Graphviz" in html
    assert 'data-testid="lifecycle-diagram"' not in html
    assert web.get("/loans/L1/timeline/lifecycle.svg").status_code == 404
    lifecycle_diagram.lifecycle_svg.cache_clear()


def _decision_entry(web: TestClient, loan_no: str, actor: str) -> int:
    body = web.get(f"/api/v1/loans/{loan_no}/history").json()
    return next(e["id"] for e in body["entries"] if e["aggregate_type"] == "approval"
                and e["actor"] == f"u:{actor}" and e["payload"].get("decision"))  # fmt: skip


def test_reopened_approval_shows_the_form_as_submitted_with_who_and_when(web, world):
    entry_id = _decision_entry(web, "L1", "head_bj")
    html = web.get(f"/journal/{entry_id}").text
    assert "孙建国" in _text(html, "entry-actor")
    assert "2025-10-09" in _text(html, "entry-time") and "15:00" in _text(html, "entry-time")
    assert _text(html, "entry-decision") == "同意"
    assert "经营正常，同意展期" in html and 'data-testid="submitted-form"' in html
    assert "disabled" in html.split('data-testid="submitted-form"')[1]  # read-only
    assert f'href="/tasks/{world.extension_task_id}"' in html
    assert f'href="/requests/{world.extension.id}"' in html
    assert "第 1 版" in _text(html, "entry-version")
    assert "<form" not in html.split('data-testid="submitted-form"')[1].split("</main>")[0]


def test_reopened_proposal_lists_its_evidence_with_the_hash(web, world):
    body = web.get("/api/v1/loans/L2/history").json()
    filed = next(e for e in body["entries"] if e["attachments"])
    html = web.get(f"/journal/{filed['id']}").text
    assert (
        world.evidence_sha256 in _text(html, "entry-attachments") or world.evidence_sha256 in html
    )
    assert "客户流失说明.pdf" in html


def test_entry_of_an_unseen_loan_is_not_found_like_a_missing_one(web):
    entry_id = _decision_entry(web, "L1", "head_bj")
    web.cookies.clear()
    sign_in(web, "am_sh1")
    assert web.get(f"/journal/{entry_id}").status_code == 404
    assert web.get("/journal/999999").status_code == 404


def test_audit_journal_page_filters_like_the_api(web):
    html = web.get("/audit/journal", params={"who": "head_bj", "event": "approve",
                                              "start": "2025-10-01", "end": "2025-10-31"}).text  # fmt: skip
    assert _text(html, "journal-count").startswith("2")
    assert html.count('data-testid="open-form"') == 2
    en = web.get("/audit/journal", params={"who": "head_bj", "lang": "en"}).text
    assert "Journal" in en
    bad = web.get("/audit/journal", params={"branch": "XX99"})
    assert bad.status_code == 422


def test_audit_journal_page_refused_to_a_branch_head(web):
    web.cookies.clear()
    sign_in(web, "head_bj")
    assert web.get("/audit/journal").status_code == 403
