"""Prefect flows and deployments: the daily sweep, the inspection scheduler and pre-maturity
collection. Steps (Prefect tasks) work on chunks of thousands of loans, never one loan at a time.
`flows/launch.py` is the only module that knows deployment names. Imports nothing of api/."""
