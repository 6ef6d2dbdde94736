"""Packet capture on one interface with an AF_PACKET socket (the I/O half; no tcpdump).

    with Capture(netns=lab.client.netns, ifname="eth0", ports=[7000]) as cap:
        ...                          # make traffic
    segments = cap.read()            # decoded TCP segments, oldest first

The socket is opened inside the namespace (root) and bound to the interface; a classic
BPF program attached with SO_ATTACH_FILTER keeps only TCP to or from the ports asked
for (IPv4 without fragments, IPv6 with TCP as the first next header), and the decoder
(tcp_segment) checks the ports again for the frames queued before the filter was on.
A thread drains the socket as frames arrive, so a slow caller loses nothing short of
the socket's receive buffer (4 MB asked for).

Times: the kernel's receive time (SO_TIMESTAMPNS, CLOCK_REALTIME) moved onto the
time.monotonic() clock with the offset between the two measured once at start, so
segments and tracepoint events (trace_clock "mono") share one time line.
"""

from __future__ import annotations

import ctypes
import socket
import struct
import threading
import time

from harness.kernel.errors import KernelError
from harness.kernel.netns import entered
from harness.kernel.tcp_segment import decode_frame

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = 26
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4

# classic BPF opcodes (linux/filter.h, linux/bpf_common.h)
LDH_ABS, LDB_ABS, LDH_IND, LDXB_MSH = 0x28, 0x30, 0x48, 0xB1
JEQ_K, JSET_K, RET_K = 0x15, 0x45, 0x06
SNAPLEN = 0x40000


def bpf_program(ports: list[int] | tuple[int, ...]) -> list[tuple[int, int, int, int]]:
    """Classic BPF for "tcp and (port P or ...)" on Ethernet, as (code, jt, jf, k) rows.

    With no ports every TCP frame passes. Jumps are built from labels and resolved to the
    relative offsets the kernel wants (jt/jf count instructions after the jump).
    """
    prog: list[list] = []  # [code, jt_label_or_int, jf_label_or_int, k]
    labels: dict[str, int] = {}

    def emit(code, k=0, jt=0, jf=0):
        prog.append([code, jt, jf, k])

    def port_checks(load_src, load_dst, indirect):
        load = LDH_IND if indirect else LDH_ABS
        if not ports:
            emit(RET_K, SNAPLEN)
            return
        for off in (load_src, load_dst):
            emit(load, off)
            for p in ports:
                emit(JEQ_K, p, "accept", 0)
        emit(RET_K, 0)

    emit(LDH_ABS, 12)
    emit(JEQ_K, 0x0800, 0, "v6")
    emit(LDB_ABS, 23)
    emit(JEQ_K, 6, 0, "drop")
    emit(LDH_ABS, 20)
    emit(JSET_K, 0x1FFF, "drop", 0)
    emit(LDXB_MSH, 14)
    port_checks(14, 16, indirect=True)
    labels["v6"] = len(prog)
    emit(JEQ_K, 0x86DD, 0, "drop")
    emit(LDB_ABS, 20)
    emit(JEQ_K, 6, 0, "drop")
    port_checks(54, 56, indirect=False)
    labels["drop"] = len(prog)
    emit(RET_K, 0)
    labels["accept"] = len(prog)
    emit(RET_K, SNAPLEN)
    out = []
    for i, (code, jt, jf, k) in enumerate(prog):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        out.append((code, jt, jf, k))
    return out


def _attach(sock: socket.socket, prog: list[tuple[int, int, int, int]]) -> None:
    raw = b"".join(struct.pack("HBBI", *row) for row in prog)
    buf = ctypes.create_string_buffer(raw)
    fprog = struct.pack("HL", len(prog), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


class Capture:
    """Capture TCP segments to/from ``ports`` on ``ifname`` inside namespace ``netns``."""

    def __init__(self, netns: str | None = None, ifname: str = "eth0",
                 ports: list[int] | tuple[int, ...] = ()):
        self.netns, self.ifname, self.ports = netns, ifname, tuple(ports)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._segments: list[dict] = []
        self._offset = 0.0
        self.error: BaseException | None = None

    def __enter__(self) -> Capture:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Capture:
        try:
            with entered(self.netns):
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        except PermissionError:
            raise KernelError("needs root for packet capture (AF_PACKET)") from None
        try:
            _attach(sock, bpf_program(self.ports))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.bind((self.ifname, ETH_P_ALL))
        except OSError as exc:
            sock.close()
            raise KernelError(f"cannot capture on {self.ifname!r}: {exc.strerror}") from None
        sock.settimeout(0.05)
        self._offset = time.monotonic() - time.time()
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take what is still queued, then close the socket."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def read(self) -> list[dict]:
        """Segments captured since the last read, oldest first."""
        with self._lock:
            out, self._segments = self._segments, []
        return out

    def _run(self) -> None:
        sock = self._sock
        anc = socket.CMSG_SPACE(16)
        try:
            while True:
                try:
                    data, ancdata, _flags, addr = sock.recvmsg(SNAPLEN, anc)
                except TimeoutError:
                    if self._stop.is_set():
                        return
                    continue
                seg = self._decode(data, ancdata, addr)
                if seg is not None:
                    with self._lock:
                        self._segments.append(seg)
        except OSError as exc:
            self.error = exc

    def _decode(self, data: bytes, ancdata, addr) -> dict | None:
        seg = decode_frame(data)
        if seg is None or (self.ports and seg["sport"] not in self.ports
                           and seg["dport"] not in self.ports):
            return None
        stamp = None
        for level, kind, value in ancdata:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack("ll", value[:16])
                stamp = sec + nsec / 1e9 + self._offset
        seg["time"] = stamp if stamp is not None else time.monotonic()
        seg["outgoing"] = addr[2] == PACKET_OUTGOING
        return seg
