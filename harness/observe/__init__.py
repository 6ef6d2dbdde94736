"""Meaning from kernel readings; imports harness.kernel only.

snapshot (one reading, a records.Sample), listeners (accept/SYN queues, fill), ports
(ephemeral use per destination and the exhaustion forecast), tw_reuse (how long
TIME_WAIT holds a port and whether tcp_tw_reuse frees it), timewait (TIME_WAIT
aggregated from raw dump bytes), leaks (CLOSE_WAIT ages by cookie, owner cache), sampler
(a sample every interval: rates, bounded history, run summary), hostwide (a sampler per
namespace of the host: --all-netns), listing (every socket, as ss -tanp -o lists them),
loop (the one sampling schedule), summary and figures (a run folded into its figures),
evidence and findings (the one rule set: what went wrong, with the evidence and the
fix), thresholds (NAME=N rules over a run summary), runfile and baseline (recorded runs
for `check`), lifecycle (per-socket transitions from tracepoints, TIME_WAIT inferred),
timeline (tracepoints and captured segments merged per connection, relative seq/ack).
"""
