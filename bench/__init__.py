"""Benchmarks: each module's `main(argv) -> {name: result}` measures the project's path beside a baseline.

`python -m bench [NAME …]` runs them (all by default), prints a table and writes `bench/results/latest.json`.
"""
