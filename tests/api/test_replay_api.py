"""Replay over HTTP (回放): a loan's history with its tasks' and approval requests' entries, the
state and class on a chosen date, attachments with their hashes; refusal outside the loan's life
and for a loan the reader cannot see; the journal across loans ("everything head_bj approved")."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api import replay_world
from tests.api.browser import sign_in


@pytest.fixture
def world(session, org, clock):
    return replay_world.build(session, org, clock)


@pytest.fixture
def web(engine, world):
    with replay_world.web_client() as client:
        yield client


def _as(client: TestClient, username: str) -> TestClient:
    client.cookies.clear()
    sign_in(client, username)
    return client


def test_history_gathers_loan_task_and_request_entries_in_order(web, world):
    body = _as(web, "auditor").get("/api/v1/loans/L1/history").json()
    kinds = {e["aggregate_type"] for e in body["entries"]}
    assert {"loan", "task", "approval"} <= kinds
    keys = [(e["business_date"], e["id"]) for e in body["entries"]]
    assert keys == sorted(keys)
    # the extension: filed by am_bj1, decided by head_bj in the level task, the loan extended
    task_events = [e["event"] for e in body["entries"]
                   if e["aggregate_type"] == "task" and e["aggregate_id"] == str(world.extension_task_id)]  # fmt: skip
    assert task_events[:1] == ["open"] and "claim" in task_events and "complete" in task_events
    decision = next(e for e in body["entries"]
                    if e["aggregate_type"] == "approval" and e["payload"].get("decision") == "approve")  # fmt: skip
    assert decision["actor"] == "u:head_bj" and decision["actor_name"] == "孙建国"
    assert decision["wall_time"].endswith("Z") or decision["wall_time"].endswith("+00:00")
    completion = next(e for e in body["entries"]
                      if e["aggregate_type"] == "task" and e["event"] == "complete")  # fmt: skip
    assert completion["form_kind"] == "extension_review"
    assert completion["schema_version"] == 1 and len(completion["schema_hash"]) == 64
    assert completion["form_url"] == f"/journal/{completion['id']}"
    assert completion["payload"]["opinion"] == "经营正常，同意展期"
    assert body["state"] == "extended" and body["risk_class"] == "pass"
    assert body["matches_stored"] is True


def test_history_as_of_the_day_before_has_no_later_entries_and_the_old_state(web, world):
    client = _as(web, "auditor")
    before = client.get("/api/v1/loans/L1/history", params={"as_of": "2025-10-08"}).json()
    assert before["state"] == "normal"
    assert all(e["business_date"] <= "2025-10-08" for e in before["entries"])
    assert not any(e["aggregate_type"] == "approval" for e in before["entries"])
    on = client.get("/api/v1/loans/L1/history", params={"as_of": "2025-10-09"}).json()
    assert on["state"] == "extended"
    assert len(on["entries"]) > len(before["entries"])


def test_history_lists_the_evidence_with_its_hash(web, world):
    body = _as(web, "auditor").get("/api/v1/loans/L2/history").json()
    with_files = [e for e in body["entries"] if e["attachments"]]
    assert with_files, "the proposal's evidence is on the entry that filed it"
    [a] = with_files[0]["attachments"]
    assert a["sha256"] == world.evidence_sha256 and a["filename"] == "客户流失说明.pdf"
    assert a["url"] == f"/api/v1/attachments/{world.evidence_sha256}"
    assert body["risk_class"] == "special_mention"
    classified = [e for e in body["entries"] if e["machine"] == "risk_classification"
                  and e["to_state"] == "special_mention"]  # fmt: skip
    assert classified and classified[0]["from_state"] == "pass"


@pytest.mark.parametrize("as_of", ["2024-12-31", "2025-10-10"])
def test_history_outside_the_loans_life_is_refused_with_the_field(web, as_of):
    r = _as(web, "auditor").get("/api/v1/loans/L1/history", params={"as_of": as_of})
    assert r.status_code == 422, r.text
    assert "as_of" in r.text


def test_history_of_a_loan_outside_the_readers_branch_is_not_found(web):
    r = _as(web, "am_sh1").get("/api/v1/loans/L1/history")
    assert r.status_code == 404
    assert _as(web, "am_bj1").get("/api/v1/loans/L1/history").status_code == 200


def test_journal_everything_head_bj_approved(web, world):
    client = _as(web, "auditor")
    r = client.get("/api/v1/audit/journal", params={"actor": "head_bj", "event": "approve",
                                                     "from": "2025-10-01", "to": "2025-10-31"})  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 2 == len(body["data"])
    assert {e["loan_no"] for e in body["data"]} == {"L1", "L2"}
    assert all(
        e["actor"] == "u:head_bj" and e["aggregate_type"] == "approval" for e in body["data"]
    )
    none = client.get("/api/v1/audit/journal", params={"actor": "head_bj", "event": "approve",
                                                        "from": "2025-03-01", "to": "2025-03-31"})  # fmt: skip
    assert none.json()["count"] == 0
    committee = client.get("/api/v1/audit/journal", params={"actor": "committee1"}).json()
    assert {e["loan_no"] for e in committee["data"]} == {"L2"}


def test_journal_by_branch_and_page(web, world):
    client = _as(web, "admin")
    bj = client.get("/api/v1/audit/journal", params={"branch": "BJ01", "limit": 5}).json()
    assert bj["count"] > 5 and len(bj["data"]) == 5
    second = client.get("/api/v1/audit/journal", params={"branch": "BJ01", "limit": 5, "offset": 5})
    assert {e["id"] for e in bj["data"]}.isdisjoint({e["id"] for e in second.json()["data"]})
    sh = client.get("/api/v1/audit/journal", params={"branch": "SH01"}).json()
    assert sh["count"] == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [({"branch": "XX99"}, "branch"), ({"aggregate": "bogus"}, "aggregate"),
     ({"from": "2025-10-02", "to": "2025-10-01"}, "to"), ({"limit": 0}, "limit")],
)  # fmt: skip
def test_journal_bad_filters_are_422_naming_the_field(web, params, field):
    r = _as(web, "auditor").get("/api/v1/audit/journal", params=params)
    assert r.status_code == 422, r.text
    assert field in r.text


def test_journal_is_for_auditors_and_admins_only(web):
    assert _as(web, "head_bj").get("/api/v1/audit/journal").status_code == 403
    assert _as(web, "am_bj1").get("/api/v1/audit/journal").status_code == 403
