"""One module per CSV import kind (loans, installments, payments) and what they share; the entry
point is loans/importer.py."""
