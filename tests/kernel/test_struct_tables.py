"""The struct tables (kernel/inet_diag.py, kernel/netlink.py) against the kernel's own
layouts, and the parsers built on them against the recorded dumps.

The sizes and offsets below are the uapi headers' (include/uapi/linux/inet_diag.h,
netlink.h), fixed since Linux 3.3; where a C compiler and the headers are installed the
same numbers are also taken from ``sizeof``/``offsetof`` for every field of every table.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections import Counter

import pytest
from paths import FIXTURES

from harness.kernel import inet_diag as wire
from harness.kernel import netlink
from harness.kernel.dump_columns import TimeWaitColumns, count_chunk, time_wait_rows

TABLES = {
    "nlmsghdr": netlink.NLMSGHDR,
    "nlmsgerr": netlink.NLMSGERR,
    "nlattr": netlink.NLATTR,
    "inet_diag_sockid": wire.INET_DIAG_SOCKID,
    "inet_diag_req_v2": wire.INET_DIAG_REQ_V2,
    "inet_diag_req": wire.INET_DIAG_REQ,
    "inet_diag_msg": wire.INET_DIAG_MSG,
    "inet_diag_bc_op": wire.INET_DIAG_BC_OP,
}
# (size, {field: offset}) from the uapi headers.
KERNEL = {
    "nlmsghdr": (16, {"nlmsg_len": 0, "nlmsg_type": 4, "nlmsg_flags": 6, "nlmsg_seq": 8,
                      "nlmsg_pid": 12}),
    "nlmsgerr": (20, {"error": 0, "msg": 4}),
    "nlattr": (4, {"nla_len": 0, "nla_type": 2}),
    "inet_diag_sockid": (48, {"idiag_sport": 0, "idiag_dport": 2, "idiag_src": 4,
                              "idiag_dst": 20, "idiag_if": 36, "idiag_cookie": 40}),
    "inet_diag_req_v2": (56, {"sdiag_family": 0, "sdiag_protocol": 1, "idiag_ext": 2,
                              "pad": 3, "idiag_states": 4, "id": 8}),
    "inet_diag_req": (60, {"idiag_family": 0, "idiag_src_len": 1, "idiag_dst_len": 2,
                           "idiag_ext": 3, "id": 4, "idiag_states": 52, "idiag_dbs": 56}),
    "inet_diag_msg": (72, {"idiag_family": 0, "idiag_state": 1, "idiag_timer": 2,
                           "idiag_retrans": 3, "id": 4, "idiag_expires": 52,
                           "idiag_rqueue": 56, "idiag_wqueue": 60, "idiag_uid": 64,
                           "idiag_inode": 68}),
    "inet_diag_bc_op": (4, {"code": 0, "yes": 1, "no": 2}),
}
# inet_diag_msg as one literal format, written from the header by hand: the reference
# the table-built decode is compared with.
UAPI_MSG = struct.Struct("=BBBBHH16s16sIIIIIIII")


@pytest.mark.parametrize("name", sorted(KERNEL))
def test_table_size_and_offsets_are_the_kernels(name):
    size, offsets = KERNEL[name]
    table = TABLES[name]
    assert table.size == size
    assert {field: table.offset[field] for field in offsets} == offsets
    assert [field for field, _fmt in table.fields] == list(offsets)  # in the header's order


def test_inlined_sockid_fields_are_counted_from_the_outer_struct():
    msg = wire.INET_DIAG_MSG
    assert msg.offset["idiag_sport"] == 4 and msg.offset["idiag_dst"] == 24
    assert msg.offset["idiag_cookie"] == 44 and msg.count["idiag_cookie"] == 2
    assert wire.INET_DIAG_REQ_V2.offset["idiag_cookie"] == 8 + 40
    assert msg.struct.size == UAPI_MSG.size and msg.items == 16


def test_attribute_and_bytecode_numbers_are_the_kernels():
    assert wire.Attr.INET_DIAG_MARK == 15 and wire.INET_DIAG_CGROUP_ID == 21
    assert list(wire.Attr) == sorted(wire.Attr) and len(wire.Attr) == 23  # NONE..SOCKOPT
    assert (wire.BC_JMP, wire.BC_S_EQ, wire.BC_D_EQ, wire.BC_CGROUP_COND) == (1, 11, 12, 13)
    assert wire.CGROUP_COND.size == 8 and netlink.NLMSG_DONE_PAYLOAD.size == 4


def _c_program() -> str:
    lines = ["#include <stdio.h>", "#include <stddef.h>", "#include <linux/netlink.h>",
             "#include <linux/inet_diag.h>", "int main(void) {"]
    for name in TABLES:
        lines.append(f'printf("{name} %zu\\n", sizeof(struct {name}));')
        for field in KERNEL[name][1]:
            lines.append(f'printf("{name}.{field} %zu\\n", offsetof(struct {name}, {field}));')
    for attr in wire.Attr:
        lines.append(f'printf("{attr.name} %d\\n", {attr.name});')
    lines.append('printf("INET_DIAG_BC_CGROUP_COND %d\\n", INET_DIAG_BC_CGROUP_COND);')
    return "\n".join([*lines, "return 0; }"])


def test_tables_against_the_installed_headers(tmp_path):
    """sizeof/offsetof of every table field and the attribute enum, from the C headers
    (skipped without a compiler or the uapi headers)."""
    if shutil.which("cc") is None or not os.path.exists("/usr/include/linux/inet_diag.h"):
        pytest.skip("needs cc and the kernel's uapi headers (linux-libc-dev)")
    src = tmp_path / "layout.c"
    src.write_text(_c_program())
    subprocess.run(["cc", "-o", str(tmp_path / "layout"), str(src)], check=True)
    out = subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True,
                         check=True).stdout
    got = dict(line.rsplit(" ", 1) for line in out.splitlines())
    for name, table in TABLES.items():
        assert int(got[name]) == table.size, name
        for field in KERNEL[name][1]:
            assert int(got[f"{name}.{field}"]) == table.offset[field], (name, field)
    for attr in wire.Attr:
        assert int(got[attr.name]) == attr.value, attr.name
    assert int(got["INET_DIAG_BC_CGROUP_COND"]) == wire.BC_CGROUP_COND


def recorded_dumps():
    """Every recorded dump: (name, list of received buffers)."""
    out = []
    for path in sorted((FIXTURES / "sockdiag").glob("*.hex")):
        if path.stem not in ("dump_done_error", "nlmsg_error"):
            out.append((path.stem, [bytes.fromhex(x) for x in path.read_text().split()]))
    for moment in sorted((FIXTURES / "kernel").glob("t*")):
        out.append((f"kernel/{moment.name}",
                    [bytes.fromhex(x) for x in (moment / "dump.hex").read_text().split()]))
    return out


@pytest.mark.parametrize(("name", "bufs"), recorded_dumps(), ids=lambda v: str(v)[:30])
def test_parsers_agree_with_the_literal_layout_on_recorded_dumps(name, bufs):
    """decode_chunk, decode_chunk_cgroup, count_chunk and the TIME_WAIT columns give,
    on every recorded dump, what unpacking each message with the header's literal
    layout gives."""
    reference, fast, with_cgroup = [], [], []
    counts, result = [0] * wire.STATE_SLOTS, wire.ChunkResult()
    for buf in bufs:
        wire.walk(buf, len(buf), lambda b, off: reference.append(UAPI_MSG.unpack_from(b, off)),
                  wire.ChunkResult())
        wire.decode_chunk(buf, len(buf), fast.append, wire.ChunkResult())
        wire.decode_chunk_cgroup(buf, len(buf), with_cgroup.append, wire.ChunkResult())
        count_chunk(buf, len(buf), counts, result)
    assert reference and [tuple(r) for r in fast] == reference
    assert [tuple(r)[:16] for r in with_cgroup] == reference
    assert Counter(r[1] for r in reference) == Counter(
        {code: n for code, n in enumerate(counts) if n})
    for r, ref in zip(fast, reference, strict=True):
        assert (r.family, r.state_code, r.expires, r.inode) == (ref[0], ref[1], ref[11], ref[15])
        assert (r.sport, r.dport) == tuple(int.from_bytes(struct.pack("=H", p), "big")
                                           for p in ref[4:6])
        assert r.cookie == ref[9] | ref[10] << 32


def test_time_wait_columns_and_rows_agree(fixture_path):
    """The same sockets through the column path and the message-by-message path."""
    (_, bufs), = [d for d in recorded_dumps() if d[0] == "ipv4_timewait_multipart"]
    by_column, by_row = Counter(), Counter()
    for buf in bufs:
        run = TimeWaitColumns(buf, len(buf))
        if run.end:
            by_column.update(zip(*run.dest(), strict=True))
        time_wait_rows(buf, 0, len(buf), lambda fam, sport, bucket, key: by_row.update([key]),
                       wire.ChunkResult())
    assert sum(by_row.values()) == 601 and by_column == by_row


def test_a_table_refuses_what_would_make_it_ambiguous():
    from harness.kernel.cstruct import CStruct

    with pytest.raises(ValueError, match="declared twice"):
        CStruct("twice", [("a", "B"), ("a", "H")])
    with pytest.raises(ValueError, match="declared twice"):  # inlined names clash too
        CStruct("clash", [("nla_len", "I"), ("attr", netlink.NLATTR)])
    with pytest.raises(ValueError, match="holds 2 values"):
        wire.INET_DIAG_MSG.getter("idiag_cookie")
    with pytest.raises(KeyError, match="no field"):
        wire.INET_DIAG_MSG.values(idiag_bogus=1)
    assert netlink.NLMSGHDR.head("nlmsg_type").format == "=IH"
