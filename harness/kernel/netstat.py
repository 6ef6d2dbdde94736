"""Kernel TCP counters: /proc/net/netstat (TcpExt, IpExt, ...) and /proc/net/snmp (Tcp, ...).

Both files hold pairs of lines, names then values, under one prefix::

    TcpExt: SyncookiesSent ListenOverflows ListenDrops
    TcpExt: 0 8 8

    >>> parse_pairs("TcpExt: ListenOverflows ListenDrops\\nTcpExt: 8 8\\n")
    {'TcpExt': {'ListenOverflows': 8, 'ListenDrops': 8}}

Values are cumulative since the namespace was made (Tcp's MaxConn is -1, hence signed).
"""

from __future__ import annotations

from harness.kernel.procfs import net_file, read_text

# The names of /proc/net/snmp's Tcp line (RFC 1213's tcp group; InCsumErrors since 3.10).
# Every other name that read_tcp_counters returns is TcpExt's (/proc/net/netstat).
SNMP_TCP = frozenset((
    "RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens", "PassiveOpens",
    "AttemptFails", "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs", "InErrs",
    "OutRsts", "InCsumErrors",
))


def parse_pairs(text: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    lines = text.splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        prefix, _, name_part = names.partition(":")
        vprefix, _, value_part = values.partition(":")
        if prefix != vprefix:
            raise ValueError(f"unpaired lines in counter file: {prefix!r} / {vprefix!r}")
        keys, vals = name_part.split(), value_part.split()
        out[prefix] = {k: int(v) for k, v in zip(keys, vals, strict=True)}
    return out


def read_netstat() -> dict[str, dict[str, int]]:
    """TcpExt, IpExt, MPTcpExt... of the calling thread's namespace."""
    return parse_pairs(read_text(net_file("netstat")))


def read_snmp() -> dict[str, dict[str, int]]:
    """Ip, Icmp, Tcp, Udp... of the calling thread's namespace."""
    return parse_pairs(read_text(net_file("snmp")))


def read_tcp_counters() -> dict[str, int]:
    """Tcp (snmp) and TcpExt (netstat) merged into one flat dict of names.

    The two sets of names do not overlap (``ActiveOpens`` is Tcp, ``ListenOverflows``
    is TcpExt), so the flat form is what ``nstat`` shows without its prefixes.
    """
    flat = dict(read_snmp().get("Tcp", {}))
    flat.update(read_netstat().get("TcpExt", {}))
    return flat


def counter_group(name: str) -> str:
    """The line a name of ``read_tcp_counters`` comes from, as nstat and node_exporter
    prefix it: ``"ActiveOpens"`` -> ``"Tcp"`` (snmp), ``"ListenOverflows"`` -> ``"TcpExt"``."""
    return "Tcp" if name in SNMP_TCP else "TcpExt"
