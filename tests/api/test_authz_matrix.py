"""The authorization matrix: every route of `api.main.app` × every role → the status expected,
in one table (MATRIX). A route without an entry fails, and so does an entry for a route that is
gone. Each request hits a real target in branch BJ01 (tests/api/authz_world.py) with a valid
body, so the authorization — not validation — decides. docs/authorization.md is this table."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from loans.demo import DEMO_PASSWORD
from tests.api import authz_world
from tests.api.authz_world import ANON, ROLES, Case, World, expected, live_routes, send
from tests.tasks.payloads import LOAN_CARD_CHECK

# --- the table ------------------------------------------------------------------------------
# Groups name who sees what; a row starts from its default, then applies each keyword in order
# (a group, then single roles): `case("L1", 404, sees=403, am=200)` — the loan L1: 404 to all,
# but 403 to those who see it, and 200 to its account manager.
# Unless a row says otherwise, `anon` (no sign-in) gets 401 on /api and 303 (to /login) on pages.
GROUPS: dict[str, tuple[str, ...]] = {
    "everyone": tuple(ROLES),
    "signed_in": tuple(r for r in ROLES if r != "anon"),
    # everyone whose org subtree holds BJ01 (head office included), the auditor, and the deputy
    # through am_bj1; am_other (SH01) and am_sub (BJ0101, below BJ01) do not see BJ01's loans
    "sees": ("am", "risk", "head", "committee", "disposal", "auditor", "admin", "deputy"),
}


def row(default: int, /, **changes: int) -> dict[str, int]:
    expect = dict.fromkeys(ROLES, default) | {"anon": ANON}
    for name, status in changes.items():
        for role in GROUPS.get(name, (name,)):
            assert role in ROLES, f"unknown role or group {name!r}"
            expect[role] = status
    return expect


def case(target: str, default: int, /, body: Mapping[str, Any] | None = None,
         upload: bool = False, extra: Mapping[str, str] | None = None,
         xfail: Mapping[str, str] | None = None, **changes: int) -> Case:  # fmt: skip
    return Case(target, row(default, **changes), body, upload, dict(extra or {}),
                dict(xfail or {}))  # fmt: skip


SIGN_IN = {"username": "am_bj1", "password": DEMO_PASSWORD}
EXTENSION = {"new_maturity_date": "2026-07-15", "reason": "下游客户回款延迟"}
PROPOSAL = {"proposed_class": "special_mention", "reason": "主要客户流失，销售额下降三成"}
REASON = {"reason": "借款人已停止经营，清收无进展"}
WARNING = {"signals": ["guarantor_release"], "description": "保证人要求解除担保"}
PAGE_WARNING = {"signals": "guarantor_release", "description": "保证人要求解除担保"}
PAGE_LOAN_CARD_CHECK = {
    "_action": "complete",
    **{k: v for k, v in LOAN_CARD_CHECK.items() if v != []},
}

MATRIX: dict[str, list[Case]] = {
    # public: documentation, health, sign-in, reference data (the early-warning signal codes)
    "GET /openapi.json": [case("none", 200, everyone=200)],
    "GET /docs": [case("none", 200, everyone=200)],
    "GET /redoc": [case("none", 200, everyone=200)],
    "GET /healthz": [case("none", 200, everyone=200)],
    "POST /api/v1/auth/token": [case("none", 200, body=SIGN_IN, everyone=200)],
    "GET /api/v1/warnings/signals": [case("none", 200, everyone=200)],
    "GET /": [case("none", 303, everyone=303)],
    "GET /login": [case("none", 200, everyone=200)],
    "POST /login": [case("none", 303, body=SIGN_IN, everyone=303)],
    "POST /logout": [case("none", 303, everyone=303)],
    # the loan book: lists are filtered to what one sees; a loan outside it does not exist
    "GET /api/v1/loans": [case("none", 200)],
    "GET /api/v1/loans/{loan_no}": [case("L1", 404, sees=200)],
    "GET /api/v1/loans/{loan_no}/history": [case("L1", 404, sees=200)],
    "GET /loans": [case("none", 200)],
    "GET /loans/{loan_no}": [case("L1", 404, sees=200)],
    # replay: whoever sees the loan reads its timeline, diagram and each entry (the form as
    # submitted); the journal across loans is for auditors and administrators
    "GET /loans/{loan_no}/timeline": [case("L1", 404, sees=200)],
    "GET /loans/{loan_no}/timeline/lifecycle.svg": [case("L1", 404, sees=200)],
    "GET /journal/{entry_id}": [case("entry", 404, sees=200)],
    "GET /api/v1/audit/journal": [case("none", 403, auditor=200, admin=200)],
    "GET /audit/journal": [case("none", 403, auditor=200, admin=200)],
    # human tasks: candidates claim, the assignee works, a head (or admin) reassigns or cancels;
    # the deputy acts as am_bj1; the auditor reads only
    "GET /api/v1/tasks": [case("none", 200)],
    "GET /inbox": [case("none", 200)],
    "GET /api/v1/tasks/{task_id}": [case("open_task", 404, sees=200)],
    "GET /tasks/{task_id}": [case("open_task", 404, sees=200)],
    "POST /api/v1/tasks/{task_id}/claim": [
        case("open_task", 404, body={}, sees=403, am=200, deputy=200)
    ],
    "POST /tasks/{task_id}/claim": [case("open_task", 404, sees=403, am=303, deputy=303)],
    "POST /api/v1/tasks/{task_id}/release": [
        case("claimed_task", 404, body={}, sees=403, am=200, deputy=200)
    ],
    "POST /tasks/{task_id}/release": [case("claimed_task", 404, sees=403, am=303, deputy=303)],
    "POST /api/v1/tasks/{task_id}/draft": [
        case(
            "claimed_task",
            404,
            body={"data": {"conclusion": "normal"}},
            sees=403,
            am=200,
            deputy=200,
        )  # fmt: skip
    ],
    "POST /api/v1/tasks/{task_id}/complete": [
        case("claimed_task", 404, body={"data": LOAN_CARD_CHECK}, sees=403, am=200, deputy=200)
    ],
    "POST /tasks/{task_id}": [
        case("claimed_task", 404, body=PAGE_LOAN_CARD_CHECK, sees=403, am=303, deputy=303)
    ],
    "POST /api/v1/tasks/{task_id}/delegate": [
        case(
            "claimed_task",
            404,
            body={"to": "am_bj2"},
            sees=403,
            am=200,
            deputy=200,
            head=200,
            admin=200,
        )  # fmt: skip
    ],
    "POST /tasks/{task_id}/assign": [
        case(
            "open_task", 404, body={"to": "am_bj2", "reason": "就近"}, sees=403, head=303, admin=303
        )  # fmt: skip
    ],
    "POST /api/v1/tasks/{task_id}/cancel": [
        case("open_task", 404, body={"reason": "重复任务"}, sees=403, head=200, admin=200)
    ],
    # approval requests: filed by FILERS (approvals/requests.py) of the loan's branch; read by
    # whoever sees the branch; withdrawn by the applicant or a head (or admin)
    "POST /api/v1/loans/{loan_no}/extension-requests": [
        case("L1", 404, body=EXTENSION, sees=403, am=201, deputy=201)
    ],
    "POST /api/v1/loans/{loan_no}/classification-proposals": [
        case("L1", 404, body=PROPOSAL, sees=403, am=201, deputy=201, risk=201)
    ],
    "POST /api/v1/loans/{loan_no}/write-off-requests": [
        case("L3", 404, body=REASON, sees=403, am=201, deputy=201, disposal=201)
    ],
    "POST /api/v1/loans/{loan_no}/handover-requests": [
        case("L3", 404, body=REASON, sees=403, am=201, deputy=201, risk=201)
    ],
    "POST /api/v1/loans/{loan_no}/warnings": [
        case("L1", 404, body=WARNING, sees=403, am=201, deputy=201, risk=201, head=201)
    ],
    "GET /loans/{loan_no}/apply/{kind}": [
        case("L1", 404, extra={"kind": "extension"}, sees=403, am=200, deputy=200),
        case(
            "L1", 404, extra={"kind": "classification"}, sees=403, am=200, deputy=200, risk=200
        ),  # fmt: skip
        case("L3", 404, extra={"kind": "write_off"}, sees=403, am=200, deputy=200, disposal=200),
        case("L3", 404, extra={"kind": "handover"}, sees=403, am=200, deputy=200, risk=200),
        case(
            "L1",
            404,
            extra={"kind": "warning_report"},
            sees=403,
            am=200,
            deputy=200,
            risk=200,
            head=200,
        ),  # fmt: skip
    ],
    "POST /loans/{loan_no}/apply/{kind}": [
        case(
            "L1", 404, body=EXTENSION, extra={"kind": "extension"}, sees=403, am=303, deputy=303
        ),  # fmt: skip
        case(
            "L1",
            404,
            body=PROPOSAL,
            extra={"kind": "classification"},
            sees=403,
            am=303,
            deputy=303,
            risk=303,
        ),  # fmt: skip
        case(
            "L3",
            404,
            body=REASON,
            extra={"kind": "write_off"},
            sees=403,
            am=303,
            deputy=303,
            disposal=303,
        ),  # fmt: skip
        case(
            "L3",
            404,
            body=REASON,
            extra={"kind": "handover"},
            sees=403,
            am=303,
            deputy=303,
            risk=303,
        ),  # fmt: skip
        case(
            "L1",
            404,
            body=PAGE_WARNING,
            extra={"kind": "warning_report"},
            sees=403,
            am=303,
            deputy=303,
            risk=303,
            head=303,
        ),  # fmt: skip
    ],
    "GET /api/v1/approval-requests": [case("none", 200)],
    "GET /api/v1/loans/{loan_no}/requests": [case("L2", 404, sees=200)],
    "GET /api/v1/loans/{loan_no}/extension-requests": [case("L2", 404, sees=200)],
    "GET /api/v1/loans/{loan_no}/classification-proposals": [case("L2", 404, sees=200)],
    "GET /api/v1/loans/{loan_no}/warnings": [case("L2", 404, sees=200)],
    "GET /api/v1/approval-requests/{request_id}": [case("request", 404, sees=200)],
    "GET /requests/{request_id}": [case("request", 404, sees=200)],
    "POST /api/v1/approval-requests/{request_id}/withdraw": [
        case("request", 404, body=REASON, sees=403, am=200, deputy=200, head=200, admin=200)
    ],
    "POST /requests/{request_id}/withdraw": [
        case("request", 404, body=REASON, sees=403, am=303, deputy=303, head=303, admin=303)
    ],
    # attachments: anyone who works uploads; a file is read by whoever sees what it belongs to
    "POST /api/v1/attachments": [case("none", 201, upload=True, auditor=403)],
    "GET /api/v1/attachments/{sha256}": [case("attachment", 404, sees=200)],
    # the journal's verification: auditors and administrators
    "GET /api/v1/audit/verify": [case("none", 403, auditor=200, admin=200)],
    # the operations and portfolio reports: everyone who does or supervises post-loan work,
    # auditors; not the asset-disposal unit (reports/scope.py READERS), each over the subtree
    # they see
    "GET /api/v1/reports/operations": [case("none", 200, disposal=403)],
    "GET /api/v1/reports/operations.csv": [case("none", 200, disposal=403)],
    "GET /reports/operations": [case("none", 200, disposal=403)],
    "GET /reports/operations/coverage.svg": [case("none", 200, disposal=403)],
    "GET /api/v1/reports/portfolio": [case("none", 200, disposal=403)],
    "GET /api/v1/reports/portfolio.csv": [case("none", 200, disposal=403)],
    "GET /api/v1/reports/portfolio.xlsx": [case("none", 200, disposal=403)],
    "GET /reports": [case("none", 200, disposal=403)],
    # the simulation's book is the whole bank's: head office and auditors read it
    "GET /api/v1/reports/simulation": [
        case("simulation", 403, committee=200, auditor=200, admin=200)
    ],
    "GET /reports/simulation": [case("simulation", 403, committee=200, auditor=200, admin=200)],
    "GET /reports/tiers.svg": [case("none", 200, disposal=403)],
    "GET /reports/roll.svg": [case("none", 200, disposal=403)],
    "GET /api/v1/reports/student-loans": [case("none", 200, disposal=403)],
    "GET /api/v1/reports/student-loans.csv": [case("none", 200, disposal=403)],
    "GET /reports/student-loans": [case("none", 200, disposal=403)],
    "GET /api/v1/audit/export": [case("none", 403, auditor=200, admin=200)],  # CSV by default
}


# --- the tests ------------------------------------------------------------------------------
def _cases() -> Iterator[Any]:
    for key in live_routes():
        for c in MATRIX.get(key, [None]):  # type: ignore[list-item]
            for role in ROLES:
                marks = []
                if c is not None and role in c.xfail:
                    marks.append(pytest.mark.xfail(strict=True, reason=c.xfail[role]))
                label = c.label if c else "no-entry"
                yield pytest.param(key, c, role, id=f"{key} {label} {role}", marks=marks)


@pytest.fixture(scope="module")
def world(migrated_engine, database_url, tmp_path_factory) -> Iterator[World]:
    """One world per module (per backend): built once, restored after every request."""
    yield from authz_world.open_world(migrated_engine, database_url, tmp_path_factory.mktemp("a"))


# Lists answer 200 to everyone signed in: what they hold is the check. Each names a target and
# how to find it in the answer; the `sees` group finds it, nobody else does.
LISTS: dict[str, tuple[str, Mapping[str, str], Callable[[httpx.Response, dict], bool]]] = {
    "GET /api/v1/loans": ("L1", {"limit": "200"},
                          lambda r, p: p["loan_no"] in {d["loan_no"] for d in r.json()["data"]}),
    "GET /api/v1/tasks": ("open_task", {"view": "all"},
                          lambda r, p: int(p["task_id"]) in {d["id"] for d in r.json()["data"]}),
    "GET /api/v1/approval-requests": ("request", {},
                          lambda r, p: int(p["request_id"]) in {d["id"] for d in r.json()["data"]}),
    "GET /loans": ("L1", {}, lambda r, p: f'href="/loans/{p["loan_no"]}"' in r.text),
    "GET /inbox": ("open_task", {"view": "all"},
                   lambda r, p: f'data-task-id="{p["task_id"]}"' in r.text),
}  # fmt: skip


@pytest.mark.parametrize("role", GROUPS["signed_in"])
@pytest.mark.parametrize("key", list(LISTS))
def test_list_holds_a_target_only_for_those_who_see_it(world, key, role):
    target, query, holds = LISTS[key]
    response = send(world, key, Case(target, {}), role, query)
    assert response.status_code == 200
    assert holds(response, world.params[target]) == (role in GROUPS["sees"]), f"{role} on {key}"


DOC = Path(__file__).parents[2] / "docs" / "authorization.md"
START, END = (
    "<!-- matrix:start (generated by tests/api/test_authz_matrix.py) -->",
    "<!-- matrix:end -->",
)


def render_markdown() -> str:
    """The matrix as the table in docs/authorization.md (`python -m tests.api.test_authz_matrix`
    rewrites it)."""
    lines = [
        "| route | target | " + " | ".join(ROLES) + " |",
        "|---|---|" + "---|" * len(ROLES),
    ]
    for key in MATRIX:  # in the order the table is written: by concept
        for c in MATRIX[key]:
            cells = [f"{expected(key, c, r)}{'*' if r in c.xfail else ''}" for r in ROLES]
            lines.append(f"| `{key}` | {c.label} | " + " | ".join(cells) + " |")
    return "\n".join([START, *lines, END])


def test_doc_shows_the_matrix():
    text = DOC.read_text(encoding="utf-8")
    current = text[text.index(START) : text.index(END) + len(END)] if START in text else ""
    assert current == render_markdown(), (
        "docs/authorization.md is not the matrix: run `python -m tests.api.test_authz_matrix`"
    )


def test_matrix_names_only_live_routes():
    gone = sorted(set(MATRIX) - set(live_routes()))
    assert not gone, f"MATRIX has entries for routes the app no longer serves: {gone}"


@pytest.mark.parametrize(("key", "c", "role"), list(_cases()))
def test_route_answers_each_role_as_the_matrix_says(world, key, c, role):
    if c is None:
        pytest.fail(f"{key} has no entry in MATRIX: say who may use it")
    status = send(world, key, c, role).status_code
    assert status == expected(key, c, role), f"{role} ({ROLES[role]}) on {key} [{c.label}]"


if __name__ == "__main__":  # rewrite the doc's table from MATRIX
    text = DOC.read_text(encoding="utf-8")
    head, tail = text.split(START)[0], text.split(END)[1]
    DOC.write_text(head + render_markdown() + tail, encoding="utf-8")
