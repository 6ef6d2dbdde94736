"""The pure half of the tracepoint reader: tracefs format files and ring-buffer pages.

Everything is read from text the kernel publishes at run time, never hard-coded:
- ``events/<sys>/<name>/format``: "field:const void * skaddr;\toffset:8;\tsize:8;\t
  signed:0;" lines -> a struct layout per event, and the ``__print_symbolic`` tables of
  the print fmt -> state names ({ 1, "TCP_ESTABLISHED" } -> 1: "ESTABLISHED").
- ``events/header_page``: the sub-buffer ("page") header: u64 timestamp at 0, the
  ``commit`` word (bytes of data; bit 31 = events were lost before this page) at 8,
  data from 16.
- ``events/header_event``: each record starts with a u32 (host byte order):
  type_len = low 5 bits, time_delta = high 27 bits. type_len 1..28: data is type_len*4
  bytes right after; 0: a u32 length (including itself) then data; 29 padding (delta 0:
  the rest of the page is empty); 30 time extend (delta += u32 << 27); 31 absolute
  time stamp. This mirrors libtraceevent's kbuffer-parse.c.

Worked example: header word 0x00001a32 -> type_len 0x12 = 18 (72 bytes of data),
time_delta 0x1a32 >> 5 = 0xd1 = 209 ns after the previous record.
"""

from __future__ import annotations

import ipaddress
import re
import struct

_FIELD = re.compile(r"field:(?P<decl>[^;]+);\s*offset:(?P<off>\d+);\s*size:(?P<size>\d+);"
                    r"\s*signed:(?P<signed>\d+);")
_SYMBOL = re.compile(r'\{\s*(\d+)\s*,\s*"([A-Z0-9_]+)"\s*\}')
_INT_CODES = {1: "b", 2: "h", 4: "i", 8: "q"}
TS_SHIFT = 27


class Field:
    """One field of an event record: name, offset, size, signed, array length (or None)."""

    __slots__ = ("array", "name", "offset", "signed", "size")

    def __init__(self, name: str, offset: int, size: int, signed: bool, array: int | None):
        self.name, self.offset, self.size, self.signed, self.array = (
            name, offset, size, signed, array)

    def code(self) -> str:
        """struct code: "4s" for byte arrays, "i"/"I"/"Q"... for integers."""
        if self.array is not None or self.size not in _INT_CODES:
            return f"{self.size}s"
        c = _INT_CODES[self.size]
        return c if self.signed else c.upper()


def parse_format(text: str) -> dict:
    """A ``format`` file -> {"name", "id", "fields": {name: Field}, "symbols": {num: name}}.

    ``symbols`` is the first ``__print_symbolic`` table whose names start with "TCP_"
    (the TCP state names, prefix dropped), empty when there is none.
    """
    name = re.search(r"^name:\s*(\S+)", text, re.M)
    ident = re.search(r"^ID:\s*(\d+)", text, re.M)
    if not name or not ident:
        raise ValueError("not a tracefs event format file (no name/ID)")
    fields = {}
    for m in _FIELD.finditer(text):
        decl = m["decl"].strip()
        arr = re.search(r"\[(\d*)\]\s*$", decl)
        base = decl[:arr.start()] if arr else decl
        fname = re.split(r"[\s*]+", base.strip())[-1]
        fields[fname] = Field(fname, int(m["off"]), int(m["size"]), m["signed"] == "1",
                              int(arr[1] or 0) if arr else None)
    symbols = {}
    for num, sym in _SYMBOL.findall(text):
        if sym.startswith("TCP_") and int(num) not in symbols:
            symbols[int(num)] = sym[4:]
    return {"name": name[1], "id": int(ident[1]), "fields": fields, "symbols": symbols}


def parse_header_page(text: str) -> dict:
    """``events/header_page`` -> {"timestamp": (off, size), "commit": (off, size), "data": off}."""
    out = {}
    for m in _FIELD.finditer(text):
        fname = m["decl"].split()[-1]
        if fname in ("timestamp", "commit", "data") and fname not in out:
            out[fname] = (int(m["off"]), int(m["size"]))
    if set(out) != {"timestamp", "commit", "data"}:
        raise ValueError("unexpected header_page layout")
    return {"timestamp": out["timestamp"], "commit": out["commit"], "data": out["data"][0]}


def parse_header_event(text: str) -> dict:
    """``events/header_event`` -> type_len codes {"padding": 29, "time_extend": 30, ...}."""
    out = {"padding": 29, "time_extend": 30, "time_stamp": 31, "data_max": 28}
    for key in ("padding", "time_extend", "time_stamp"):
        m = re.search(rf"{key}\s*:\s*type\s*==\s*(\d+)", text)
        if m:
            out[key] = int(m[1])
    m = re.search(r"data max type_len\s*==\s*(\d+)", text)
    if m:
        out["data_max"] = int(m[1])
    return out


class EventLayout:
    """Unpack the fields of one event type with one precompiled struct."""

    def __init__(self, fmt: dict, names: list[str]):
        fields = sorted((fmt["fields"][n] for n in names if n in fmt["fields"]),
                        key=lambda f: f.offset)
        spec, pos = "<", 0
        for f in fields:
            spec += f"{f.offset - pos}x" if f.offset > pos else ""
            spec += f.code()
            pos = f.offset + f.size
        self.names = [f.name for f in fields]
        self.struct = struct.Struct(spec)
        self.size = pos
        self.id, self.name, self.symbols = fmt["id"], fmt["name"], fmt["symbols"]

    def unpack(self, buf, offset: int) -> dict:
        return dict(zip(self.names, self.struct.unpack_from(buf, offset), strict=True))


def sockaddr(raw: bytes) -> tuple[int, str, int]:
    """A struct sockaddr_in/in6 as the kernel copies it (family in host order, port big
    endian) -> (family, address, port): b"\\x02\\x00\\x1b\\x58\\x7f\\0\\0\\x01..." ->
    (2, "127.0.0.1", 7000)."""
    (family,) = struct.unpack_from("<H", raw)
    (port,) = struct.unpack_from("!H", raw, 2)
    if family == 2:
        return 2, str(ipaddress.IPv4Address(raw[4:8])), port
    if family == 10:
        return 10, str(ipaddress.IPv6Address(raw[8:24])), port
    return family, "", port


def iter_page(page: bytes, header: dict, types: dict):
    """Records of one ring-buffer page -> (timestamp_ns, data_offset, data_len), and
    whether the kernel flagged lost events before this page (returned last as a bool).

    Every record returned lies inside the page's data; a record the page cuts short (or
    whose header makes no sense) ends the page, as libtraceevent's kbuffer does. A page
    too short for its own header has no records.
    """
    ts_off, _ts_size = header["timestamp"]
    c_off, c_size = header["commit"]
    c_fmt = "<Q" if c_size == 8 else "<I"
    if len(page) < max(ts_off + 8, c_off + struct.calcsize(c_fmt)):
        return [], False
    (ts,) = struct.unpack_from("<Q", page, ts_off)
    (commit,) = struct.unpack_from(c_fmt, page, c_off)
    size = commit & ((1 << 27) - 1)
    pos, end = header["data"], min(header["data"] + size, len(page))
    pad, ext, stamp, dmax = (types["padding"], types["time_extend"], types["time_stamp"],
                             types["data_max"])
    out = []
    unpack = struct.Struct("<I").unpack_from
    while pos + 4 <= end:
        (word,) = unpack(page, pos)
        tl, delta = word & 0x1F, word >> 5
        if tl == pad and delta == 0:
            break
        if (tl == 0 or tl > dmax) and pos + 8 > end:
            break  # its length or time word is cut off
        if tl == 0:
            (length,) = unpack(page, pos + 4)
            if length < 4 or pos + 4 + length > end:
                break
            ts += delta
            out.append((ts, pos + 8, length - 4))
            pos += 4 + ((length + 3) & ~3)
        elif tl <= dmax:
            if pos + 4 + tl * 4 > end:
                break
            ts += delta
            out.append((ts, pos + 4, tl * 4))
            pos += 4 + tl * 4
        elif tl == pad:
            (length,) = unpack(page, pos + 4)
            ts += delta
            pos += 4 + length
        elif tl == ext:
            (hi,) = unpack(page, pos + 4)
            ts += (hi << TS_SHIFT) + delta
            pos += 8
        elif tl == stamp:
            (hi,) = unpack(page, pos + 4)
            low = (hi << TS_SHIFT) + delta
            ts = (ts & ~((1 << 59) - 1)) | low
            pos += 8
        else:
            break
    return out, bool(commit & (1 << 31))


def parse_stats(text: str) -> int:
    """A per-cpu ``stats`` file -> events lost (overrun + commit overrun + dropped events)."""
    lost = 0
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("overrun", "commit overrun", "dropped events"):
            lost += int(value.split()[0])
    return lost


def parse_saved_cmdlines(text: str) -> dict[int, str]:
    """The global ``saved_cmdlines`` ("9193 python" a line: the comm of each task that
    ran while events were recorded) -> {9193: "python"}."""
    out = {}
    for line in text.splitlines():
        pid, _, comm = line.partition(" ")
        if pid.isdigit() and comm:
            out[int(pid)] = comm
    return out
