"""compile_ports, compile_cgroups and compile_filter against a line-by-line model of
the kernel's inet_diag_bc_audit/_run.

net/ipv4/inet_diag.c: the auditor walks the ``yes`` path and checks every ``no`` target
with valid_cc(); the runner follows ``yes`` on a match and ``no`` otherwise and accepts
when it lands exactly on the end.
"""

from __future__ import annotations

import struct

import pytest

from harness.kernel import inet_diag as wire
from harness.kernel import netlink

S_EQ, D_EQ, JMP, CGROUP = wire.BC_S_EQ, wire.BC_D_EQ, wire.BC_JMP, wire.BC_CGROUP_COND
MIN_LEN = {S_EQ: 8, D_EQ: 8, JMP: 4, CGROUP: 12}  # valid_port_comparison, valid_cgroupcond


def ops(bc: bytes, at: int):
    return struct.unpack_from("=BBH", bc, at)


def valid_cc(bc: bytes, length: int, cc: int) -> bool:
    at = 0
    while length >= 0:
        if cc > length:
            return False
        if cc == length:
            return True
        _code, yes, _no = ops(bc, at)
        if yes < 4 or yes & 3:
            return False
        length -= yes
        at += yes
    return False


def audit(bc: bytes) -> bool:
    length, at = len(bc), 0
    while length > 0:
        code, yes, no = ops(bc, at)
        if code not in MIN_LEN:
            return False
        min_len = MIN_LEN[code]
        if no < min_len or no > length + 4 or no & 3:
            return False
        if no < length and not valid_cc(bc, len(bc), length - no):
            return False
        if yes < min_len or yes > length + 4 or yes & 3:
            return False
        at += yes
        length -= yes
    return True


def run(bc: bytes, sport: int, dport: int, cgroup_id: int = 0) -> bool:
    length, at = len(bc), 0
    while length > 0:
        code, yes_jump, no_jump = ops(bc, at)
        if code == S_EQ:
            match = sport == ops(bc, at + 4)[2]
        elif code == D_EQ:
            match = dport == ops(bc, at + 4)[2]
        elif code == CGROUP:
            match = cgroup_id == struct.unpack_from("=Q", bc, at + 4)[0]
        else:  # JMP: always takes ``no``
            match = False
        step = yes_jump if match else no_jump
        length -= step
        at += step
    return length == 0


@pytest.mark.parametrize("ports", [[80], [80, 443], [1, 2, 3, 4, 5], list(range(1000, 1100))])
def test_bytecode_matches_local_or_remote_port(ports):
    bc = wire.compile_ports(ports)
    assert audit(bc)
    for p in ports:
        assert run(bc, p, 50000) and run(bc, 50000, p)
    assert not run(bc, 50000, 50001)
    assert not run(bc, 999, 65535)


@pytest.mark.parametrize("ports", [[80], [80, 443], [1, 2, 3, 4, 5], list(range(1000, 1100))])
def test_negated_bytecode_matches_neither_port(ports):
    bc = wire.compile_ports(ports, negate=True)
    assert audit(bc)
    for p in ports:
        assert not run(bc, p, 50000) and not run(bc, 50000, p)
        assert not run(bc, p, p)
    assert run(bc, 50000, 50001)
    assert run(bc, 999, 65535)
    assert wire.compile_ports([], negate=True) == b""


@pytest.mark.parametrize("ids", [[7], [7, 1 << 40], list(range(100, 140))])
def test_cgroup_bytecode_matches_one_of_the_ids(ids):
    bc = wire.compile_cgroups(ids)
    assert audit(bc) and len(bc) == 16 * len(ids) - 4
    for cgroup_id in ids:
        assert run(bc, 80, 50000, cgroup_id)
    assert not run(bc, 80, 50000, 8) and not run(bc, 80, 50000, 0)  # 0: a minisocket
    assert wire.compile_cgroups([]) == b""
    for bad in (0, -1, 1 << 64):
        with pytest.raises(ValueError):
            wire.compile_cgroups([bad])


@pytest.mark.parametrize("negate", [False, True])
def test_port_and_cgroup_filters_are_both_required(negate):
    """compile_filter: the port program's rejections jump past the cgroup program too,
    its acceptance runs into it."""
    bc = wire.compile_filter([80, 443], negate, [7, 9])
    assert audit(bc)
    for sport, dport, cgroup_id in [(80, 5000, 7), (5000, 443, 9), (5000, 5001, 7),
                                    (80, 5000, 8), (5000, 5001, 8), (443, 443, 0)]:
        on_port = 80 in (sport, dport) or 443 in (sport, dport)
        want = (on_port != negate) and cgroup_id in (7, 9)
        assert run(bc, sport, dport, cgroup_id) == want, (sport, dport, cgroup_id)
    assert wire.compile_filter([80], negate) == wire.compile_ports([80], negate)
    assert wire.compile_filter((), negate, [7]) == wire.compile_cgroups([7])


def test_no_ports_means_no_filter_and_bad_ports_rejected():
    assert wire.compile_ports([]) == b""
    assert wire.compile_ports([80, 80]) == wire.compile_ports([80])
    for bad in (0, 65536, -1):
        with pytest.raises(ValueError):
            wire.compile_ports([bad])


def test_request_carries_bytecode_attribute():
    req = wire.build_request(2, 0xFFF, wire.compile_ports([80]))
    length, msg_type, flags = struct.unpack_from("=IHH", req)
    assert length == len(req) and msg_type == wire.SOCK_DIAG_BY_FAMILY
    assert flags == netlink.NLM_F_REQUEST | netlink.NLM_F_DUMP
    attr_len, attr_type = struct.unpack_from("=HH", req, 16 + 56)
    assert attr_type == wire.INET_DIAG_REQ_BYTECODE and attr_len == 4 + 20


@pytest.mark.parametrize("negate", [False, True])
def test_the_port_limit_is_the_longest_program_the_attribute_holds(negate):
    """nla_len is a u16: 2730 ports fit, 2731 are refused in a sentence naming the limit
    instead of a struct.error from a 16-bit field. (The auditor's model is quadratic:
    the kernel's own auditor takes the longest program in the live test below.)"""
    ports = list(range(1, wire.MAX_FILTER_PORTS + 1))
    bc = wire.compile_ports(ports, negate)
    assert len(bc) + 4 <= 0xFFFF
    assert run(bc, 2730, 50000) != negate and run(bc, 2731, 50000) == negate
    with pytest.raises(ValueError, match="at most 2730 ports"):
        wire.compile_ports([*ports, 2731], negate)
    assert wire.MAX_FILTER_PORTS == 2730


@pytest.mark.live
def test_the_kernel_takes_a_filter_of_as_many_ports_as_allowed():
    from harness.kernel import sockdiag

    ports = list(range(1, wire.MAX_FILTER_PORTS + 1))
    with sockdiag.SockDiag() as diag:
        diag.count(ports)
        diag.count_codes(["TIME_WAIT"], ports, exclude_ports=True)
