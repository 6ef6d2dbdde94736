"""Terminal views of samples shared by commands (live.py: the live view `watch` and
`demo` draw; hosts.py: a row per namespace, `watch --all-netns`; findings.py: findings
as sentences, what every run's end prints first; text_table.py: plain tables, check's
verdicts and the Locust totals).
May import harness.observe and harness.kernel, never harness.commands.
"""
