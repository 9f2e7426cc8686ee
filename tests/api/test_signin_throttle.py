"""Sign-in throttle: repeated failures lock a username (5 in 15 minutes) or an address (20), on
/login and /api/v1/auth/token alike; nothing tells whether a username exists."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from sqlmodel import Session, select

import api.auth
from audit.journal import JournalEntry
from audit.signin import SIGNIN, SignInAttempt
from audit.verify import verify_journal
from core.identity import User
from loans.demo import DEMO_PASSWORD
from tests.api.browser import sign_in

TOKEN = "/api/v1/auth/token"


def _token(client, username="am_bj1", password=DEMO_PASSWORD):
    return client.post(TOKEN, data={"username": username, "password": password})


def _fail(client, clock, times, username="am_bj1", every_minutes=1.0):
    for _ in range(times):
        assert _token(client, username, "wrong").status_code == 401
        clock.advance(minutes=every_minutes)


def test_token_five_failures_then_right_password_429_retry_after(client, clock_now):
    _fail(client, clock_now, 5)  # minutes 0..4; now minute 5
    response = _token(client)
    assert response.status_code == 429
    assert response.headers["retry-after"] == str(10 * 60)  # minute 0 leaves the window at 15
    detail = response.json()["detail"]
    assert detail["code"] == "sign_in_locked"
    assert detail["message"].startswith("登录失败次数过多，请 10 分钟后再试")
    assert detail["context"] == {"retry_after_seconds": 600}


def test_token_lockout_ends_when_failures_leave_window(client, clock_now):
    _fail(client, clock_now, 5)
    clock_now.advance(minutes=10)  # minute 15: the first failure is out of the window
    assert _token(client).status_code == 200


def test_token_four_failures_right_password_works_and_resets_count(client, clock_now):
    _fail(client, clock_now, 4)
    assert _token(client).status_code == 200
    _fail(client, clock_now, 4)  # counted from the sign-in: 4, not 8
    assert _token(client).status_code == 200


def test_login_page_locked_user_429_chinese_message_right_password_refused(client, clock_now):
    _fail(client, clock_now, 5)
    response = sign_in(client, "am_bj1", follow_redirects=False)
    assert response.status_code == 429 and response.headers["retry-after"] == "600"
    assert 'data-testid="login-locked"' in response.text
    assert "登录失败次数过多，请 10 分钟后再试" in response.text
    assert "postloan_session" not in response.cookies


def test_login_page_failures_count_for_token_endpoint_too(client, clock_now):
    for _ in range(5):
        assert sign_in(client, "am_bj1", "wrong").status_code == 401
    assert _token(client).status_code == 429


def test_unknown_username_locked_like_a_real_one(client, clock_now):
    _fail(client, clock_now, 5, username="nobody")
    unknown = _token(client, "nobody", "x")
    _fail(client, clock_now, 5, username="am_bj2")
    known = _token(client, "am_bj2", "x")
    assert unknown.status_code == known.status_code == 429
    assert unknown.json()["detail"]["code"] == known.json()["detail"]["code"]


def test_lockout_of_one_user_leaves_others_alone(client, clock_now):
    _fail(client, clock_now, 5)
    assert _token(client, "am_bj2").status_code == 200


def test_address_twenty_failures_locks_every_username(client, clock_now, session):
    for i in range(20):  # four each for five names: no username reaches its own limit
        assert _token(client, f"user{i % 5}", "wrong").status_code == 401
    response = _token(client, "am_bj2")
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    lockout = session.exec(select(JournalEntry).where(JournalEntry.event == "lock_out")).one()
    assert lockout.aggregate_id == "user4" and lockout.payload["locked"] == ["address"]


def test_rows_older_than_window_pruned_on_next_attempt(client, clock_now, session):
    _fail(client, clock_now, 3)
    clock_now.advance(minutes=30)
    assert _token(client).status_code == 200
    rows = session.exec(select(SignInAttempt)).all()
    assert [r.outcome for r in rows] == ["signed_in"]  # the journal keeps the failures


def test_failures_recorded_elsewhere_lock_here(client, clock_now, session):
    # another worker process wrote these rows: the count lives in the database
    for minutes in range(5):
        at = clock_now.now() - timedelta(minutes=minutes)
        session.add(SignInAttempt(at=at, username="am_bj1", address="10.0.0.9", outcome="failed"))
    session.commit()
    assert _token(client).status_code == 429


@pytest.mark.parametrize("username", ["am_bj1", "nobody", "inactive"])
def test_wrong_password_hashes_once_whether_user_exists_or_not(
    client, session, monkeypatch, username
):
    if username == "inactive":
        user = session.exec(select(User).where(User.username == "am_bj2")).one()
        user.active, user.username = False, "inactive"
        session.add(user)
        session.commit()
    calls: list[str] = []
    real = api.auth.verify_password

    def spy(password: str, password_hash: str) -> bool:
        calls.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(api.auth, "verify_password", spy)
    response = _token(client, username, DEMO_PASSWORD if username == "inactive" else "wrong")
    assert response.status_code == 401
    assert response.json()["detail"]["message"] == "用户名或密码错误 (wrong username or password)"
    assert len(calls) == 1 and calls[0].startswith("$argon2")


def test_failures_lockout_and_sign_in_journalled_chain_verifies(client, clock_now, session, engine):
    assert _token(client).status_code == 200
    _fail(client, clock_now, 5)
    assert _token(client).status_code == 429  # a refusal during the lockout is not journalled
    entries = session.exec(
        select(JournalEntry)
        .where(JournalEntry.aggregate_type == SIGNIN, JournalEntry.aggregate_id == "am_bj1")
        .order_by(JournalEntry.chain_seq)
    ).all()
    assert [e.event for e in entries] == ["sign_in", *["fail_sign_in"] * 5, "lock_out"]
    assert entries[0].actor == "u:am_bj1" and entries[1].actor == "system:sign-in"
    assert entries[-1].payload == {
        "address": "testclient",
        "locked": ["username"],
        "retry_after_seconds": 660,
    }
    assert entries[-1].wall_time.replace(tzinfo=UTC) == clock_now.now().replace(
        tzinfo=UTC
    ) - timedelta(minutes=1)
    with Session(engine) as fresh:
        assert verify_journal(fresh).ok
