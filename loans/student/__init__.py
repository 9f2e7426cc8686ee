"""The student-loan book (国家助学贷款, DOMAIN §8): the product's rules as data, its tables, the
plan maths (in-school subsidy, grace, repayment), booking a student loan and confirming a
graduation. Imports no web or Prefect library."""
