"""Ephemeral port exhaustion, seen coming: 200 client ports, 20 new connections a second.

Without --host (root needed) it builds a lab: a client and a server namespace joined by
a veth (harness.lab), the client with `ip_local_port_range = 40000 40199` and
`tcp_tw_reuse = 0`, an echo server on the server host. The Users connect from the
client namespace to the server and close first, so every connection leaves its client
port in TIME_WAIT for 60 s; the sampler watches the client namespace.

What you see: in `<csv-prefix>_tcp.csv` (and the "TCP states" tab) `ephemeral_in_use`
climbing by about 20 a second and `ephemeral_headroom` falling towards 0, the sampler's
forecast ("exhausts in ~N s") counting down, and from about 10 s on, connect failures
`EADDRNOTAVAIL` in Locust's failures, about when the forecast said. Then the rate
settles at what the range allows: 200 ports / 60 s. `--socklife-max eaddrnotavail=0`
fails the run with exit code 3.

    sudo locust -f locustfiles/port_exhaustion.py --headless -u 2 -r 2 -t 20s --csv ports
"""

import sys

from locust import constant_throughput, events
from locust.runners import WorkerRunner

from harness.kernel.errors import KernelError
from harness.lab import Lab
from harness.load import plugin  # noqa: F401  (the --socklife-* arguments and the sampler)
from harness.load.tcp_user import ShortTcpUser
from harness.sockets import Server

PORT_RANGE = "40000 40199"
RATE = 20.0  # connections per second, all Users together
SERVER_PORT = 7000


@events.init.add_listener
def _lab(environment, **_kw):
    if environment.host or isinstance(environment.runner, WorkerRunner):
        return
    try:
        lab = Lab(sysctls={"client": {"net.ipv4.ip_local_port_range": PORT_RANGE,
                                      "net.ipv4.tcp_tw_reuse": 0}}).up()
    except KernelError as exc:
        print(f"port_exhaustion.py: {exc} (or give --host tcp://HOST:PORT)", file=sys.stderr)
        raise SystemExit(2) from None
    server = Server(host=lab.server.addr, port=SERVER_PORT, netns=lab.server.netns).start()
    environment.host = f"tcp://{lab.server.addr}:{SERVER_PORT}"
    Exhaust.netns = lab.client.netns
    if environment.parsed_options and not environment.parsed_options.socklife_netns:
        environment.parsed_options.socklife_netns = lab.client.netns

    def down(**_kw):
        server.stop()
        lab.down()

    environment.events.quitting.add_listener(down)


@events.test_start.add_listener
def _pace(environment, **_kw):
    users = getattr(environment.parsed_options, "num_users", None) or 1
    Exhaust.wait_time = constant_throughput(RATE / users)


class Exhaust(ShortTcpUser):
    """Short connections at RATE per second in all; the client closes first."""

    wait_time = constant_throughput(RATE)
