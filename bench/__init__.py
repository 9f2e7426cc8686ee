"""Benchmarks: timings printed as ratios against a floor measured in the same run (STYLE.md)."""
