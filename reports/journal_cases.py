"""Which journal objects make up each loan's case (贷款事件日志的对象): the loan, its tasks, its
approval requests, its warning and collection cases — the `CaseSource` the audit exports read
(audit/ may not import these tables; this layer sees them all)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session, col, select

from approvals.models import ApprovalRequest
from approvals.records import APPROVAL, request_of_chain
from audit.event_log import LOAN, CaseObject, ExportFilter
from cases.contacts import COLLECTION
from cases.models import CollectionCase, WarningCase
from cases.warnings import WARNING
from core.errors import ValidationError
from core.identity import OrgUnit
from loans.models import Borrower, Loan
from tasks.journaling import TASK
from tasks.models import HumanTask

_IN_CHUNK = 900


class BookCases:
    """The book's loans in id order (of one branch subtree if asked) and what belongs to them."""

    def __init__(self, session: Session, filt: ExportFilter) -> None:
        self.branch_path: str | None = None
        if filt.branch is not None:
            unit = session.exec(select(OrgUnit).where(OrgUnit.code == filt.branch)).first()
            if unit is None:
                raise ValidationError(
                    f"未知机构 {filt.branch!r} (unknown branch {filt.branch!r})",
                    errors=[{"field": "branch", "message": "未知机构代码",
                             "message_en": "unknown org unit code"}],
                )  # fmt: skip
            self.branch_path = unit.path

    def loans(self, session: Session, *, after: int, limit: int) -> list[tuple[int, CaseObject]]:
        query = (
            select(Loan.id, Loan.loan_no, Loan.product, OrgUnit.code, Borrower.customer_no)
            .join(OrgUnit, col(OrgUnit.id) == col(Loan.branch_id))
            .join(Borrower, col(Borrower.id) == col(Loan.borrower_id))
            .where(col(Loan.id) > after)
        )
        if self.branch_path is not None:
            query = query.where(col(OrgUnit.path).startswith(self.branch_path))
        rows = session.exec(query.order_by(col(Loan.id)).limit(limit)).all()
        return [
            (
                loan_id or 0,
                CaseObject(
                    LOAN, loan_no, {"product": product, "branch": branch, "customer_no": customer}
                ),
            )
            for loan_id, loan_no, product, branch, customer in rows
        ]

    def members(self, session: Session, loan_ids: Sequence[int]) -> dict[int, list[CaseObject]]:
        found: dict[int, list[CaseObject]] = {}
        loan_nos: dict[int, str] = {}

        def add(loan_id: int, obj: CaseObject) -> None:
            found.setdefault(loan_id, []).append(obj)

        for ids in (list(loan_ids[i : i + _IN_CHUNK]) for i in range(0, len(loan_ids), _IN_CHUNK)):
            for loan_id, loan_no in session.exec(
                select(Loan.id, Loan.loan_no).where(col(Loan.id).in_(ids))
            ):
                loan_nos[loan_id or 0] = loan_no
            for rid, loan_id, kind in session.exec(
                select(ApprovalRequest.id, ApprovalRequest.loan_id, ApprovalRequest.kind)
                .where(col(ApprovalRequest.loan_id).in_(ids))
                .order_by(col(ApprovalRequest.id))
            ):
                add(loan_id, _member(APPROVAL, rid, {"kind": kind}, (LOAN, loan_nos[loan_id])))
            for tid, loan_id, kind, chain in session.exec(
                select(HumanTask.id, HumanTask.loan_id, HumanTask.kind, HumanTask.chain_key)
                .where(col(HumanTask.loan_id).in_(ids))
                .order_by(col(HumanTask.id))
            ):
                assert loan_id is not None
                request = request_of_chain(chain)
                also = ((APPROVAL, str(request)),) if request is not None else ()
                add(loan_id, _member(TASK, tid, {"kind": kind}, (LOAN, loan_nos[loan_id]), *also))
            for wid, loan_id, grade, request in session.exec(
                select(
                    WarningCase.id, WarningCase.loan_id, WarningCase.grade, WarningCase.request_id
                )  # fmt: skip
                .where(col(WarningCase.loan_id).in_(ids))
                .order_by(col(WarningCase.id))
            ):
                also = ((APPROVAL, str(request)),) if request is not None else ()
                add(loan_id, _member(WARNING, wid, {"grade": grade}, (LOAN, loan_nos[loan_id]),
                                     *also))  # fmt: skip
            for cid, loan_id in session.exec(
                select(CollectionCase.id, CollectionCase.loan_id)
                .where(col(CollectionCase.loan_id).in_(ids))
                .order_by(col(CollectionCase.id))
            ):
                add(loan_id, _member(COLLECTION, cid, {}, (LOAN, loan_nos[loan_id])))
        return found


def _member(
    aggregate_type: str, row_id: int | None, attributes: dict[str, Any], *related: tuple[str, str]
) -> CaseObject:
    return CaseObject(aggregate_type, str(row_id), attributes, tuple(related))
