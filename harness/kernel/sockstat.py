"""/proc/net/sockstat and sockstat6: per-protocol socket totals (what `ss -s` reads).

Parse half::

    >>> parse_sockstat("TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\\n")
    {'TCP': {'inuse': 5, 'orphan': 0, 'tw': 2, 'alloc': 7, 'mem': 1}}

``tw`` counts TIME_WAIT *and* orphaned FIN_WAIT2 minisockets, of IPv4 and IPv6 together
(``minisockets``); less the FIN_WAIT2 ones, found in a dump, it is the TIME_WAIT count
(``time_wait``).
"""

from __future__ import annotations

import contextlib

from harness.kernel.procfs import net_file, read_text


def parse_sockstat(text: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for line in text.splitlines():
        proto, _, rest = line.partition(":")
        words = rest.split()
        if not proto or len(words) % 2:
            continue
        out[proto.strip()] = {k: int(v) for k, v in zip(words[::2], words[1::2], strict=True)}
    return out


def read_sockstat(ipv6: bool = True) -> dict[str, dict[str, int]]:
    """sockstat and (``ipv6``) sockstat6 of the calling thread's namespace, merged by
    protocol."""
    out = parse_sockstat(read_text(net_file("sockstat")))
    if ipv6:
        with contextlib.suppress(FileNotFoundError):  # a kernel without IPv6 has none
            out.update(parse_sockstat(read_text(net_file("sockstat6"))))
    return out


def minisockets(sockstat: dict) -> int:
    """sockstat's ``tw``: the namespace's TIME_WAIT sockets and FIN_WAIT2 minisockets."""
    return sockstat.get("TCP", {}).get("tw", 0)


def time_wait(sockstat: dict, fin_wait2_minisockets: int) -> int:
    """The namespace's TIME_WAIT sockets: ``tw`` less the FIN_WAIT2 minisockets (those
    are in a dump of the other states: timer 3 in FIN_WAIT2)."""
    return max(0, minisockets(sockstat) - fin_wait2_minisockets)
