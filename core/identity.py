"""Identity: org units (head office → branches → sub-branches), users and their roles (DOMAIN §1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from pwdlib import PasswordHash
from sqlalchemy import Column, Date, String, UniqueConstraint, bindparam
from sqlalchemy import select as core_select
from sqlmodel import Field, Session, SQLModel, col, select

from core.db import path_type
from core.errors import NotFoundError, ValidationError

_hasher = PasswordHash.recommended()


class OrgUnitKind(StrEnum):
    head_office = "head_office"  # 总行
    branch = "branch"  # 分行/支行
    sub_branch = "sub_branch"  # 网点
    department = "department"  # 部门


class Role(StrEnum):
    account_manager = "account_manager"  # 客户经理
    risk_manager = "risk_manager"  # 风险经理
    branch_head = "branch_head"  # 支行负责人
    department_head = "department_head"  # 部门负责人
    credit_committee = "credit_committee"  # 信贷评审委员会
    asset_disposal = "asset_disposal"  # 资产处置部门
    auditor = "auditor"  # 稽核/审计
    admin = "admin"  # 系统管理员


class OrgUnit(SQLModel, table=True):
    __tablename__ = "org_units"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(32), unique=True, nullable=False))
    name: str = Field(max_length=100)
    name_en: str | None = Field(default=None, max_length=100)
    kind: OrgUnitKind = Field(sa_column=Column(String(20), nullable=False))
    parent_id: int | None = Field(default=None, foreign_key="org_units.id")
    # Materialized path "/HO/BJ01/": a subtree is one indexed prefix query.
    path: str = Field(sa_column=Column(path_type(), nullable=False, index=True))


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    full_name: str = Field(max_length=100)
    org_unit_id: int = Field(foreign_key="org_units.id", index=True)
    password_hash: str = Field(max_length=255)
    active: bool = True


class UserRole(SQLModel, table=True):
    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", index=True)
    role: Role = Field(sa_column=Column(String(32), nullable=False))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher.verify(password, password_hash)


def add_org_unit(
    session: Session,
    *,
    code: str,
    name: str,
    kind: OrgUnitKind,
    parent: OrgUnit | None = None,
    name_en: str | None = None,
) -> OrgUnit:
    path = f"{parent.path if parent else '/'}{code}/"
    unit = OrgUnit(
        code=code,
        name=name,
        name_en=name_en,
        kind=kind,
        parent_id=parent.id if parent else None,
        path=path,
    )
    session.add(unit)
    session.flush()
    return unit


def add_user(
    session: Session,
    *,
    username: str,
    full_name: str,
    org_unit: OrgUnit,
    roles: list[Role],
    password: str | None = None,
    password_hash: str | None = None,
) -> User:
    """Add a user; pass `password_hash` to reuse one hash for many users (demo, tests)."""
    if (password is None) == (password_hash is None):
        raise ValueError("give exactly one of password / password_hash")
    assert org_unit.id is not None
    user = User(
        username=username,
        full_name=full_name,
        org_unit_id=org_unit.id,
        password_hash=password_hash or hash_password(password or ""),
    )
    session.add(user)
    session.flush()
    assert user.id is not None
    for role in roles:
        session.add(UserRole(user_id=user.id, role=role))
    session.flush()
    return user


def org_unit_by_code(session: Session, code: str) -> OrgUnit:
    unit = session.exec(select(OrgUnit).where(OrgUnit.code == code)).first()
    if unit is None:
        raise NotFoundError(f"未知机构 {code!r} (unknown org unit {code!r})", org_unit=code)
    return unit


def head_office(session: Session) -> OrgUnit:
    """The root of the org tree (总行)."""
    unit = session.exec(select(OrgUnit).where(OrgUnit.parent_id == None)).first()  # noqa: E711
    if unit is None:
        raise NotFoundError("机构树中没有总行 (the org tree has no head office)")
    return unit


def user_by_username(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"未知用户 {username!r} (unknown user {username!r})", username=username)
    return user


def roles_of(session: Session, user_id: int) -> set[Role]:
    rows = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all()
    return {Role(r) for r in rows}


class Substitute(SQLModel, table=True):
    """代理: `deputy` acts for `principal` from `starts_on` to `ends_on` (inclusive); the
    deputy's actions are recorded as on behalf of the principal."""

    __tablename__ = "substitutes"

    id: int | None = Field(default=None, primary_key=True)
    principal_id: int = Field(foreign_key="users.id", index=True)
    deputy_id: int = Field(foreign_key="users.id", index=True)
    starts_on: date = Field(sa_column=Column(Date, nullable=False))
    ends_on: date = Field(sa_column=Column(Date, nullable=False))
    reason: str | None = Field(default=None, max_length=200)


@dataclass(frozen=True)
class Principal:
    """A user as the access rules see them: roles and the org subtree they work in."""

    user: User
    roles: frozenset[Role]
    org_path: str

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def is_auditor(self) -> bool:
        return Role.auditor in self.roles

    def sees(self, path: str) -> bool:
        """Own org subtree only; auditors see everything."""
        return self.is_auditor or path.startswith(self.org_path)


def signed_in_principal(session: Session, username: str, on: date) -> tuple[Principal, bool] | None:
    """The user named `username` as the access rules see them — roles and org path — and
    whether they stand in for anyone on `on`, in ONE prebuilt statement (a row per role):
    every request reads it afresh (a deactivated user is refused at once), and it used to take
    four. Inactive users are returned too: the caller refuses them. None if there is no such
    user. The User is built from the row, not loaded into the session (as before, when it came
    from a session of its own)."""
    rows = session.connection().execute(_SIGNED_IN, {"username": username, "on": on}).all()
    if not rows:
        return None
    first = rows[0]._mapping
    user = User(**{name: first[name] for name in _USER_COLUMNS})
    roles = frozenset(Role(row.role) for row in rows if row.role is not None)
    return Principal(user, roles, first["path"]), bool(first["stands_in"])


_USERS, _UNITS = User.__table__, OrgUnit.__table__  # type: ignore[attr-defined]
_ROLES, _SUBSTITUTES = UserRole.__table__, Substitute.__table__  # type: ignore[attr-defined]
_USER_COLUMNS = tuple(c.name for c in _USERS.columns)
_SIGNED_IN = (
    core_select(
        *_USERS.columns,
        _UNITS.c.path,
        _ROLES.c.role,
        core_select(_SUBSTITUTES.c.id)
        .where(
            _SUBSTITUTES.c.deputy_id == _USERS.c.id,
            _SUBSTITUTES.c.starts_on <= bindparam("on"),
            _SUBSTITUTES.c.ends_on >= bindparam("on"),
        )
        .exists()
        .label("stands_in"),
    )
    .join_from(_USERS, _UNITS, _UNITS.c.id == _USERS.c.org_unit_id)
    .outerjoin(_ROLES, _ROLES.c.user_id == _USERS.c.id)
    .where(_USERS.c.username == bindparam("username"))
)


def principal_of(session: Session, user: User) -> Principal:
    assert user.id is not None
    unit = session.get(OrgUnit, user.org_unit_id)
    assert unit is not None
    return Principal(user, frozenset(roles_of(session, user.id)), unit.path)


def add_substitute(
    session: Session,
    *,
    principal: User,
    deputy: User,
    starts_on: date,
    ends_on: date,
    reason: str | None = None,
) -> Substitute:
    errors = []
    if principal.id == deputy.id:
        errors.append({"field": "deputy", "message": "a user cannot be their own deputy"})
    if ends_on < starts_on:
        errors.append({"field": "ends_on", "message": "the end is before the start"})
    if not deputy.active:
        errors.append({"field": "deputy", "message": f"{deputy.username} is not active"})
    if errors:
        raise ValidationError(
            "代理设置不符合要求 (the substitution is not acceptable)", errors=errors
        )
    assert principal.id is not None and deputy.id is not None
    row = Substitute(
        principal_id=principal.id,
        deputy_id=deputy.id,
        starts_on=starts_on,
        ends_on=ends_on,
        reason=reason,
    )
    session.add(row)
    session.flush()
    return row


def principals_for(session: Session, deputy_id: int, on: date) -> list[User]:
    """The users `deputy_id` stands in for on `on`."""
    rows = session.exec(
        select(User)
        .join(Substitute, col(Substitute.principal_id) == col(User.id))
        .where(
            Substitute.deputy_id == deputy_id,
            Substitute.starts_on <= on,
            Substitute.ends_on >= on,
            User.active == True,  # noqa: E712
        )
    ).all()
    return list(rows)
