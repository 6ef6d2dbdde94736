"""TCP sockets of a network namespace through netlink sock_diag (inet_diag).

Public API (used by the rest of socklife and by users)::

    >>> import socket
    >>> from harness.kernel import sockdiag
    >>> lst = socket.create_server(("127.0.0.1", 0))
    >>> port = lst.getsockname()[1]
    >>> counts = sockdiag.count_states(ports=[port])   # every state, zeros included
    >>> counts["LISTEN"], len(counts)
    (1, 11)
    >>> [(r.state, r.local) for r in sockdiag.dump(states=["LISTEN"], ports=[port])] == [
    ...     ("LISTEN", f"127.0.0.1:{port}")]                 # filtered in the kernel
    True
    >>> lst.close()

Both accept ``netns`` (a name under /run/netns; needs root) and ``ports`` (local or
remote port equals P, several OR-ed), compiled to INET_DIAG_REQ_BYTECODE; ``dump``
also ``cgroup=True`` (each record carries the ``cgroup_id`` of its cgroup v2, None for
minisockets) and ``cgroup_ids`` (only sockets of those cgroups, filtered in the kernel
too). The states
filter is the request's ``idiag_states`` bitmask. Both families come from one walk of
the kernel's hash tables (``ONE_WALK``: the legacy TCPDIAG_GETSOCK request), or from a
dump per family (``FAMILIES``) on a kernel that refuses it; ``families=FAMILIES`` asks
for the latter, the reference the one walk is tested against. The results carry
``consistent``: False when the kernel flagged the dump as interrupted (NLM_F_DUMP_INTR)
or the receive buffer overflowed (ENOBUFS) on every one of ``RETRIES`` attempts.

``count_states`` decodes no socket into an object. Without a port filter it does not
dump TIME_WAIT at all: /proc/net/sockstat's ``tw`` is the namespace's count of TIME_WAIT
plus orphaned FIN_WAIT2 minisockets, and the latter are in the (small) dump of the other
states, so TIME_WAIT = tw - FIN_WAIT2 minisockets.

The netlink socket is a plain ``socket.socket(AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG)``
opened inside the namespace (entered with setns(2), netns.py): under gevent (Locust)
the patched socket module makes it cooperative, which pyroute2's own socket is not.
"""

from __future__ import annotations

import errno as errno_mod
import gc
import os
import socket
from collections.abc import Iterable

from harness.kernel import inet_diag as wire
from harness.kernel.dump_columns import count_chunk
from harness.kernel.errors import KernelError
from harness.kernel.inet_diag import SocketRecord
from harness.kernel.netns import entered
from harness.kernel.sockstat import read_sockstat, time_wait
from harness.kernel.tcp_states import NOT_TIME_WAIT, STATE_CODES, STATES

__all__ = ["STATES", "DumpResult", "SockDiag", "SocketRecord", "StateCounts", "count_states",
           "dump"]

NETLINK_SOCK_DIAG = 4
RETRIES = 3
RECV_BUFFER = 1 << 16  # the kernel fills at most ~32 KiB per dump message batch
FAMILIES = (socket.AF_INET, socket.AF_INET6)
# One TCPDIAG_GETSOCK dump for both families: one walk of the kernel's hash tables
# instead of one per family (see inet_diag.py), the default of every reader here;
# scan() falls back to FAMILIES on a kernel that refuses it.
ONE_WALK = (socket.AF_UNSPEC,)


class StateCounts(dict):
    """``{state name: count}`` for every state in STATES; ``consistent`` as above."""

    consistent: bool = True


class DumpResult(list):
    """A list of SocketRecord; ``consistent`` as above."""

    consistent: bool = True


class _Interrupted(Exception):
    pass


def _dump_error(err: int) -> KernelError:
    if err in (errno_mod.ENOENT, errno_mod.EOPNOTSUPP):
        return KernelError("kernel has no tcp_diag (inet_diag for TCP is not available)")
    if err == errno_mod.EINVAL:
        return KernelError("kernel rejected the sock_diag request (EINVAL)")
    return KernelError(f"sock_diag dump failed: {os.strerror(err)}")


class SockDiag:
    """One NETLINK_SOCK_DIAG socket, bound to the namespace it was opened in; reusable.

    A sampler keeps one open and calls ``count``/``records``/``scan`` each interval.
    """

    def __init__(self, netns: str | None = None):
        self.netns = netns
        with entered(netns):
            try:
                self._sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
            except OSError as exc:
                raise KernelError(f"cannot open a sock_diag socket: {exc.strerror}") from None
        self._buf = bytearray(RECV_BUFFER)
        self._seq = 0
        self._one_walk = True  # until the kernel refuses a TCPDIAG_GETSOCK dump
        self.bytes_received = 0  # of the last dump, for tests and benchmarks

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> SockDiag:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _one_dump(self, family: int, mask: int, bytecode: bytes, consume) -> bool:
        """Send one dump request and feed each received buffer to ``consume``.

        Returns False when the kernel flagged the dump as interrupted.
        """
        self._seq += 1
        self._sock.send(wire.build_request(family, mask, bytecode, self._seq))
        buf, view = self._buf, memoryview(self._buf)
        result = wire.ChunkResult()
        while not result.done:
            try:
                n = self._sock.recv_into(view)
            except OSError as exc:
                if exc.errno == errno_mod.ENOBUFS:
                    self._drain()
                    raise _Interrupted from None
                raise KernelError(f"sock_diag receive failed: {exc.strerror}") from None
            if n == 0:
                break
            self.bytes_received += n
            try:
                consume(buf, n, result)
            except wire.DumpError as exc:
                raise _dump_error(exc.errno) from None
        return not result.interrupted

    def _drain(self) -> None:
        """Throw away what is left of a broken dump before the next request."""
        self._sock.setblocking(False)
        try:
            while True:
                self._sock.recv_into(self._buf)
        except OSError:
            pass
        finally:
            self._sock.setblocking(True)

    def scan(self, consume, states=None, ports: Iterable[int] = (), families=ONE_WALK,
             reset=None, exclude_ports: bool = False, cgroup_ids: Iterable[int] = ()) -> bool:
        """Dump the sockets, calling ``consume(buf, length, chunk_result)`` per buffer.

        ``families`` ONE_WALK: both in a single legacy dump (FAMILIES where the kernel
        refuses it); FAMILIES or ``(AF_INET,)``: a dump per family. ``exclude_ports``:
        the sockets on none of ``ports`` instead; ``cgroup_ids``: only the full sockets
        whose cgroup v2 id is one of them (all filtered in the kernel).

        On an interrupted dump, ``reset()`` is called and the whole scan is retried (up
        to RETRIES times); returns whether the final attempt was consistent. This is the
        hook for callers that aggregate straight from the bytes (see count_chunk).
        """
        mask = wire.states_mask(states)
        bytecode = wire.compile_filter(ports, exclude_ports, cgroup_ids)
        if families == ONE_WALK:
            if self._one_walk:
                try:
                    return self._scan(consume, mask, bytecode, families, reset)
                except KernelError:  # refused (or broken after some sockets came: start over)
                    self._one_walk = False
                    if reset is not None:
                        reset()
            families = FAMILIES
        return self._scan(consume, mask, bytecode, families, reset)

    def _scan(self, consume, mask: int, bytecode: bytes, families, reset) -> bool:
        for attempt in range(RETRIES):
            if attempt and reset is not None:
                reset()
            self.bytes_received = 0
            ok = True
            for family in families:
                try:
                    ok = self._one_dump(family, mask, bytecode, consume) and ok
                except _Interrupted:
                    ok = False
                    break
            if ok:
                return True
        return False

    def count_codes(self, states=None, ports: Iterable[int] = (), exclude_ports: bool = False,
                    families=ONE_WALK) -> tuple[list[int], int, bool]:
        """``count_codes`` over this socket's dumps."""
        return count_codes(self.scan, states, ports, exclude_ports, families)

    def count(self, ports: Iterable[int] = (), families=ONE_WALK) -> StateCounts:
        """Sockets per state, from the raw bytes (and /proc/net/sockstat's tw)."""
        ports = tuple(ports)
        if ports:
            codes, _fw2_mini, ok = self.count_codes(None, ports, families=families)
        else:
            codes, fw2_mini, ok = self.count_codes(NOT_TIME_WAIT, families=families)
            with entered(self.netns):
                codes[wire.TCP_TIME_WAIT] = time_wait(read_sockstat(ipv6=False), fw2_mini)
        counts = StateCounts(
            (name, codes[STATE_CODES[name]]) for name in STATES
        )
        counts["SYN_RECV"] += codes[STATE_CODES["NEW_SYN_RECV"]]
        counts.consistent = ok
        return counts

    def records(self, states=None, ports: Iterable[int] = (), families=ONE_WALK,
                cgroup: bool = False, cgroup_ids: Iterable[int] = ()) -> DumpResult:
        """Every matching socket as a SocketRecord (both families mixed, in the order the
        kernel walks its hash tables). ``cgroup``: each record carries its ``cgroup_id``
        (read from the INET_DIAG_CGROUP_ID attribute, the slower decode); ``cgroup_ids``:
        only the sockets of those cgroups (see ``scan``)."""
        out = DumpResult()
        append = out.append
        decode = wire.decode_chunk_cgroup if cgroup else wire.decode_chunk

        def consume(buf, n, result):
            decode(buf, n, append, result)

        # Tens of thousands of new tuples would trigger the cyclic GC over and over
        # (a fifth of the decode time); tuples of ints and bytes hold no cycles.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            ok = self.scan(consume, states, tuple(ports), families, reset=out.clear,
                           cgroup_ids=tuple(cgroup_ids))
        finally:
            if gc_was_on:
                gc.enable()
        out.consistent = ok
        return out


def count_codes(scan, states=None, ports: Iterable[int] = (), exclude_ports: bool = False,
                families=ONE_WALK) -> tuple[list[int], int, bool]:
    """(sockets per TCP_* code, FIN_WAIT2 minisockets, consistent) of the dump made by
    ``scan`` (SockDiag.scan or a replay of recorded bytes), counted from the raw bytes
    with no object per socket; arguments as for ``SockDiag.scan``."""
    codes = [0] * wire.STATE_SLOTS
    fw2_mini = [0]

    def consume(buf, n, result):
        fw2_mini[0] += count_chunk(buf, n, codes, result)

    def reset():
        codes[:] = [0] * wire.STATE_SLOTS
        fw2_mini[0] = 0

    ok = scan(consume, states, ports, families, reset, exclude_ports)
    return codes, fw2_mini[0], ok


def count_states(netns: str | None = None, ports: Iterable[int] = ()) -> StateCounts:
    """TCP sockets per state in ``netns`` (None: this one), every state present."""
    with SockDiag(netns) as diag:
        return diag.count(ports)


def dump(netns: str | None = None, states=None, ports: Iterable[int] = (),
         cgroup: bool = False, cgroup_ids: Iterable[int] = ()) -> DumpResult:
    """TCP sockets of ``netns`` as SocketRecords, filtered in the kernel (``cgroup``,
    ``cgroup_ids``: as for ``SockDiag.records``)."""
    with SockDiag(netns) as diag:
        return diag.records(states, ports, cgroup=cgroup, cgroup_ids=cgroup_ids)
