"""The machines (python-statemachine, strict). Imports no DB, HTTP, Prefect or templating library."""
