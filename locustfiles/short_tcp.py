"""Short TCP connections, with the kernel's TCP states sampled beside the load.

Each User connects, sends one line, reads the answer and closes, as fast as it can.
`--closer client` (default) closes first: TIME_WAIT piles up on the client side, about
60 s worth of connections. `--closer server` waits for the server's FIN: TIME_WAIT lands
on the server instead. Against a server that never closes (`socklife serve --behavior
never-close`) CLOSE_WAIT grows on the server and FIN_WAIT2 on the client: a leak, which
`--socklife-max CLOSE_WAIT=0` turns into exit code 3.

What you see: Locust's stats with `connect` and `request` rows (latencies), failures per
errno (ECONNREFUSED, EADDRNOTAVAIL...), the "TCP states" tab, and `<csv-prefix>_tcp.csv`.
Without --host it starts its own echo server (close-first with --closer server).
`--request http` sends an HTTP/1.1 GET with `Connection: close` instead of a line, for
HTTP servers (nginx closes first: use it with `--closer server`).

    locust -f locustfiles/short_tcp.py --headless -u 10 -r 10 -t 20s --csv run
    locust -f locustfiles/short_tcp.py --headless -u 10 -r 10 -t 6s \\
        --host tcp://127.0.0.1:7000 --socklife-max CLOSE_WAIT=0
    locust -f locustfiles/short_tcp.py --headless -u 10 -r 10 -t 20s --processes 2 \
        --host tcp://127.0.0.1:8080 --request http --closer server
"""

from locust import events

from harness.load import plugin  # noqa: F401  (the --socklife-* arguments and the sampler)
from harness.load.target import own_target
from harness.load.tcp_user import CLOSERS, ShortTcpUser

REQUESTS = {
    "line": b"ping\n",
    "http": b"GET / HTTP/1.1\r\nHost: socklife\r\nConnection: close\r\n\r\n",
}


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kw):
    parser.add_argument("--closer", choices=CLOSERS, default="client",
                        help="Who closes first: client (TIME_WAIT on the client) or server.")
    parser.add_argument("--request", choices=tuple(REQUESTS), default="line",
                        help="What to send: a line (echo servers) or an HTTP GET "
                             "with Connection: close.")


@events.init.add_listener
def _target(environment, **_kw):
    closer = getattr(environment.parsed_options, "closer", "client")
    own_target(environment, behavior="close-first" if closer == "server" else "echo")


@events.test_start.add_listener
def _user_options(environment, **_kw):
    # here, not at init: a worker has the master's options merged only by now
    ShortTcp.closer = getattr(environment.parsed_options, "closer", "client")
    ShortTcp.payload = REQUESTS[getattr(environment.parsed_options, "request", "line")]


class ShortTcp(ShortTcpUser):
    """Connect, one request, close; who closes first is --closer."""
