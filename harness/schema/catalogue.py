"""The findings' stable names and severities, in a module of their own: the rules
(harness.observe.findings) read them without building the record declarations, which
declare ``Finding.id`` and ``Finding.severity`` from them (records.FindingId, Severity).
"""

FINDING_IDS = (
    "accept_queue_overflow", "syn_queue_overflow", "close_wait_accumulation",
    "ephemeral_exhaustion", "server_time_wait", "time_wait_bucket_overflow",
    "connection_churn", "syn_sent_pileup", "retransmissions_resets",
    # a load run's remote host that did not answer (the Locust plugin's polls)
    "remote_unreachable",
    # the standing facts of a namespace's settings (`socklife doctor`)
    "port_range", "tw_reuse", "listen_backlog", "target_rate",
)
SEVERITIES = ("critical", "warning", "info")  # worst first
