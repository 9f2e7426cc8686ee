"""The demo bank behind `postloan demo seed` / `make run` and `postloan simulate`: a head office,
two branches with a sub-branch each, one user per role (DOMAIN §1), and the names the generated
book draws from. The book itself, and its history, are made by the simulator (sim/)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session, func, select

from core.identity import OrgUnit, OrgUnitKind, Role, User, add_org_unit, add_user, hash_password

DEMO_PASSWORD = "postloan-demo"  # documented in README; every demo user has it
SEED_ACTOR = "system:demo-seed"

ORG_UNITS = [  # code, name, name_en, kind, parent
    ("HO", "总行", "Head office", OrgUnitKind.head_office, None),
    ("HO-CR", "授信管理部", "Credit department", OrgUnitKind.department, "HO"),
    ("BJ01", "北京分行", "Beijing branch", OrgUnitKind.branch, "HO"),
    ("BJ0101", "北京海淀支行", "Beijing Haidian sub-branch", OrgUnitKind.sub_branch, "BJ01"),
    ("SH01", "上海分行", "Shanghai branch", OrgUnitKind.branch, "HO"),
    ("SH0101", "上海浦东支行", "Shanghai Pudong sub-branch", OrgUnitKind.sub_branch, "SH01"),
]

USERS = [  # username, full name, org unit, roles
    ("am_bj1", "王晓明", "BJ01", [Role.account_manager]),
    ("am_bj2", "李娜", "BJ01", [Role.account_manager]),
    ("am_bj3", "赵磊", "BJ0101", [Role.account_manager]),
    ("am_sh1", "陈静", "SH01", [Role.account_manager]),
    ("am_sh2", "刘洋", "SH01", [Role.account_manager]),
    ("rm_bj", "张伟", "BJ01", [Role.risk_manager]),
    ("rm_sh", "周敏", "SH01", [Role.risk_manager]),
    ("head_bj", "孙建国", "BJ01", [Role.branch_head]),
    ("head_sh", "吴丽华", "SH01", [Role.branch_head]),
    ("head_cr", "郑志强", "HO-CR", [Role.department_head]),
    ("committee1", "钱宏", "HO", [Role.credit_committee]),
    ("committee2", "冯雪", "HO", [Role.credit_committee]),
    ("disposal", "何平", "HO", [Role.asset_disposal]),
    ("auditor", "高敏", "HO", [Role.auditor]),
    ("admin", "系统管理员", "HO", [Role.admin]),
]

PRODUCTS = [
    "working_capital",
    "fixed_asset",
    "trade_finance",
    "mortgage",
    "car",
    "consumer",
    "student",
]
CORPORATE = [
    "华北精密机械有限公司",
    "京西建材贸易有限公司",
    "海淀云图科技有限公司",
    "申江物流有限公司",
    "浦东新材料股份有限公司",
    "沪南食品加工有限公司",
    "燕山纺织有限公司",
    "长江电子元件有限公司",
]
PEOPLE = ["张三", "李四", "王五", "赵六", "孙七", "周八", "吴九", "郑十", "陈一", "林二"]


@dataclass
class DemoOrg:
    units: dict[str, OrgUnit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)


def seed_org(session: Session, password_hash: str | None = None) -> DemoOrg:
    org = DemoOrg()
    for code, name, name_en, kind, parent in ORG_UNITS:
        org.units[code] = add_org_unit(
            session,
            code=code,
            name=name,
            name_en=name_en,
            kind=kind,
            parent=org.units[parent] if parent else None,
        )
    password_hash = password_hash or hash_password(DEMO_PASSWORD)  # one hash: argon2 is slow
    for username, full_name, unit, roles in USERS:
        org.users[username] = add_user(
            session,
            username=username,
            full_name=full_name,
            org_unit=org.units[unit],
            roles=roles,
            password_hash=password_hash,
        )
    return org


def is_empty(session: Session) -> bool:
    return session.exec(select(func.count()).select_from(OrgUnit)).one() == 0
