"""TCP tracepoints through a tracefs instance of our own (the I/O half; root).

    with Tracer(ports=[7000], addrs=[lab.client.addr, lab.server.addr]) as tr:
        ...                          # make connections
    events = tr.read()               # decoded events so far, oldest first
    tr.lost                          # events the kernel could not keep (0 normally)

Each Tracer makes ``/sys/kernel/tracing/instances/socklife-<pid>-<n>`` (mounting tracefs
there first if needed), so the global buffer and its settings (tracing_on,
current_tracer, set_event) are never touched, and removes it on exit, on errors and on
SIGTERM (the CLI turns SIGTERM into KeyboardInterrupt; instances left by a killed
process are removed by the next Tracer). In it: trace_clock "mono" (the clock of
time.monotonic()), a per-cpu buffer of ``buffer_kb`` (default: 32 MB over all cpus),
and the events of ``EVENTS`` with
a kernel filter on protocol, family and ports where the event has those fields.

Records are read as binary pages from ``per_cpu/cpuN/trace_pipe_raw`` (non-blocking) and
decoded with the layouts of the ``format`` files read at start (trace_format). Events
are global (every namespace) and carry no namespace id: ``addrs`` keeps those whose
source or destination address is one of them, in Python. Lost events are the sum of
``overrun``, ``commit overrun`` and ``dropped events`` of each cpu's ``stats``.

``pid``/``comm`` are the task that was running when the event fired: the caller of
connect()/close() for the transitions they cause; for those run from softirq (an
arriving segment) whatever task the interrupt landed on (on loopback, the sender).
``comm`` comes from /proc/<pid>/comm, or for a task gone by then (a short-lived thread)
from the kernel's ``saved_cmdlines``, which enabling events fills (read only).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ipaddress
import itertools
import os
import re
import socket
import struct

from harness.kernel.errors import KernelError
from harness.kernel.trace_format import (
    EventLayout,
    iter_page,
    parse_format,
    parse_header_event,
    parse_header_page,
    parse_saved_cmdlines,
    parse_stats,
    sockaddr,
)

TRACEFS = "/sys/kernel/tracing"
EVENTS = ("sock/inet_sock_set_state", "tcp/tcp_retransmit_synack", "tcp/tcp_retransmit_skb",
          "tcp/tcp_send_reset", "tcp/tcp_receive_reset", "tcp/tcp_destroy_sock")
FIELDS = ("common_pid", "skaddr", "oldstate", "newstate", "state", "sport", "dport",
          "family", "protocol", "saddr", "daddr", "saddr_v6", "daddr_v6", "err", "reason",
          "sock_cookie")
IPPROTO_TCP = 6
# Per-cpu buffers share this budget (16 MB a cpu on 2 cpus): at 5,000 connections/s
# (~60,000 events/s) it holds seconds of events while the reader is starved of CPU
# (benchmarks/bench_trace.py, docs/performance.md).
BUFFER_TOTAL_KB = 32768
_counter = itertools.count(1)
_INSTANCE = re.compile(r"socklife-(\d+)-\d+$")


def _mount_tracefs(root: str) -> None:
    if os.path.isdir(os.path.join(root, "instances")):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"nodev", root.encode(), b"tracefs", 0, None) != 0:
        err = ctypes.get_errno()
        raise KernelError(f"tracefs is not mounted at {root} and mounting it failed: "
                          f"{os.strerror(err)}")


def cleanup_stale(root: str = TRACEFS) -> list[str]:
    """Remove socklife instances whose process is gone; return their names."""
    gone = []
    base = os.path.join(root, "instances")
    for name in os.listdir(base) if os.path.isdir(base) else ():
        m = _INSTANCE.match(name)
        if m and not os.path.exists(f"/proc/{m[1]}"):
            try:
                os.rmdir(os.path.join(base, name))
                gone.append(name)
            except OSError:
                pass
    return gone


def kernel_filter(fields, ports, family: int | None) -> str:
    """The tracefs filter for an event with ``fields``: "protocol == 6 && (sport == 7000 ||
    dport == 7000)"; empty when the event has none of the fields."""
    terms = []
    if "protocol" in fields:
        terms.append(f"protocol == {IPPROTO_TCP}")
    if family and "family" in fields:
        terms.append(f"family == {family}")
    if ports and "sport" in fields and "dport" in fields:
        terms.append("(" + " || ".join(f"sport == {p} || dport == {p}" for p in ports) + ")")
    return " && ".join(terms)


_ADDRS: dict[bytes, str] = {}


def _addr(raw: bytes) -> str:
    """4 or 16 address bytes -> text (IPv4-mapped IPv6 as IPv4), cached: a busy trace
    sees the same few addresses over and over, and ipaddress costs ~5 us a call."""
    text = _ADDRS.get(raw)
    if text is None:
        if len(raw) == 4:
            text = socket.inet_ntop(socket.AF_INET, raw)
        else:
            a = ipaddress.IPv6Address(raw)
            text = str(a.ipv4_mapped or a)
        if len(_ADDRS) > 65536:
            _ADDRS.clear()
        _ADDRS[raw] = text
    return text


class Tracer:
    """Exact TCP state transitions (and retransmits, resets, destroys) as they happen."""

    def __init__(self, ports=(), addrs=(), family: int | None = None,
                 events=EVENTS, buffer_kb: int | None = None, root: str = TRACEFS):
        self.ports = tuple(int(p) for p in ports)
        self.addrs = frozenset(str(ipaddress.ip_address(a)) for a in addrs)
        self.family, self.events, self.root = family, events, root
        self.buffer_kb = buffer_kb or max(1024, BUFFER_TOTAL_KB // (os.cpu_count() or 1))
        self.path: str | None = None
        self.missed_pages = 0
        self._lost_final = 0
        self._pending: list[dict] = []
        self._fds: list[int] = []
        self._layouts: dict[int, EventLayout] = {}
        self._comms: dict[int, str] = {}
        self._saved: dict[int, str] | None = None  # saved_cmdlines, read once per read()

    def __enter__(self) -> Tracer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- setup and teardown -----------------------------------------------------------
    def start(self) -> Tracer:
        if os.geteuid() != 0:
            raise KernelError("needs root for tracepoints (tracefs)")
        _mount_tracefs(self.root)
        cleanup_stale(self.root)
        fmts = self.load_formats(os.path.join(self.root, "events"))
        self.path = os.path.join(self.root, "instances",
                                 f"socklife-{os.getpid()}-{next(_counter)}")
        os.mkdir(self.path)
        atexit.register(self.stop)
        try:
            self._write("trace_clock", "mono")
            self._write("buffer_size_kb", str(self.buffer_kb))
            for name, fmt in fmts:
                filt = kernel_filter(fmt["fields"], self.ports, self.family)
                if filt:
                    self._write(f"events/{name}/filter", filt)
                self._write(f"events/{name}/enable", "1")
            cpus = sorted(int(d[3:]) for d in os.listdir(os.path.join(self.path, "per_cpu")))
            for cpu in cpus:
                self._fds.append(os.open(os.path.join(
                    self.path, "per_cpu", f"cpu{cpu}", "trace_pipe_raw"),
                    os.O_RDONLY | os.O_NONBLOCK))
            self._cpus = cpus
            self._page = os.sysconf("SC_PAGE_SIZE")
            sub = os.path.join(self.path, "buffer_subbuf_size_kb")
            if os.path.exists(sub):
                self._page = int(_read(sub)) * 1024
        except BaseException:
            self.stop()
            raise
        return self

    def load_formats(self, events_dir: str) -> list[tuple[str, dict]]:
        """Read header_page, header_event and each event's format under ``events_dir``
        (the live tracefs, or a recorded copy) -> [(event name, parsed format)]."""
        self._header = parse_header_page(_read(os.path.join(events_dir, "header_page")))
        self._types = parse_header_event(_read(os.path.join(events_dir, "header_event")))
        fmts = []
        for name in self.events:
            try:
                fmt = parse_format(_read(os.path.join(events_dir, name, "format")))
            except FileNotFoundError:
                raise KernelError(f"kernel has no tracepoint {name}") from None
            fmts.append((name, fmt))
        # one table of TCP state names for every event: some formats spell the numbers
        # as kernel macros ({ TCP_ESTABLISHED, "TCP_ESTABLISHED" }), not digits
        states = next((f["symbols"] for _n, f in fmts if f["symbols"]), {})
        for _name, fmt in fmts:
            layout = EventLayout(dict(fmt, symbols=fmt["symbols"] or states), list(FIELDS))
            self._layouts[layout.id] = layout
        return fmts

    def stop(self) -> None:
        """Close the buffers and remove the instance (idempotent); ``lost`` stays readable."""
        if self._fds:
            self._pending = self.read()  # what is left stays readable after the with block
            self._lost_final = self.lost
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if self.path is not None:
            with contextlib.suppress(KernelError):
                self._write("tracing_on", "0")
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(self.path)
            self.path = None
            atexit.unregister(self.stop)

    def _write(self, rel: str, value: str) -> None:
        try:
            with open(os.path.join(self.path, rel), "w") as f:
                f.write(value)
        except OSError as exc:
            raise KernelError(f"tracefs: cannot write {value!r} to {rel}: "
                              f"{exc.strerror}") from None

    # -- reading ----------------------------------------------------------------------
    @property
    def lost(self) -> int:
        """Events lost so far by the kernel (all cpus)."""
        if self.path is None or not self._fds:
            return self._lost_final
        return sum(parse_stats(_read(os.path.join(self.path, "per_cpu", f"cpu{cpu}", "stats")))
                   for cpu in self._cpus)

    def read_raw(self) -> list[tuple[int, bytes, list]]:
        """Pages waiting in the buffers: [(cpu, page bytes, records)], cpu by cpu."""
        out = []
        self._saved = None  # tasks gone since the last read may be in saved_cmdlines now
        for cpu, fd in zip(self._cpus, self._fds, strict=False):  # no fds once stopped
            while True:
                try:
                    page = os.read(fd, self._page)
                except BlockingIOError:
                    break
                if not page:
                    break
                records, missed = iter_page(page, self._header, self._types)
                self.missed_pages += missed
                out.append((cpu, page, records))
        return out

    def read(self) -> list[dict]:
        """Events decoded since the last read that pass the port/address filter, oldest
        first (records of all cpus merged by time)."""
        events, self._pending = self._pending, []
        for _cpu, page, records in self.read_raw():
            events.extend(self.decode_records(page, records))
        events.sort(key=lambda e: e["time"])
        return events

    def decode_records(self, page: bytes, records) -> list[dict]:
        """The events of one page (``iter_page`` records) that pass the filters."""
        out = []
        for ts, off, size in records:
            ev = self.decode(page, off, ts, size)
            if ev is not None:
                out.append(ev)
        return out

    def decode(self, page: bytes, off: int, ts: int, size: int | None = None) -> dict | None:
        """One record (``size`` bytes, when known) -> event dict, or None when it is
        filtered out, unknown, or too short for its event's fields."""
        if size is not None and size < _U16.size:
            return None
        (etype,) = _U16.unpack_from(page, off)
        layout = self._layouts.get(etype)
        if layout is None or (size is not None and size < layout.size):
            return None
        f = layout.unpack(page, off)
        if f.get("protocol", IPPROTO_TCP) != IPPROTO_TCP:
            return None
        if "sport" in f:
            fam = f["family"]
            saddr = _addr(f["saddr"] if fam == 2 else f["saddr_v6"])
            daddr = _addr(f["daddr"] if fam == 2 else f["daddr_v6"])
            sport, dport = f["sport"], f["dport"]
        else:  # tcp_send_reset: struct sockaddr copies
            fam, saddr, sport = sockaddr(f["saddr"])
            _fam, daddr, dport = sockaddr(f["daddr"])
        if self.ports and sport not in self.ports and dport not in self.ports:
            return None
        if self.addrs and saddr not in self.addrs and daddr not in self.addrs:
            return None
        pid = f["common_pid"]
        ev = {"time": ts / 1e9, "event": layout.name, "skaddr": f["skaddr"], "family": fam,
              "sport": sport, "dport": dport, "saddr": saddr, "daddr": daddr,
              "pid": pid, "comm": self._comm(pid)}
        sym = layout.symbols
        if "newstate" in f:
            ev["old"] = _state(sym, f["oldstate"])
            ev["new"] = _state(sym, f["newstate"])
        elif "state" in f:
            ev["state"] = _state(sym, f["state"]) if f["state"] else None
        for extra in ("err", "reason", "sock_cookie"):
            if extra in f:
                ev[extra] = f[extra]
        return ev

    def _comm(self, pid: int) -> str:
        if pid == 0:
            return "swapper"
        comm = self._comms.get(pid)
        if comm is None:
            try:
                comm = _read(f"/proc/{pid}/comm").strip()
            except OSError:
                if self._saved is None:
                    try:
                        self._saved = parse_saved_cmdlines(
                            _read(os.path.join(self.root, "saved_cmdlines")))
                    except OSError:
                        self._saved = {}
                comm = self._saved.get(pid, "?")
            if len(self._comms) > 4096:
                self._comms.clear()
            self._comms[pid] = comm
        return comm


_U16 = struct.Struct("<H")


def _state(symbols: dict, num: int) -> str:
    name = symbols.get(num, str(num))
    return "SYN_RECV" if name == "NEW_SYN_RECV" else name


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()
