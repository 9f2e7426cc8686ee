"""Shared ground: settings, database, clock, errors and identity. Imports nothing else of postloan."""
