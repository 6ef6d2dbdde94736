"""Socket options the endpoints set, spelled once: abortive close, keepalive, source binding.

Kernel names are kept: ``SO_LINGER`` with ``struct linger {l_onoff=1, l_linger=0}`` makes
close() send RST and skip TIME_WAIT; ``TCP_KEEPIDLE``/``TCP_KEEPINTVL``/``TCP_KEEPCNT``
tune keepalive; ``IP_BIND_ADDRESS_NO_PORT`` (Linux >= 4.2, value 24 in
include/uapi/linux/in.h) lets bind() pick an address without reserving a port, so the port
is chosen at connect() time with the whole 4-tuple in view.
"""

from __future__ import annotations

import resource
import socket
import struct

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
LINGER_RST = struct.pack("ii", 1, 0)  # struct linger {int l_onoff; int l_linger;}


def set_linger_rst(sock: socket.socket) -> None:
    """Make the next close() abortive: RST instead of FIN, no TIME_WAIT."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RST)


def set_keepalive(sock: socket.socket, idle: int, intvl: int, cnt: int) -> None:
    """SO_KEEPALIVE on, first probe after ``idle`` s, then every ``intvl`` s, ``cnt`` probes."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, intvl)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, cnt)


def raise_nofile() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def family_of(host: str) -> socket.AddressFamily:
    """AF_INET6 for an address with a colon (``::1``), AF_INET otherwise."""
    return socket.AF_INET6 if ":" in host else socket.AF_INET


