"""What a simulation is asked to do, and the behaviours it draws from: repayment profiles of
borrowers and the delays of the bots that stand in for people. Every draw is a pure function of
(seed, what it is about), never of how far a run got, so a stopped run resumes exactly."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from core.errors import ValidationError


class Profile(StrEnum):
    """How a borrower repays (DOMAIN §7)."""

    on_time = "on_time"  # pays every installment on its pay-by date
    late_cured = "late_cured"  # now and then a few days to a month late, then pays in full
    chronic = "chronic"  # often one or two months behind, catches up, falls behind again
    default = "default"  # pays for a while, then stops for good
    prepay = "prepay"  # pays on time and settles the whole loan early


DEFAULT_PROFILES: dict[str, int] = {
    Profile.on_time: 74,
    Profile.late_cured: 12,
    Profile.chronic: 5,
    Profile.default: 4,
    Profile.prepay: 5,
}


@dataclass(frozen=True)
class BotDelays:
    """How long the bots take to answer a task, in days after it opened: most within
    `typical`, some late (after the due date, by up to `late_by`), some never."""

    typical: int = 5
    late_share: float = 0.08  # answered after the due date
    late_by: int = 12
    never_share: float = 0.02  # never answered by the first candidate: the SLA escalates
    approve_share: float = 0.85  # approval levels approve; the rest reject or return


@dataclass(frozen=True)
class SimParams:
    loans: int
    start: date
    days: int
    seed: int = 1
    profiles: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PROFILES))
    bots: BotDelays = field(default_factory=BotDelays)
    opening_share: float = 0.7  # loans on the book at the start; the rest disbursed during the run
    extra_days: int = 0  # run on past `days` (the demo brought to today); the book is unchanged

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days + self.extra_days - 1)

    def __post_init__(self) -> None:
        errors = []
        if self.loans < 1:
            errors.append({"field": "loans", "message": "至少 1 笔贷款 (at least one loan)"})
        if self.days < 1:
            errors.append({"field": "days", "message": "至少模拟 1 天 (at least one day)"})
        unknown = sorted(set(self.profiles) - set(Profile))
        if unknown:
            errors.append(
                {
                    "field": "profiles",
                    "message": f"未知的还款画像 unknown profile(s): {', '.join(unknown)}; "
                    f"可选 choose from {', '.join(Profile)}",
                }
            )
        if not unknown and (
            any(w < 0 for w in self.profiles.values()) or sum(self.profiles.values()) <= 0
        ):
            errors.append(
                {"field": "profiles", "message": "权重须为非负且合计大于 0 (weights ≥ 0, sum > 0)"}
            )
        if errors:
            raise ValidationError(
                "模拟参数有误 (bad simulation parameters): "
                + "; ".join(e["message"] for e in errors),
                errors=errors,
            )

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimParams:
        return cls(
            loans=int(data["loans"]),
            start=date.fromisoformat(data["start"]),
            days=int(data["days"]),
            seed=int(data["seed"]),
            profiles={str(k): int(v) for k, v in data["profiles"].items()},
            bots=BotDelays(**data["bots"]),
            opening_share=float(data["opening_share"]),
            extra_days=int(data.get("extra_days", 0)),
        )


def parse_profiles(text: str) -> dict[str, int]:
    """`on_time=70,late_cured=15,...` → weights (a profile left out weighs 0)."""
    weights: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise ValidationError(
                f"还款画像格式应为 名称=权重 (profile weights look like name=weight): {part!r}",
                field="profiles",
            )
        weights[name.strip()] = int(value)
    return weights


def draw(seed: int, *about: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and what it is about."""
    digest = hashlib.blake2b(repr((seed, *about)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(seed: int, weights: dict[str, int], *about: object) -> str:
    """One of `weights`' keys, drawn by weight."""
    total = sum(weights.values())
    point = draw(seed, *about) * total
    for name, weight in weights.items():
        point -= weight
        if point < 0:
            return name
    return next(name for name, w in reversed(list(weights.items())) if w > 0)
