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

    locust -f locustfiles/short_tcp.py --headless -u 10 -r 10 -t 20s --csv run
    locust -f locustfiles/short_tcp.py --headless -u 10 -r 10 -t 6s \\
        --host tcp://127.0.0.1:7000 --socklife-max CLOSE_WAIT=0
"""

from locust import events

from harness.load import plugin  # noqa: F401  (the --socklife-* arguments and the sampler)
from harness.load.target import own_target
from harness.load.tcp_user import CLOSERS, ShortTcpUser


@events.init_command_line_parser.add_listener
def _arguments(parser, **_kw):
    parser.add_argument("--closer", choices=CLOSERS, default="client",
                        help="Who closes first: client (TIME_WAIT on the client) or server.")


@events.init.add_listener
def _target(environment, **_kw):
    closer = getattr(environment.parsed_options, "closer", "client")
    ShortTcp.closer = closer
    own_target(environment, behavior="close-first" if closer == "server" else "echo")


class ShortTcp(ShortTcpUser):
    """Connect, one request, close; who closes first is --closer."""
