"""A kernel C struct declared once, as a table of ``(kernel_field_name, format)``.

In pyroute2's style a struct is the list of its fields with their ``struct`` module
formats; the ``struct.Struct``, each field's byte offset and its place in the unpacked
tuple are derived from that table, so the parsers, the fast byte-column counters and
the tests all read one declaration. A field whose format is another CStruct is that
struct inlined (``struct inet_diag_sockid id`` inside ``inet_diag_msg``): its fields
keep their own names and their offsets are counted from the outer struct's start.

    >>> hdr = CStruct("nlattr", [("nla_len", "H"), ("nla_type", "H")])
    >>> hdr.size, hdr.format, hdr.offset["nla_type"]
    (4, '=HH', 2)
    >>> pair = CStruct("pair", [("tag", "B"), ("attr", hdr), ("cookie", "2I")])
    >>> pair.offset["nla_type"], pair.index["cookie"], pair.items, pair.size
    (3, 3, 5, 13)
    >>> pair.values(nla_len=8, cookie=(1, 2))
    (0, 8, 0, 1, 2)

Formats use the host's byte order with no padding (``=``), as the kernel lays out
these structs (their fields are naturally aligned already). A field that is big-endian
on the wire (``be16`` ports) is still declared in host order: its readers convert it.
"""

from __future__ import annotations

import struct
from operator import itemgetter


def _items(fmt: str) -> int:
    """How many values ``fmt`` (one field) packs: ``16s`` is 1, ``2I`` is 2, ``4x`` 0."""
    return len(struct.unpack("=" + fmt, bytes(struct.calcsize("=" + fmt))))


class CStruct:
    """One C struct: ``size``, ``format``, ``struct``; per field ``offset`` (bytes from
    the start), ``index`` (first position in the unpacked tuple) and ``count``."""

    def __init__(self, name: str, fields):
        self.name = name
        self.fields = tuple(fields)
        self.offset: dict[str, int] = {}
        self.index: dict[str, int] = {}
        self.count: dict[str, int] = {}
        formats = []
        offset = index = 0
        for field, fmt in self.fields:
            if field in self.offset:
                raise ValueError(f"{name}: field {field} declared twice")
            self.offset[field], self.index[field] = offset, index
            if isinstance(fmt, CStruct):
                for inner in fmt.offset:
                    if inner in self.offset:
                        raise ValueError(f"{name}: field {inner} declared twice")
                    self.offset[inner] = offset + fmt.offset[inner]
                    self.index[inner] = index + fmt.index[inner]
                    self.count[inner] = fmt.count[inner]
                self.count[field] = fmt.items
                formats.append(fmt.format[1:])
                offset, index = offset + fmt.size, index + fmt.items
            else:
                self.count[field] = _items(fmt)
                formats.append(fmt)
                offset, index = offset + struct.calcsize("=" + fmt), index + self.count[field]
        self._formats = tuple(formats)
        self.format = "=" + "".join(formats)
        self.struct = struct.Struct(self.format)
        self.size = self.struct.size
        self.items = index
        if offset != self.size:  # "=" never pads; a mismatch is a bug in this class
            raise ValueError(f"{name}: fields add up to {offset} bytes, struct is {self.size}")
        self.pack = self.struct.pack
        self.unpack_from = self.struct.unpack_from

    def getter(self, field: str) -> itemgetter:
        """An itemgetter of ``field`` (a one-value field) from the unpacked tuple."""
        if self.count[field] != 1:
            raise ValueError(f"{self.name}.{field} holds {self.count[field]} values")
        return itemgetter(self.index[field])

    def head(self, last_field: str) -> struct.Struct:
        """A Struct of the leading fields up to ``last_field`` (one of the table's own,
        not an inlined struct's): a prefix to unpack where the rest is not needed."""
        names = [field for field, _fmt in self.fields]
        kept = self._formats[:names.index(last_field) + 1]
        return struct.Struct("=" + "".join(kept))

    def values(self, **fields) -> tuple:
        """The unpacked tuple for ``fields`` by name, every other field zero (``b""``
        for a byte string); a multi-value field is given as a tuple."""
        out: list = list(self.unpack_from(bytes(self.size)))
        for field, value in fields.items():
            if field not in self.index:
                raise KeyError(f"{self.name} has no field {field}")
            at, n = self.index[field], self.count[field]
            out[at:at + n] = value if n != 1 else (value,)
        if len(out) != self.items:
            raise ValueError(f"{self.name}: wrong number of values")
        return tuple(out)

    def build(self, **fields) -> bytes:
        """The packed struct for ``fields`` by name (see ``values``)."""
        return self.pack(*self.values(**fields))

    def __repr__(self) -> str:
        return f"CStruct({self.name!r}, size={self.size}, format={self.format!r})"
