"""Meaning from kernel readings; imports harness.kernel only.

snapshot (one reading as the design.md JSON), listeners (accept/SYN queues, fill),
ports (ephemeral use per destination and the exhaustion forecast), timewait (TIME_WAIT
aggregated from raw dump bytes), leaks (CLOSE_WAIT ages by cookie, owner cache),
sampler (a sample every interval: rates, bounded history, run summary), doctor (risks
explained with their fixes).
"""
