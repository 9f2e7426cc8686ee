"""Settings (pydantic-settings, environment `POSTLOAN_*`). Imports nothing else of postloan.

Every number that comes from regulation or bank policy lives here with its documented default.
"""

from __future__ import annotations

import os
import secrets
import socket
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POSTLOAN_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///var/postloan.db",
        description="SQLAlchemy URL of the app database (SQLite file by default, Postgres in production).",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        default="FULL",
        description="SQLite only: FULL syncs the disk at every commit; NORMAL (write-ahead log) "
        "syncs at checkpoints, so a power cut may lose the last commits but never corrupts the "
        "file. `postloan simulate` uses NORMAL for its generated book unless this is set.",
    )
    attachments_dir: str = Field(
        default="var/attachments", description="Where attachments are stored by content hash."
    )
    attachment_max_bytes: int = Field(
        default=20 * 1024 * 1024,
        ge=1,
        description="Largest file one may upload (20 MB: a phone photo or a scanned notice).",
    )
    request_max_bytes: int = Field(
        default=100 * 1024 * 1024,
        ge=1,
        description="Largest request body (100 MB: a form with several photos); a larger one "
        "is refused with 413 before it is read (Content-Length, else counted as it streams).",
    )
    token_minutes: int = Field(default=8 * 60, description="Sign-in lifetime (a working day).")
    timezone: str = Field(default="Asia/Shanghai", description="The bank's business time zone.")
    node_name: str = Field(
        default_factory=socket.gethostname,
        min_length=1,
        max_length=200,
        description="This machine's name in the sweep's chunk records (which worker ran which "
        "chunk); the host name by default.",
    )
    default_currency: str = "CNY"
    secret_key: str | None = Field(
        default=None,
        description="Signs sign-in tokens (≥ 32 bytes). Set it in production; when unset, a "
        "random key is generated once into var/secret_key (development).",
    )
    secret_key_file: str = "var/secret_key"
    # Tamper evidence (docs/audit.md): the anchors' signing key and external copy live outside
    # the application database, so whoever can write the database cannot forge them.
    anchor_key_file: str = Field(
        default="var/anchor_key.pem",
        description="Ed25519 private key (PEM) that signs the journal's anchors; never stored in "
        "the database. When the file is missing a key is generated there, owner-only "
        "(development); in production mount it from the bank's secret store.",
    )
    anchor_trusted_keys_dir: str = Field(
        default="var/anchor_keys",
        description="Folder of trusted anchor public keys (<key id>.pem); verification accepts "
        "an anchor only signed by one of them. Rotation adds a key, old ones stay to verify old "
        "anchors.",
    )
    anchor_log: str = Field(
        default="var/anchor_log.jsonl",
        description="The append-only external copy of every signed anchor (JSON lines, opened "
        "O_APPEND and fsynced); point it at WORM storage. Verification treats it as the "
        "authority over the database's anchor rows.",
    )
    cookie_secure: bool = Field(
        default=True,
        description="Send the session and CSRF cookies only over HTTPS (Secure flag). On by "
        "default; the local demo (`make run`, `postloan serve` on localhost) turns it off.",
    )
    # Sign-in throttle (audit/signin.py): repeated failures lock a username, then an address.
    signin_window_minutes: int = Field(
        default=15, ge=1, description="Failures of the last N minutes count towards a lockout."
    )
    signin_user_max_failures: int = Field(
        default=5,
        ge=1,
        description="N failures for one username within the window lock it until the oldest "
        "of them leaves the window (a sign-in in between starts the count again).",
    )
    signin_address_max_failures: int = Field(
        default=20, ge=1, description="N failures from one address within the window lock it."
    )

    # 五级分类 floors by days past due (商业银行金融资产风险分类办法 2023).
    classification_grace_days: int = Field(
        default=7, description="Technical/operational overdue grace before 关注 is forced."
    )
    substandard_after_days: int = Field(default=90, description=">N days past due → at least 次级.")
    doubtful_after_days: int = Field(default=270, description=">N days past due → at least 可疑.")
    loss_after_days: int = Field(default=360, description=">N days past due → 损失.")
    contagion_npl_share: str = Field(
        default="0.10",
        description="Non-retail borrower: NPL share of its claims above this → all claims 不良 (第七条).",
    )
    restructure_observation_min_periods: int = Field(
        default=2, description="Restructured asset: consecutive repayment periods to observe."
    )
    restructure_observation_min_months: int = Field(
        default=12, description="Restructured asset: minimum observation period in months."
    )
    restructure_again_floor_doubtful: bool = Field(
        default=True,
        description="Restructured again during observation → at least 可疑 (consultation draft).",
    )
    npl_upgrade_min_periods: int = Field(
        default=2,
        ge=1,
        description="Upgrade out of 不良: repayment periods paid in full and on time after the "
        "arrears were cleared (at least this many and at least the months below).",
    )
    npl_upgrade_min_months: int = Field(
        default=6, ge=0, description="Upgrade out of 不良: months of on-time repayment."
    )
    extension_notice_days: int = Field(
        default=30, description="Extension must be applied for at least N days before maturity."
    )
    # 展期期限 (贷款通则 第十二条): short-term ≤ original term; medium ≤ half; long ≤ 3 years.
    short_term_max_months: int = Field(
        default=12, description="Loans up to N months are short-term."
    )
    medium_term_max_months: int = Field(
        default=60, description="Loans up to N months are medium-term."
    )
    long_term_extension_max_months: int = Field(default=36, description="Long-term: extension cap.")

    overdue_bucket_bounds: tuple[int, ...] = Field(
        default=(30, 60, 90, 120, 150, 180),
        description="Upper days-past-due bound of M1..M6 (003); beyond the last: M6+.",
    )
    # Expected bad debt M = Σ Mi·Pi (003): Pi from the book's history once a bucket has this
    # many loans whose outcome is known; before that, the configured rate of the bucket.
    bad_debt_min_sample: int = Field(
        default=30, ge=1, description="Loans with a known outcome before Pi comes from history."
    )
    bad_debt_rates: dict[str, str] = Field(
        default={
            "M1": "0.02",
            "M2": "0.10",
            "M3": "0.25",
            "M4": "0.40",
            "M5": "0.55",
            "M6": "0.70",
            "M6+": "0.90",
        },  # fmt: skip
        description="Pi per bucket while the book's history is too short (share, 0..1).",
    )
    # Business calendar (core/calendar.py): bank-loaded schedules and the "by the 20th" rule.
    calendar_data_dir: str | None = Field(
        default=None, description="Folder of bank schedule files (JSON/CSV) for new years."
    )
    calendar_deadline_day: int = Field(default=20, ge=1, le=31, description="Monthly deadline.")
    calendar_deadline_roll: Literal["previous", "next", "none"] = Field(
        default="previous",
        description="When the deadline is not a business day: move to the previous one (default).",
    )
    installment_due_roll: Literal["next", "previous", "none"] = Field(
        default="next",
        description="An installment or a maturity falling due on a non-business day is payable "
        "on the next business day (顺延, default), the previous one, or on the day itself (none): "
        "days past due, on-time payment and the overdue notice count from that day.",
    )
    maturity_notice_days: int = Field(
        default=30, description="Maturity notice N days before maturity (never fewer than 10)."
    )
    overdue_notice_business_days: int = Field(
        default=3, description="Overdue notice due N business days after an unpaid maturity."
    )
    first_usage_check_months: int = Field(
        default=1, description="First usage check within N months of disbursement."
    )
    annual_onsite_coverage_min: str = Field(
        default="0.50", description="Goal: share of borrowers visited on site each year."
    )
    student_loan_rules_file: str | None = Field(
        default=None,
        description="JSON file replacing or adding student-loan products and their rules "
        "(loans/student/rules.py; docs/student-loans.md).",
    )

    # Approval chains (DOMAIN §6): who decides, up to which amount (授权), and how fast.
    approval_chains_file: str | None = Field(
        default=None,
        description="JSON file replacing the default chain definitions (approvals/chains.py).",
    )
    extension_authority_branch_head_cents: int = Field(
        default=5_000_000_00,
        ge=0,
        description="A branch head decides an extension alone up to this exposure (¥5,000,000); "
        "above it the branch head's approval goes on to the credit committee.",
    )
    extension_authority_department_head_cents: int = Field(
        default=20_000_000_00,
        ge=0,
        description="The credit department head's extension authority (¥20,000,000).",
    )
    approval_level_business_days: int = Field(
        default=3, ge=1, description="Business days each level of a chain has to decide."
    )
    restructuring_other_npl: bool = Field(
        default=True,
        description="An extension is a restructuring when another of the borrower's loans is "
        "不良 (分类办法 第十七条: debts already non-performing).",
    )
    # The outbox (DESIGN decision 2): delivery to Prefect, at least once, with backoff.
    dispatcher_interval_seconds: float = Field(
        default=0.5, gt=0, description="How often `postloan serve` looks for outbox rows."
    )
    outbox_backoff_max_seconds: int = Field(
        default=300, ge=1, description="Longest wait between two delivery attempts of a row."
    )
    outbox_delivery: Literal["inline", "deployment"] = Field(
        default="inline",
        description="How the dispatcher delivers a batch of outbox rows: 'inline' runs the flow "
        "in the dispatcher's own process (a Prefect flow run, no process start: one machine); "
        "'deployment' starts a run of the flow's deployment for a work pool's workers.",
    )
    # SLA ladder of every human task (flows/escalation.py): business days after the due date.
    sla_remind_after_business_days: int = Field(
        default=1, ge=0, description="Remind the assignee N business days after the due date."
    )
    sla_head_after_business_days: int = Field(
        default=3, ge=1, description="Escalate to the head of the task's unit after N days."
    )
    sla_upper_after_business_days: int = Field(
        default=5, ge=1, description="Escalate one level up after N business days."
    )
    escalation_top_unit: str = Field(
        default="HO-CR",
        description="Where escalations above a branch go (授信管理部 by default).",
    )

    # Collection ladder (催收, DOMAIN §7; flows/escalation.py).
    collection_step_days: tuple[int, int, int, int, int] = Field(
        default=(1, 16, 31, 61, 91),
        description="Days past due from which the ladder's steps apply: negotiation, "
        "high-frequency phone, on-site visit, full pressure, legal referral (003).",
    )
    collection_cadence_days: tuple[int, int, int, int] = Field(
        default=(7, 3, 7, 7),
        description="A new contact task every N days at steps 1–4 while the loan stays there.",
    )
    legal_consecutive_missed: int = Field(
        default=3, ge=1, description="Installments missed in a row that send a loan to legal."
    )
    legal_cumulative_missed: int = Field(
        default=6, ge=1, description="Installments missed in all that send a loan to legal."
    )
    broken_promises_signal: int = Field(
        default=2, ge=1, description="Broken promises to pay that raise a warning signal (003)."
    )
    warning_dpd_days: int = Field(
        default=30, ge=1, description="Arrears past N days raise the 'sharp rise' warning signal."
    )

    # Serving under load (api/limits.py, core/db.py). A worker runs at most `api_threads`
    # requests at once and holds one DB connection inside each thread, so a pool that keeps as
    # many connections open never makes a thread wait — nor opens one per request: a connection
    # beyond the pool is closed when it is given back, and the next request pays Postgres a new
    # backend (at 20 threads on a pool of 10, half the requests did). The rest queue, then 503.
    api_threads: int = Field(
        default=20,
        ge=1,
        description="Requests a worker serves at once, and the threads it runs them in "
        "(anyio's default is 40); at most db_pool_size.",
    )
    api_queue_size: int = Field(
        default=100,
        ge=0,
        description="Requests that may wait for a free place; one more is answered 503 at once.",
    )
    api_queue_timeout_seconds: float = Field(
        default=10, gt=0, description="Longest wait for a free place before 503."
    )
    api_retry_after_seconds: int = Field(
        default=2, ge=1, description="Retry-After of a 503 (the server is busy)."
    )
    db_pool_size: int = Field(
        default=20, ge=1, description="DB connections a worker keeps open; at least api_threads."
    )
    db_max_overflow: int = Field(
        default=10,
        ge=0,
        description="DB connections opened beyond the pool for work outside the API's threads.",
    )
    db_pool_timeout_seconds: float = Field(
        default=10, gt=0, description="Longest wait for a DB connection before 503."
    )

    @model_validator(mode="after")
    def _threads_fit_the_pool(self) -> Settings:
        if self.api_threads > self.db_pool_size:
            raise ValueError(
                f"POSTLOAN_API_THREADS ({self.api_threads}) exceeds POSTLOAN_DB_POOL_SIZE "
                f"({self.db_pool_size}): each API thread holds a pooled connection, and one "
                "beyond the pool is opened and closed again for every request; set "
                "POSTLOAN_DB_POOL_SIZE to at least POSTLOAN_API_THREADS"
            )
        return self

    @model_validator(mode="after")
    def _bad_debt_rates_are_shares(self) -> Settings:
        for bucket, value in self.bad_debt_rates.items():
            try:
                share = Decimal(value)
            except ArithmeticError:
                share = Decimal(-1)
            if not Decimal(0) <= share <= Decimal(1):
                raise ValueError(
                    f"POSTLOAN_BAD_DEBT_RATES[{bucket}] = {value!r} is not a share 0..1"
                )
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@lru_cache
def get_settings() -> Settings:
    return Settings()


def signing_key(settings: Settings | None = None) -> str:
    """The configured key, or a random one created once (owner-only) for a development machine."""
    settings = settings or get_settings()
    if settings.secret_key:
        if len(settings.secret_key.encode()) < 32:
            raise ValueError("POSTLOAN_SECRET_KEY must be at least 32 bytes")
        return settings.secret_key
    path = Path(settings.secret_key_file)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip()
