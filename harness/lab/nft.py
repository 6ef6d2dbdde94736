"""nftables rules inside one lab host: drop or count chosen TCP segments.

Each host gets its own ``inet socklife`` table (input and output chains, filter hook)
inside its namespace, so it disappears with the namespace and never touches the
host's firewall. Rules are added with the ``nft`` tool (Debian's nftables package) and
read back with ``nft -j``; every rule carries a counter and a comment naming it.

``once=True`` drops only the first matching segment: the rule is gated by
``limit rate 1/hour burst 1 packets``, which lets one packet through the limit (and
so into the drop) and none after it; the retransmission that follows passes.

Delaying segments is not offered: this kernel has no netem qdisc, and NFQUEUE would
need a userspace verdict loop. A drop (and TCP's own retransmission) is the fault.
"""

from __future__ import annotations

import itertools
import json
import subprocess

from harness.kernel.errors import KernelError

FLAG_BITS = "fin|syn|rst|psh|ack|urg"
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


def match_expr(tcp_flags: str | None = None, sport: int | None = None,
               dport: int | None = None, saddr: str | None = None,
               daddr: str | None = None, min_length: int | None = None) -> str:
    """An nft match: every given field must hold. ``min_length``: IP total length."""
    parts = ["meta l4proto tcp"]
    for field, value in (("saddr", saddr), ("daddr", daddr)):
        if value:
            parts.append(f"{'ip6' if ':' in value else 'ip'} {field} {value}")
    if sport:
        parts.append(f"tcp sport {int(sport)}")
    if dport:
        parts.append(f"tcp dport {int(dport)}")
    if tcp_flags:
        parts.append(f"tcp flags & ({FLAG_BITS}) == {_flags(tcp_flags)}")
    if min_length:
        parts.append(f"ip length >= {int(min_length)}")
    return " ".join(parts)


class Rule:
    """One rule of a host's table; ``packets`` reads its counter now."""

    def __init__(self, nft: Nft, chain: str, name: str):
        self.nft, self.chain, self.name = nft, chain, name

    @property
    def packets(self) -> int:
        return self.nft.counters().get(self.name, 0)

    def delete(self) -> None:
        self.nft.delete(self.name)


class Nft:
    """The ``inet socklife`` table of one namespace."""

    def __init__(self, netns: str):
        self.netns = netns
        self._ready = False

    def _run(self, args: list[str], stdin: str | None = None) -> str:
        try:
            proc = subprocess.run(["ip", "netns", "exec", self.netns, "nft", *args],
                                  input=stdin, capture_output=True, text=True, check=False)
        except FileNotFoundError:
            raise KernelError("nft not found (install Debian's nftables package)") from None
        if proc.returncode:
            raise KernelError(f"nft {' '.join(args)}: {proc.stderr.strip().splitlines()[-1]}")
        return proc.stdout

    def ensure_table(self) -> None:
        if not self._ready:
            self._run(["-f", "-"], TABLE)
            self._ready = True

    def add(self, chain: str, expr: str, verdict: str = "drop", once: bool = False) -> Rule:
        """Add ``expr`` with a counter and ``verdict`` (drop, accept, or "" to count)."""
        if chain not in ("input", "output"):
            raise ValueError("chain is input or output")
        self.ensure_table()
        name = f"r{next(_ids)}"
        gate = " limit rate 1/hour burst 1 packets" if once else ""
        rule = f"{expr}{gate} counter {verdict} comment \"{name}\"".replace("  ", " ")
        self._run(["add", "rule", "inet", "socklife", chain, *rule.split()])
        return Rule(self, chain, name)

    def drop(self, chain: str, once: bool = False, **match) -> Rule:
        return self.add(chain, match_expr(**match), "drop", once)

    def count(self, chain: str, **match) -> Rule:
        return self.add(chain, match_expr(**match), "")

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
        """Remove every rule (the table stays, empty)."""
        if self._ready:
            self._run(["flush", "table", "inet", "socklife"])
