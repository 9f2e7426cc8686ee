"""Notice forms: 贷款到期通知书 maturity notice and 贷款逾期通知书 overdue notice — issuing the
generated document and filing the borrower's signed receipt (000; DOMAIN §7).

Pure pydantic: imports no DB, HTTP or Prefect library.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from forms.base import AttachmentRef, LabelledEnum, LongText, TaskForm, label


class DeliveryMethod(LabelledEnum):
    in_person = "in_person", "当面送达", "In person"
    registered_mail = "registered_mail", "挂号信", "Registered mail"
    courier = "courier", "快递", "Courier"


class _NoticeForm(TaskForm):
    issued_on: date = label("送达日期", "Issued on")
    delivery_method: DeliveryMethod = label("送达方式", "Delivery method")
    receipt: AttachmentRef = label("借款人签收回执", "Signed receipt")
    notes: LongText | None = label("备注", "Notes", default=None)


class MaturityNoticeForm(_NoticeForm):
    """Issued at least 10 days (default 30) before maturity; the receipt is filed (000)."""

    kind: ClassVar[str] = "maturity_notice"
    title_zh: ClassVar[str] = "贷款到期通知书"
    title_en: ClassVar[str] = "Maturity notice"


class OverdueNoticeForm(_NoticeForm):
    """Issued after an unpaid maturity; the receipt is filed (000)."""

    kind: ClassVar[str] = "overdue_notice"
    title_zh: ClassVar[str] = "贷款逾期通知书"
    title_en: ClassVar[str] = "Overdue notice"
