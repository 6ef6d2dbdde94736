"""The namespace's TCP sysctls (all of them are per network namespace), read-only here.

Parse half, one value per file::

    >>> parse_value("ip_local_port_range", "32768\\t60999\\n")
    [32768, 60999]
    >>> parse_value("ip_local_reserved_ports", "8080,9000-9002\\n")
    [[8080, 8080], [9000, 9002]]
"""

from __future__ import annotations

import contextlib

from harness.kernel.netns import entered
from harness.kernel.procfs import read_text, sys_file

# name -> path under /proc/sys
SYSCTLS = {
    "ip_local_port_range": "net/ipv4/ip_local_port_range",
    "ip_local_reserved_ports": "net/ipv4/ip_local_reserved_ports",
    "tcp_tw_reuse": "net/ipv4/tcp_tw_reuse",
    "tcp_fin_timeout": "net/ipv4/tcp_fin_timeout",
    "somaxconn": "net/core/somaxconn",
    "tcp_max_syn_backlog": "net/ipv4/tcp_max_syn_backlog",
    "tcp_max_tw_buckets": "net/ipv4/tcp_max_tw_buckets",
    "tcp_abort_on_overflow": "net/ipv4/tcp_abort_on_overflow",
    "tcp_syncookies": "net/ipv4/tcp_syncookies",
    "tcp_keepalive_time": "net/ipv4/tcp_keepalive_time",
    "tcp_keepalive_intvl": "net/ipv4/tcp_keepalive_intvl",
    "tcp_keepalive_probes": "net/ipv4/tcp_keepalive_probes",
    "tcp_synack_retries": "net/ipv4/tcp_synack_retries",
    "tcp_syn_retries": "net/ipv4/tcp_syn_retries",
    "tcp_syn_linear_timeouts": "net/ipv4/tcp_syn_linear_timeouts",  # since Linux 6.7
    "tcp_retries2": "net/ipv4/tcp_retries2",
    "tcp_ehash_entries": "net/ipv4/tcp_ehash_entries",  # read-only, since Linux 6.1
}


def parse_ranges(text: str) -> list[list[int]]:
    """``"1000-1002,2000"`` -> ``[[1000, 1002], [2000, 2000]]``."""
    out = []
    for part in text.replace(" ", "").strip().split(","):
        if not part:
            continue
        lo, _, hi = part.partition("-")
        out.append([int(lo), int(hi or lo)])
    return out


def parse_value(name: str, text: str):
    if name == "ip_local_port_range":
        lo, hi = text.split()
        return [int(lo), int(hi)]
    if name == "ip_local_reserved_ports":
        return parse_ranges(text)
    return int(text.split()[0])


def read_sysctls(netns: str | None = None) -> dict:
    """Every sysctl of SYSCTLS read inside ``netns``; one the kernel lacks is left out."""
    out = {}
    with entered(netns):
        for name, path in SYSCTLS.items():
            with contextlib.suppress(FileNotFoundError):
                out[name] = parse_value(name, read_text(sys_file(path)))
    return out


def usable_ports(port_range: list[int], reserved: list[list[int]]) -> int:
    """How many ephemeral ports connect() can pick: the range minus reserved ports in it."""
    lo, hi = port_range
    taken = sum(max(0, min(hi, r_hi) - max(lo, r_lo) + 1) for r_lo, r_hi in reserved)
    return max(0, hi - lo + 1 - taken)
