"""nftables rules inside one lab host: drop or count chosen TCP segments.

Each host gets its own ``inet socklife`` table (input and output chains, filter hook)
inside its namespace, so it disappears with the namespace and never touches the
machine's firewall. Rules are added with the ``nft`` tool (Debian's nftables package)
and read back with ``nft -j``; every rule carries a counter and a comment naming it.

Matching (all given fields must hold): ``tcp_flags="syn,ack"`` is the exact set of
FIN/SYN/RST/PSH/ACK/URG bits; ``sport``/``dport``/``saddr``/``daddr``;
``payload_len=N`` the TCP payload length, ``data=True/False`` some/no payload.
nft has no arithmetic between header fields, so the payload length is matched as the
pair (IP length, TCP data-offset byte) against the set of the eleven possible header
lengths: ``ip length . @th,96,8 { 40 . 0x50, 44 . 0x60, ... }`` (IPv4 without options;
for IPv6 ``ip6 length`` without extension headers). The data-offset byte is read
whole because nft 1.0.6 aborts listing a concatenation with the 4-bit ``tcp doff``.
The family comes from ``saddr``/``daddr``, else ``family="ip"|"ip6"`` (default ip).

Only the first N: ``count=N`` (``once=True`` is ``count=1``) gates the rule with
``limit rate 1/hour burst N packets``: the bucket starts with N hour-long tokens, so
exactly N matching segments reach the verdict and later ones (the retransmissions)
pass. The counter sits after the gate and so counts what the rule dropped.

A rule remembers its match, when it was added and (once deleted) its last counter, and
``Rule.matches(segment)`` is the same match in Python over a captured segment dict
(``harness.kernel.tcp_segment``): with the counter that says how many it dropped, a
capture taken where the segment was still on the wire (the receiver's side, before
its ``input`` chain) tells which segments were lost.

From a time on: ``drop_after(seconds, **match)`` adds the rule ``seconds`` from now
(a timer thread; ``meta time`` in nft 1.0.6 takes whole seconds only).

Delay is not offered. Seen on kernel 6.18 here: ``tc qdisc ... netem`` gives
"Specified qdisc kind is unknown" (CONFIG_NET_SCH_NETEM unset) and ``nft ... queue
num 0`` gives "No such file or directory" (CONFIG_NFT_QUEUE unset); only the xtables
NFQUEUE target exists, which nft cannot write (iptables is not installed), and a
userspace verdict loop was not built. The fault is a drop; TCP's retransmission after
it is the delay (seen: about 0.2 s for a data segment on the veth, 1 s for a SYN+ACK).

Where to drop: a drop in the sender's ``output`` chain is a failed send (-EPERM to
TCP), not a loss: TCP sends the segment again later as new data and RetransSegs stays
0. To simulate a loss on the wire, drop in the receiver's ``input`` chain; then the
sender retransmits (RetransSegs, TCPLossProbes). A SYN+ACK dropped in the server's
output is still retransmitted by the request socket's timer (TCPSynRetrans).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import threading
import time

from harness.kernel.errors import KernelError

FLAG_BITS = "fin|syn|rst|psh|ack|urg"
CHAINS = ("input", "output")
_ids = itertools.count(1)

TABLE = """table inet socklife {
  chain input { type filter hook input priority 0; policy accept; }
  chain output { type filter hook output priority 0; policy accept; }
}
"""


def _flags(spec: str) -> str:
    """``"syn,ack"`` -> ``(syn|ack)``: the exact set of flags (others must be clear)."""
    names = [f.strip().lower() for f in spec.replace("|", ",").split(",") if f.strip()]
    bad = [n for n in names if n not in FLAG_BITS.split("|")]
    if bad or not names:
        raise ValueError(f"bad tcp flags {spec!r}")
    return names[0] if len(names) == 1 else "(" + "|".join(names) + ")"


def _empty_segments(family: str, payload: int) -> str:
    """``{ iplen . doff_byte, ... }`` for every TCP header length 20..60 and ``payload``."""
    base = 20 if family == "ip" else 0  # IPv4 header counts in ip length; ip6 length not
    return "{ " + ", ".join(f"{base + 4 * d + payload} . 0x{d << 4:02x}"
                            for d in range(5, 16)) + " }"


def match_expr(tcp_flags: str | None = None, sport: int | None = None,
               dport: int | None = None, saddr: str | None = None,
               daddr: str | None = None, min_length: int | None = None,
               payload_len: int | None = None, data: bool | None = None,
               family: str | None = None) -> str:
    """An nft match: every given field must hold. ``min_length``: IPv4 total length.
    ``tcp_flags="ack", payload_len=0`` is a pure ACK."""
    for value in (saddr, daddr):
        if value:
            family = "ip6" if ":" in value else "ip"
    family = family or "ip"
    if family not in ("ip", "ip6"):
        raise ValueError(f"family is ip or ip6, not {family!r}")
    parts = ["meta l4proto tcp"]
    for field, value in (("saddr", saddr), ("daddr", daddr)):
        if value:
            parts.append(f"{family} {field} {value}")
    if sport:
        parts.append(f"tcp sport {int(sport)}")
    if dport:
        parts.append(f"tcp dport {int(dport)}")
    if tcp_flags:
        parts.append(f"tcp flags & ({FLAG_BITS}) == {_flags(tcp_flags)}")
    if min_length:
        parts.append(f"ip length >= {int(min_length)}")
    if payload_len is not None or data is not None:
        if payload_len is not None and (data is not None or payload_len < 0):
            raise ValueError("give payload_len=N (N >= 0) or data=True/False, not both")
        head = "ip hdrlength 5 ip length" if family == "ip" else "ip6 nexthdr tcp ip6 length"
        op = "!= " if data else ""
        parts.append(f"{head} . @th,96,8 {op}{_empty_segments(family, payload_len or 0)}")
    return " ".join(parts)


def segment_matches(match: dict, seg: dict) -> bool:
    """Whether a decoded segment (``src``, ``dst``, ``sport``, ``dport``, ``flags`` as
    "ACK,FIN", ``len``) meets ``match`` (the keyword arguments of ``match_expr``)."""
    for key, field in (("sport", "sport"), ("dport", "dport"), ("saddr", "src"),
                       ("daddr", "dst")):
        if match.get(key) and seg.get(field) != match[key]:
            return False
    flags = match.get("tcp_flags")
    if flags:
        want = {f.strip().upper() for f in flags.replace("|", ",").split(",") if f.strip()}
        have = {f for f in seg.get("flags", "").split(",") if f in FLAG_BITS.upper().split("|")}
        if want != have:
            return False
    if match.get("payload_len") is not None and seg.get("len") != match["payload_len"]:
        return False
    data = match.get("data")
    return data is None or bool(seg.get("len")) == data


class Rule:
    """One rule of a host's table; ``packets`` reads its counter now (0 before it exists,
    the last value read before ``delete()`` after it)."""

    def __init__(self, nft: Nft, chain: str, name: str, match: dict | None = None,
                 count: int | None = None):
        self.nft, self.chain, self.name = nft, chain, name
        self.match, self.count = dict(match or {}), count
        self.added_at = time.monotonic()  # just before the rule exists (monotonic clock)
        self.deleted_at: float | None = None
        self._final: int | None = None

    def __repr__(self) -> str:
        return f"Rule({self.nft.netns} {self.chain} {self.name})"

    @property
    def packets(self) -> int:
        if self._final is not None:
            return self._final
        return self.nft.counters().get(self.name, 0)

    def matches(self, seg: dict) -> bool:
        return segment_matches(self.match, seg)

    def delete(self) -> None:
        self._final = self.packets
        self.nft.delete(self.name)
        self.deleted_at = time.monotonic()


class Nft:
    """The ``inet socklife`` table of one namespace."""

    def __init__(self, netns: str):
        self.netns = netns
        self._ready = False
        self._timers: list[threading.Timer] = []

    def _run(self, args: list[str], stdin: str | None = None) -> str:
        try:
            proc = subprocess.run(["ip", "netns", "exec", self.netns, "nft", *args],
                                  input=stdin, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise KernelError("ip or nft not found (install iproute2 and nftables)") from None
        if proc.returncode:
            lines = proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"]
            if "No such file" in lines[-1]:  # ip netns exec: exec of "nft" failed
                raise KernelError("nft not found (install Debian's nftables package)")
            raise KernelError(f"nft {' '.join(args)}: {lines[-1]}")
        return proc.stdout

    def ensure_table(self) -> None:
        if not self._ready:
            self._run(["-f", "-"], TABLE)
            self._ready = True

    def add(self, chain: str, expr: str, verdict: str = "drop", count: int | None = None,
            name: str | None = None, match: dict | None = None) -> Rule:
        """Add ``expr`` with a counter and ``verdict`` (drop, accept, or "" to count);
        ``count=N``: only the first N matching segments get the verdict."""
        if chain not in CHAINS:
            raise ValueError("chain is input or output")
        if count is not None and count < 1:
            raise ValueError("count is at least 1")
        self.ensure_table()
        name = name or f"r{next(_ids)}"
        gate = f" limit rate 1/hour burst {int(count)} packets" if count else ""
        rule = f"{expr}{gate} counter {verdict} comment \"{name}\"".replace("  ", " ")
        made = Rule(self, chain, name, match, count)
        self._run(["add", "rule", "inet", "socklife", chain, *rule.split()])
        return made

    def drop(self, chain: str = "output", once: bool = False, count: int | None = None,
             **match) -> Rule:
        """Drop matching segments leaving (``output``) or arriving (``input``) at this
        host; ``count=N`` / ``once=True``: only the first N / the first one."""
        return self.add(chain, match_expr(**match), "drop", 1 if once else count, match=match)

    def count(self, chain: str = "output", **match) -> Rule:
        """Only count matching segments (nothing is dropped)."""
        return self.add(chain, match_expr(**match), "", match=match)

    def drop_after(self, seconds: float, chain: str = "input", **match) -> Rule:
        """Drop every matching segment from ``seconds`` from now on (a timer adds the
        rule then; its counter reads 0 until then). E.g. everything from the client:
        ``lab.server.nft.drop_after(2.0, saddr=lab.client.addr)``."""
        expr = match_expr(**match)
        self.ensure_table()
        name = f"r{next(_ids)}"
        timer = threading.Timer(seconds, self._add_quietly, (chain, expr, name))
        timer.daemon = True
        self._timers.append(timer)
        timer.start()
        return Rule(self, chain, name)

    def _add_quietly(self, chain: str, expr: str, name: str) -> None:
        with contextlib.suppress(KernelError):  # the lab went down before the time came
            self.add(chain, expr, "drop", name=name)

    def _rules(self) -> list[dict]:
        doc = json.loads(self._run(["-j", "list", "table", "inet", "socklife"]))
        return [item["rule"] for item in doc.get("nftables", []) if "rule" in item]

    def counters(self) -> dict[str, int]:
        """``{rule name: packets}`` for every rule of the table."""
        if not self._ready:
            return {}
        out = {}
        for rule in self._rules():
            for expr in rule.get("expr", []):
                if "counter" in expr:
                    out[rule.get("comment", "")] = expr["counter"]["packets"]
        return out

    def delete(self, name: str) -> None:
        for rule in self._rules():
            if rule.get("comment") == name:
                self._run(["delete", "rule", "inet", "socklife", rule["chain"],
                           "handle", str(rule["handle"])])

    def flush(self) -> None:
        """Remove every rule (the table stays, empty) and pending ``drop_after`` timers."""
        self.cancel_timers()
        if self._ready:
            self._run(["flush", "table", "inet", "socklife"])

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
