"""Where samples go: JSONL (jsonl.py), CSV, Prometheus exposition (prometheus.py;
prometheus_hosts.py: every namespace, a netns label on each series).

May import harness.kernel and harness.observe.
"""
