"""Identity: org units (head office → branches → sub-branches), users and their roles (DOMAIN §1)."""

from __future__ import annotations

from enum import StrEnum

from pwdlib import PasswordHash
from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, Session, SQLModel, select

from core.errors import NotFoundError

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
    path: str = Field(sa_column=Column(String(400), nullable=False, index=True))


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
        raise NotFoundError(f"unknown org unit {code!r}", org_unit=code)
    return unit


def user_by_username(session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFoundError(f"unknown user {username!r}", username=username)
    return user


def roles_of(session: Session, user_id: int) -> set[Role]:
    rows = session.exec(select(UserRole.role).where(UserRole.user_id == user_id)).all()
    return {Role(r) for r in rows}
