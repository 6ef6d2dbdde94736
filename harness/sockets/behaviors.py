"""Server lifecycle behaviours: what the server does with each connection, and the
TCP states that leaves behind (checked by tests/test_sockets_server_live.py).

An "answer" echoes the bytes of one read (up to 64 KiB): a request is what one recv()
returned. Behaviours that close right after answering (``close-first``, ``rst``) assume
the request fit in that read; unread bytes at close() make Linux send RST instead of FIN.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Behavior:
    """One behaviour. ``accept``: "all" (as fast as possible), "none" or "interval"
    (one every accept_interval_ms); ``after_answer``: None, "close", "rst" or "shutdown";
    ``close_on_eof``: close when the peer's FIN arrives (False leaks CLOSE_WAIT)."""

    name: str
    summary: str
    accept: str = "all"
    after_answer: str | None = None
    close_on_eof: bool = True
    keepalive: bool = False


BEHAVIORS: dict[str, Behavior] = {b.name: b for b in (
    Behavior("echo", "answer each request, close after the client closes "
             "(TIME_WAIT on the client)"),
    Behavior("close-first", "answer, then close: the server sends the first FIN "
             "(TIME_WAIT on the server)", after_answer="close"),
    Behavior("never-close", "answer, never close after the peer's FIN "
             "(CLOSE_WAIT leak on the server, FIN_WAIT2 on the client)", close_on_eof=False),
    Behavior("no-accept", "listen, never accept: the accept queue fills to backlog+1, "
             "later SYNs are dropped", accept="none"),
    Behavior("slow-accept", "accept one connection every --accept-interval-ms, then echo",
             accept="interval"),
    Behavior("rst", "answer, then close with SO_LINGER {1, 0}: RST, no TIME_WAIT, "
             "ECONNRESET at the peer", after_answer="rst"),
    Behavior("half-close", "answer, shutdown(SHUT_WR), keep reading until the peer closes "
             "(server FIN_WAIT2 still receives)", after_answer="shutdown"),
    Behavior("keepalive", "echo with SO_KEEPALIVE and TCP_KEEPIDLE/INTVL/CNT set "
             "(keepalive timer on each connection)", keepalive=True),
)}


def describe(width: int = 78) -> str:
    """Each behaviour and its summary, wrapped to ``width`` columns, for --help."""
    return "\n".join(
        textwrap.fill(b.summary, width, initial_indent=f"  {b.name:<13}",
                      subsequent_indent=" " * 15)
        for b in BEHAVIORS.values())
