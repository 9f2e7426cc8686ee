"""Human tasks through their whole life: queue → claim → inbox → complete → archive, and every
refusal on the way (permissions, cross-branch, four eyes, double submits)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import func, select

from audit.journal import JournalEntry, chain
from core.errors import NotFoundError, ValidationError
from core.identity import Role, add_substitute, add_user, user_by_username
from statemachines.enums import TaskState
from statemachines.human_task import TaskPermissionError
from tasks import attachments, service
from tasks.errors import (
    SameApproverError,
    SelfApprovalError,
    TaskAlreadyClaimedError,
    TaskAlreadyCompletedError,
    TaskNotClaimedError,
    VisitInspectorsError,
)
from tasks.models import Outbox
from tasks.worklist import TaskFilter, View, counts, worklist
from tests.tasks.conftest import TODAY, as_user, new_task
from tests.tasks.payloads import (
    CLASSIFICATION_APPROVE,
    EXTENSION_APPROVE,
    LOAN_CARD_CHECK,
    customer_visit,
)


def _ids(session, actor, view, **filters):
    rows, _ = worklist(session, actor, view, today=TODAY, filters=TaskFilter(**filters))
    return [t.id for t in rows]


def _claim(session, clock, task, username):
    result = service.claim(
        session, task.id, as_user(session, username), now=clock.now(), business_date=TODAY
    )
    session.commit()
    return result


def _complete(session, clock, task, username, data):
    result = service.complete(
        session, task.id, as_user(session, username), data, now=clock.now(), business_date=TODAY
    )
    session.commit()
    return result


def test_lifecycle_queue_claim_inbox_complete_archive(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    am = as_user(session, "am_bj1")
    assert (task.loan_no, task.borrower_name, task.product) == ("L1", "客户C-L1", "working_capital")
    assert task.exposure_cents == 120_000_00 and task.bucket == "M1"  # due 2025-02-15 unpaid
    assert _ids(session, am, View.queue) == [task.id]
    _claim(session, clock, task, "am_bj1")
    assert _ids(session, am, View.queue) == [] and _ids(session, am, View.inbox) == [task.id]
    assert _ids(session, as_user(session, "am_bj2"), View.queue) == []  # gone for the others
    done = _complete(session, clock, task, "am_bj1", LOAN_CARD_CHECK)
    assert done.state == TaskState.completed and done.result["conclusion"] == "normal"
    assert _ids(session, am, View.inbox) == [] and _ids(session, am, View.archive) == [task.id]
    events = [(e.event, e.actor) for e in chain(session, "task", str(task.id))]
    assert events == [("open", "system:test"), ("claim", "u:am_bj1"), ("complete", "u:am_bj1")]
    last = chain(session, "task", str(task.id))[-1]
    assert last.form_kind == "loan_card_check" and len(last.schema_hash) == 64
    assert last.payload["conclusion"] == "normal"


def test_open_task_same_key_twice_returns_existing(session, org, clock, loan):
    first = new_task(session, org, clock, loan)
    second = new_task(session, org, clock, loan)
    assert first.id == second.id
    assert (
        session.exec(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.aggregate_type == "task")
        ).one()
        == 1
    )


def test_claim_other_branch_not_found_no_leak(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    with pytest.raises(NotFoundError):
        _claim(session, clock, task, "am_sh1")
    assert _ids(session, as_user(session, "am_sh1"), View.queue) == []
    assert _ids(session, as_user(session, "am_sh1"), View.all) == []


def test_claim_wrong_role_refused(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    with pytest.raises(TaskPermissionError, match="not a candidate"):
        _claim(session, clock, task, "rm_bj")


def test_claim_twice_second_already_claimed_names_assignee(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    with pytest.raises(TaskAlreadyClaimedError, match="already claimed by am_bj1"):
        _claim(session, clock, task, "am_bj2")


def test_complete_twice_one_completion_conflict(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    _complete(session, clock, task, "am_bj1", LOAN_CARD_CHECK)
    with pytest.raises(TaskAlreadyCompletedError, match="already completed by am_bj1"):
        _complete(session, clock, task, "am_bj1", LOAN_CARD_CHECK)
    session.rollback()
    assert [e.event for e in chain(session, "task", str(task.id))].count("complete") == 1


def test_complete_without_claim_refused(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    with pytest.raises(TaskNotClaimedError, match="claim it first"):
        _complete(session, clock, task, "am_bj1", LOAN_CARD_CHECK)


def test_complete_invalid_form_names_fields_nothing_saved(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    with pytest.raises(ValidationError) as info:
        _complete(session, clock, task, "am_bj1", {"conclusion": "maybe"})
    fields = {e["field"] for e in info.value.errors}
    assert {"retrieved_on", "conclusion"} <= fields
    session.rollback()
    session.refresh(task)
    assert task.state == TaskState.claimed and task.result is None


def test_release_back_to_queue(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    service.release(
        session, task.id, as_user(session, "am_bj1"), now=clock.now(), business_date=TODAY
    )
    session.commit()
    assert _ids(session, as_user(session, "am_bj2"), View.queue) == [task.id]


def test_release_by_someone_else_refused(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    with pytest.raises(TaskPermissionError):
        service.release(
            session, task.id, as_user(session, "am_bj2"), now=clock.now(), business_date=TODAY
        )


def test_delegate_to_candidate_moves_inbox(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    service.delegate(
        session,
        task.id,
        as_user(session, "am_bj1"),
        user_by_username(session, "am_bj2"),
        now=clock.now(),
        business_date=TODAY,
    )
    session.commit()
    assert _ids(session, as_user(session, "am_bj2"), View.inbox) == [task.id]


def test_delegate_to_non_candidate_refused(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    with pytest.raises(TaskPermissionError, match="not a candidate"):
        service.delegate(
            session,
            task.id,
            as_user(session, "am_bj1"),
            user_by_username(session, "am_sh1"),
            now=clock.now(),
            business_date=TODAY,
        )


def test_auditor_reads_everything_changes_nothing(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    auditor = as_user(session, "auditor")
    assert _ids(session, auditor, View.all) == [task.id]
    assert service.get_task(session, task.id, auditor).id == task.id
    with pytest.raises(TaskPermissionError, match="auditors"):
        service.claim(session, task.id, auditor, now=clock.now(), business_date=TODAY)


def test_cancel_by_branch_head_only(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    with pytest.raises(TaskPermissionError):
        service.cancel(
            session,
            task.id,
            as_user(session, "am_bj1"),
            now=clock.now(),
            business_date=TODAY,
            reason="x",
        )
    session.rollback()
    service.cancel(
        session,
        task.id,
        as_user(session, "head_bj"),
        now=clock.now(),
        business_date=TODAY,
        reason="loan settled",
    )
    session.commit()
    assert task.state == TaskState.cancelled


def test_deputy_completes_on_behalf_of_principal(session, org, clock, loan):
    task = new_task(
        session, org, clock, loan, role=None, candidate_user=user_by_username(session, "am_bj1")
    )
    add_substitute(
        session,
        principal=user_by_username(session, "am_bj1"),
        deputy=user_by_username(session, "am_sh1"),
        starts_on=date(2025, 3, 1),
        ends_on=date(2025, 3, 10),
    )
    session.commit()
    deputy = as_user(session, "am_sh1")
    assert _ids(session, deputy, View.queue) == [task.id]
    _claim(session, clock, task, "am_sh1")
    _complete(session, clock, task, "am_sh1", LOAN_CARD_CHECK)
    entries = chain(session, "task", str(task.id))
    assert [(e.actor, e.on_behalf_of) for e in entries[1:]] == [
        ("u:am_sh1", "u:am_bj1"),
        ("u:am_sh1", "u:am_bj1"),
    ]
    # outside the substitution period the deputy has nothing
    assert _ids(session, as_user(session, "am_sh1", date(2025, 3, 11)), View.queue) == []


def test_self_approval_refused_and_recorded(session, org, clock, loan):
    task = new_task(
        session,
        org,
        clock,
        loan,
        kind="extension_review",
        role=Role.branch_head,
        requested_by=user_by_username(session, "head_bj"),
    )
    _claim(session, clock, task, "head_bj")
    head = as_user(session, "head_bj")
    with pytest.raises(SelfApprovalError, match="own request"):
        service.complete(
            session, task.id, head, EXTENSION_APPROVE, now=clock.now(), business_date=TODAY
        )
    session.rollback()
    service.record_refusal(
        session,
        task.id,
        head,
        "complete",
        SelfApprovalError("x"),
        now=clock.now(),
        business_date=TODAY,
    )
    session.commit()
    assert chain(session, "task", str(task.id))[-1].event == "refused_complete"


def test_chain_same_person_two_levels_refused(session, org, clock, loan):
    level = {
        n: new_task(
            session,
            org,
            clock,
            loan,
            kind="classification_review",
            key=f"C{n}",
            role=Role.credit_committee,
            unit="HO",
            chain_key="cls:L1:1",
            chain_level=n,
        )
        for n in (1, 2)
    }
    _claim(session, clock, level[1], "committee1")
    _complete(session, clock, level[1], "committee1", CLASSIFICATION_APPROVE)
    _claim(session, clock, level[2], "committee1")
    with pytest.raises(SameApproverError, match="different person"):
        _complete(session, clock, level[2], "committee1", CLASSIFICATION_APPROVE)
    session.rollback()
    service.delegate(
        session,
        level[2].id,
        as_user(session, "committee1"),
        user_by_username(session, "committee2"),
        now=clock.now(),
        business_date=TODAY,
    )
    session.commit()
    assert _complete(session, clock, level[2], "committee2", CLASSIFICATION_APPROVE).state == (
        TaskState.completed
    )


@pytest.fixture
def photo(session, org, clock):
    ref = attachments.store(
        session,
        data=b"\x89PNG\r\n\x1a\n fake photo",
        filename="site.png",
        content_type="image/png",
        uploaded_by=org.users["am_bj1"].id,
        now=clock.now(),
    )
    session.commit()
    return ref.model_dump(mode="json")


def test_visit_two_account_managers_one_own_accepted(session, org, clock, loan, photo):
    task = new_task(session, org, clock, loan, kind="customer_visit", unit="BJ0101")
    _claim(session, clock, task, "am_bj3")
    done = _complete(session, clock, task, "am_bj3", customer_visit(["am_bj3", "am_bj2"], photo))
    assert done.result["photos"][0]["sha256"] == photo["sha256"]


@pytest.mark.parametrize(
    ("inspectors", "error", "fragment"),
    [
        (["am_bj1"], ValidationError, "inspectors"),
        (["am_bj1", "am_bj1"], ValidationError, "inspectors"),
        (["am_bj3", "rm_bj"], VisitInspectorsError, "not an active account manager"),
        (["am_bj3", "am_sh1"], VisitInspectorsError, "not an account manager of the loan's branch"),
        (["am_bj3", "am_bj4"], VisitInspectorsError, "lead or assistant"),
        (["am_bj1", "am_bj2"], VisitInspectorsError, "filed by one of its two inspectors"),
    ],
    ids=["one", "same-twice", "not-am", "other-branch", "none-own", "filer-absent"],
)
def test_visit_inspectors_rules_refused(
    session, org, clock, loan, photo, inspectors, error, fragment, demo_password_hash
):
    add_user(  # a second account manager of the branch who does not manage this loan
        session, username="am_bj4", full_name="钱多多", org_unit=org.units["BJ0101"],
        roles=[Role.account_manager], password_hash=demo_password_hash,
    )  # fmt: skip
    task = new_task(session, org, clock, loan, kind="customer_visit", unit="BJ0101")
    _claim(session, clock, task, "am_bj3")
    with pytest.raises(error) as info:
        _complete(session, clock, task, "am_bj3", customer_visit(inspectors, photo))
    text = str(info.value) + str(getattr(info.value, "errors", ""))
    assert fragment in text


def test_complete_unknown_attachment_refused(session, org, clock, loan):
    task = new_task(session, org, clock, loan, kind="customer_visit", unit="BJ0101")
    _claim(session, clock, task, "am_bj1")
    fake = {"sha256": "a" * 64, "filename": "x.png", "content_type": "image/png", "size": 1}
    with pytest.raises(ValidationError, match="uploaded before"):
        _complete(session, clock, task, "am_bj1", customer_visit(["am_bj1", "am_bj2"], fake))


def test_draft_saved_partial_kept(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    service.save_draft(
        session, task.id, as_user(session, "am_bj1"), {"conclusion": "attention"}, now=clock.now()
    )
    session.commit()
    assert task.draft == {"conclusion": "attention"}
    with pytest.raises(ValidationError):
        service.save_draft(
            session, task.id, as_user(session, "am_bj1"), {"bogus": 1}, now=clock.now()
        )


def test_complete_waiting_flow_writes_outbox_same_transaction(session, org, clock, loan):
    follow = {"flow": "some-flow", "parameters": {"case": 7}}
    task = new_task(session, org, clock, loan, context={"continue": follow})
    _claim(session, clock, task, "am_bj1")
    _complete(session, clock, task, "am_bj1", LOAN_CARD_CHECK)
    row = session.exec(select(Outbox)).one()
    assert (row.key, row.flow, row.delivered_at) == (f"task:{task.id}:complete", "some-flow", None)
    assert row.parameters == {"case": 7, "task_id": task.id}


def test_counts_and_overdue_filter(session, org, clock, loan):
    late = new_task(session, org, clock, loan, key="late", due=date(2025, 3, 1))
    new_task(session, org, clock, loan, key="later", due=date(2025, 3, 20))
    am = as_user(session, "am_bj1")
    assert counts(session, am, today=TODAY) == {"queue": 2, "inbox": 0, "archive": 0, "overdue": 1}
    assert _ids(session, am, View.queue, overdue=True) == [late.id]


@pytest.mark.parametrize("username", ["am_bj2", "auditor"])
def test_draft_by_someone_not_the_assignee_permission_denied(session, org, clock, loan, username):
    # a draft is the assignee's, like completing: anyone else is refused (403), not told the
    # task is closed (409) — the authorization matrix (tests/api/test_authz_matrix.py) found it
    task = new_task(session, org, clock, loan)
    _claim(session, clock, task, "am_bj1")
    with pytest.raises(TaskPermissionError):
        service.save_draft(
            session, task.id, as_user(session, username), {"conclusion": "normal"}, now=clock.now()
        )


def test_draft_of_an_unclaimed_task_not_claimed(session, org, clock, loan):
    task = new_task(session, org, clock, loan)
    with pytest.raises(TaskNotClaimedError):
        service.save_draft(
            session, task.id, as_user(session, "am_bj1"), {"conclusion": "normal"}, now=clock.now()
        )


def test_eligible_inspectors_among_named_agrees_with_the_full_list(session, org, clock, loan):
    """A filed visit's check asks only about its two inspectors; the answer is the full
    list's, restricted to them (one rule, two ways of asking)."""
    from tasks.people import eligible_inspectors

    task = new_task(session, org, clock, loan, kind="customer_visit", unit="BJ0101")
    every = {u.username for u in eligible_inspectors(session, task)}
    for named in (["am_bj3", "am_sh1"], ["am_bj1", "am_bj2"], ["rm_bj", "nobody"]):
        among = {u.username for u in eligible_inspectors(session, task, among=named)}
        assert among == every & set(named)
    assert {"am_bj3"} <= every and "am_sh1" not in every
