"""A server that accepts too slowly: the accept queue fills and SYNs are dropped.

Without --host it starts a `slow-accept` server with backlog 4 that accepts one
connection every 50 ms (20/s) on 127.0.0.1; the Users ask for more than that.

What you see: in the "TCP states" tab the accept queue at 4 or 5 of 5 (it holds
backlog + 1) and `listen_overflows` climbing in `<csv-prefix>_tcp.csv`; in Locust's
stats the `connect` latency jumps to about 1 s and 3 s (the client's SYN was dropped
and retransmitted after the kernel's initial 1 s RTO, then 2 s more), and connections
sit in SYN_SENT.
`--socklife-max listen_overflows=0` fails the run with exit code 3.

    locust -f locustfiles/accept_overflow.py --headless -u 40 -r 40 -t 15s \\
        --socklife-max listen_overflows=0
"""

from locust import constant, events

from harness.load import plugin  # noqa: F401  (the --socklife-* arguments and the sampler)
from harness.load.target import own_target
from harness.load.tcp_user import ShortTcpUser

BACKLOG = 4
ACCEPT_INTERVAL_MS = 50


@events.init.add_listener
def _target(environment, **_kw):
    own_target(environment, behavior="slow-accept", backlog=BACKLOG,
               accept_interval_ms=ACCEPT_INTERVAL_MS)


class Overflow(ShortTcpUser):
    """Short connections, a little pause between them; more Users than the server accepts."""

    wait_time = constant(0.1)
