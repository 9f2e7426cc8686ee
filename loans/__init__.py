"""The loan book: borrowers, loans, installments, payments, collateral; schedule maths, aging,
regulatory rules, import and the loan transition service. Imports no web or Prefect library."""
