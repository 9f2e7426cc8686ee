"""/api/v1/auth/token: OAuth2 password flow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import authenticate, issue_token
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.task_schemas import Token

router = APIRouter(prefix="/auth", tags=["auth"], route_class=OneHopRoute)


@router.post("/token", response_model=Token)
def login_for_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, clock: ClockDep
) -> Token:
    return Token(
        access_token=issue_token(authenticate(session, form.username, form.password), clock)
    )
