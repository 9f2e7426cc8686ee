"""The loan book: borrowers, loans, installments, payments, collateral; schedule maths, aging,
regulatory rules, import and the loan transition service. Imports no web or Prefect library.

Importing any of it keeps the loans' state history in step with their journal
(loans.status_history registers its projection with audit.projections)."""

from loans import status_history as _status_history  # noqa: F401
