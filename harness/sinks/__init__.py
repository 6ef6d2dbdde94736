"""Where samples go: JSONL (jsonl.py), JUnit, output paths (outputs.py), and the exporter's
HTTP side: Prometheus exposition (prometheus.py), the JSON sample API (sample_api.py),
its server (http_server.py) and who may read it (access.py: token file, TLS).

May import harness.kernel and harness.observe.
"""
