"""The benchmark suite: `python -m bench` (full) and `python -m bench --smoke` (CI-sized).

Every figure is a ratio or a rate measured side by side in one run; see BENCHMARKS.md.
"""
