"""A kernel reader that replays a recorded moment (tests/fixtures/kernel/t*/), for the
sampler without root.

``scan`` answers any dump request from the recorded messages as the kernel would: the
state mask and the port filter ("local or remote port is P", or none of them) applied
per socket, the rest sent back in buffers of at most 32 KiB and an NLMSG_DONE; /proc
files are parsed from the moment's ``proc/`` tree, owners from ``owners.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from paths import FIXTURES

from harness.kernel import inet_diag as wire
from harness.kernel import netlink
from harness.kernel.netstat import parse_pairs
from harness.kernel.owners import Owner
from harness.kernel.sockdiag import FAMILIES, count_codes
from harness.kernel.sockstat import parse_sockstat
from harness.kernel.sysctls import SYSCTLS, parse_value

CHUNK = 32 * 1024


def _messages(chunks: list[bytes]) -> list[bytes]:
    """Each socket's whole netlink message (header included), in dump order."""
    out = []
    for chunk in chunks:
        wire.walk(chunk, len(chunk),
                  lambda buf, off: out.append(_whole(buf, off - netlink.NLMSG_HDRLEN)),
                  wire.ChunkResult())
    return out


def _whole(buf, start: int) -> bytes:
    (length,) = netlink.NLMSGHDR.unpack_from(buf, start)[:1]
    return bytes(buf[start:start + length])


class ReplayReader:
    """The reader interface of harness.kernel.reader.NamespaceReader over a moment."""

    def __init__(self, moment: str | Path):
        self.dir = FIXTURES / "kernel" / moment if isinstance(moment, str) else moment
        chunks = [bytes.fromhex(line) for line in (self.dir / "dump.hex").read_text().split()]
        self.messages = _messages(chunks)
        self.time = float((self.dir / "time").read_text())
        self.scans: list[tuple] = []  # (states mask, ports, exclude_ports) asked for

    def records(self) -> list:
        return [wire.decode_msg(m, netlink.NLMSG_HDRLEN) for m in self.messages]

    def close(self) -> None:
        pass

    def scan(self, consume, states=None, ports=(), families=FAMILIES, reset=None,
             exclude_ports: bool = False) -> bool:
        mask = wire.states_mask(states)
        ports = set(ports)
        self.scans.append((mask, tuple(sorted(ports)), exclude_ports))
        kept = []
        for msg in self.messages:
            r = wire.decode_msg(msg, netlink.NLMSG_HDRLEN)
            if not mask & (1 << r.state_code):
                continue
            if ports and ((r.sport in ports or r.dport in ports) == exclude_ports):
                continue
            kept.append(msg)
        done = netlink.NLMSGHDR.pack(netlink.NLMSG_HDRLEN + 4, netlink.NLMSG_DONE,
                                     netlink.NLM_F_MULTI, 1, 0) + bytes(4)
        buf = bytearray()
        for msg in [*kept, done]:
            if len(buf) + len(msg) > CHUNK:
                self._feed(consume, buf)
                buf = bytearray()
            buf += msg + bytes(-len(msg) % 4)
        self._feed(consume, buf)
        return True

    @staticmethod
    def _feed(consume, buf: bytearray) -> None:
        if buf:
            padded = bytearray(buf) + bytearray(1 << 16)  # like the sampler's receive buffer
            consume(padded, len(buf), wire.ChunkResult())

    def count_codes(self, states=None, ports=(), exclude_ports: bool = False,
                    families=FAMILIES):
        return count_codes(self.scan, states, ports, exclude_ports, families)

    def _proc(self, *parts: str) -> str:
        return (self.dir / "proc").joinpath(*parts).read_text()

    def sockstat(self) -> dict:
        return parse_sockstat(self._proc("net", "sockstat"))

    def counters(self) -> dict:
        flat = dict(parse_pairs(self._proc("net", "snmp")).get("Tcp", {}))
        flat.update(parse_pairs(self._proc("net", "netstat")).get("TcpExt", {}))
        return flat

    def sysctls(self) -> dict:
        return {name: parse_value(name, self._proc("sys", *rel.split("/")))
                for name, rel in SYSCTLS.items()}

    def owners(self, inodes) -> dict:
        table = json.loads((self.dir / "owners.json").read_text())
        return {i: Owner(*table[str(i)]) for i in inodes if str(i) in table}


class Moments:
    """Readers that step from one recorded moment to the next at each sample: the
    sampler's ``reader`` and ``clock`` at once."""

    def __init__(self, *names: str):
        self.readers = [ReplayReader(n) for n in names]
        self.at = 0

    def __call__(self) -> float:  # the clock: the moment's recorded time
        return self.readers[self.at].time

    def __getattr__(self, name):
        return getattr(self.readers[self.at], name)

    def next(self) -> None:
        self.at += 1
