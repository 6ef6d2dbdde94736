"""The harness's own endpoints: servers with lifecycle behaviours and a short-connection client.

behaviors (what each server behaviour does and which states it leaves), options (socket
options: SO_LINGER {1, 0}, keepalive, IP_BIND_ADDRESS_NO_PORT, RLIMIT_NOFILE), server
(``Server``: a selectors loop in a thread), client (``run_connect`` -> ``ConnectResult``).
May import harness.kernel (namespaces) only.
"""

from harness.sockets.behaviors import BEHAVIORS, Behavior
from harness.sockets.client import CLOSERS, ConnectResult, run_connect
from harness.sockets.server import Server

__all__ = ["BEHAVIORS", "CLOSERS", "Behavior", "ConnectResult", "Server", "run_connect"]
