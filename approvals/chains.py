"""Chain definitions as data (DOMAIN §6): for each kind of request, its levels — who decides
(role), where (the loan's branch, the head office, a named unit), on which form, and how fast.
Whether a level's approval ends the chain is the decider's authority for the amount
(loans/authority.py). A bank replaces the defaults with a JSON file (`approval_chains_file`).
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlmodel import Session

from core.errors import ValidationError
from core.identity import OrgUnit, Role, head_office, org_unit_by_code
from core.settings import get_settings
from forms import FORMS
from statemachines.enums import RequestKind


class Scope(StrEnum):
    loan_branch = "loan_branch"  # the loan's branch (and the heads above it)
    head_office = "head_office"  # the root unit: the credit committee
    unit = "unit"  # a named unit, e.g. HO-CR (授信管理部)


class ChainLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name_zh: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    role: Role
    scope: Scope
    unit: str | None = None  # the unit's code, for scope "unit"
    task_kind: str
    due_business_days: int | None = Field(default=None, ge=1)  # default: settings

    @model_validator(mode="after")
    def _check(self) -> ChainLevel:
        if self.task_kind not in FORMS:
            raise ValueError(f"unknown task form {self.task_kind!r}")
        if (self.scope == Scope.unit) != (self.unit is not None):
            raise ValueError("give `unit` exactly when the scope is 'unit'")
        return self


class ChainDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RequestKind
    levels: tuple[ChainLevel, ...] = Field(min_length=1)


def _level(zh: str, en: str, role: Role, scope: Scope, form: str, **kw: Any) -> ChainLevel:
    return ChainLevel(name_zh=zh, name_en=en, role=role, scope=scope, task_kind=form, **kw)


BRANCH_HEAD = ("支行负责人审批", "Branch head", Role.branch_head, Scope.loan_branch)
COMMITTEE = ("信贷评审委员会审批", "Credit committee", Role.credit_committee, Scope.head_office)

DEFAULTS: dict[RequestKind, ChainDefinition] = {
    # account manager applies → branch head → credit committee above the head's authority
    RequestKind.extension: ChainDefinition(
        kind=RequestKind.extension,
        levels=(
            _level(*BRANCH_HEAD, "extension_review"),
            _level(*COMMITTEE, "extension_review"),
        ),
    ),
    # account manager (or the sweep) proposes → head: initial → committee: final (000 第三/四条)
    RequestKind.classification: ChainDefinition(
        kind=RequestKind.classification,
        levels=(
            _level(
                "支行负责人初审", "Branch head (initial)", *BRANCH_HEAD[2:], "classification_review"
            ),
            _level(
                "信贷评审委员会认定",
                "Credit committee (final)",
                *COMMITTEE[2:],
                "classification_review",
            ),
        ),
    ),
    # 核销: the committee, 损失 loans only (001)
    RequestKind.write_off: ChainDefinition(
        kind=RequestKind.write_off, levels=(_level(*COMMITTEE, "write_off_review"),)
    ),
    # 移交资产处置: the credit department head
    RequestKind.handover: ChainDefinition(
        kind=RequestKind.handover,
        levels=(
            _level(
                "授信管理部负责人审批",
                "Credit department head",
                Role.department_head,
                Scope.unit,
                "handover_review",
                unit="HO-CR",
            ),
        ),
    ),
    # 预警处置: account manager → head (grade, plan) → committee
    RequestKind.warning: ChainDefinition(
        kind=RequestKind.warning,
        levels=(
            _level("支行负责人处置意见", "Branch head", *BRANCH_HEAD[2:], "warning_disposition"),
            _level("信贷评审委员会决定", "Credit committee", *COMMITTEE[2:], "warning_disposition"),
        ),
    ),
}


@lru_cache
def _from_file(path: str) -> dict[RequestKind, ChainDefinition]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        chains = [ChainDefinition.model_validate(item) for item in document["chains"]]
    except (OSError, ValueError, KeyError, TypeError, pydantic.ValidationError) as exc:
        raise ValidationError(
            f"审批链配置文件 {path} 无效 (approval chains file {path} is not valid: {exc})",
            path=path,
        ) from exc
    return {**DEFAULTS, **{c.kind: c for c in chains}}


def chain_for(kind: RequestKind) -> ChainDefinition:
    path = get_settings().approval_chains_file
    chains = _from_file(path) if path else DEFAULTS
    return chains[RequestKind(kind)]


def unit_for(session: Session, level: ChainLevel, loan_branch: OrgUnit) -> OrgUnit:
    """The org unit whose `level.role` holders decide this level."""
    if level.scope == Scope.loan_branch:
        return loan_branch
    if level.scope == Scope.unit:
        assert level.unit is not None
        return org_unit_by_code(session, level.unit)
    return head_office(session)
