"""JSONL, CSV, JUnit and Prometheus writers."""
