"""Where samples go: JSONL (jsonl.py), CSV, Prometheus exposition.

May import harness.kernel and harness.observe.
"""
