"""/api/v1/auth/token: OAuth2 password flow."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import issue_token
from api.deps import ClockDep, OneHopRoute, SessionDep
from api.error_schema import error_responses
from api.signin_throttle import address, sign_in
from api.task_schemas import Token

router = APIRouter(prefix="/auth", tags=["auth"], route_class=OneHopRoute)


@router.post("/token", response_model=Token, responses=error_responses(401, 422))
def login_for_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    clock: ClockDep,
) -> Token:
    """401 for wrong credentials (one message); 429 with Retry-After while locked out."""
    user = sign_in(session, form.username, form.password, address(request), clock)
    return Token(access_token=issue_token(user, clock))
