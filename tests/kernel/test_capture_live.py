"""Capture on a lab host's interface: the handshake, data and close with their arithmetic."""

import itertools

import pytest

from harness.kernel.capture import Capture
from harness.lab import Lab
from harness.observe.timeline import relative_segments
from harness.sockets import Server, run_connect

pytestmark = pytest.mark.root


def test_capture_shows_handshake_data_and_close_with_sequence_arithmetic():
    with Lab() as lab, Capture(netns=lab.client.netns, ifname="eth0", ports=[7000]) as cap:
        srv, client_addr = lab.server, lab.client.addr
        with Server("echo", host=srv.addr, port=7000, netns=srv.netns), \
                Server("echo", host=srv.addr, port=7001, netns=srv.netns):
            run_connect(srv.addr, 7001, count=1, size=5, netns=lab.client.netns)
            res = run_connect(srv.addr, 7000, count=1, size=5, netns=lab.client.netns)
            assert res.ok == 1
        cap.stop()
        segs = cap.read()
    assert all(7000 in (s["sport"], s["dport"]) for s in segs)  # port 7001 filtered out
    client = (client_addr, segs[0]["sport"])
    rel = relative_segments(segs, client=client)
    syn, synack, ack = rel[0], rel[1], rel[2]
    assert (syn["flags"], syn["from"], syn["outgoing"]) == ("SYN", "client", True)
    assert (synack["flags"], synack["from"]) == ("SYN,ACK", "server")
    assert synack["ack"] == (syn["seq"] + 1) % 2**32 and synack["rel_ack"] == 1
    assert ack["flags"] == "ACK" and ack["ack"] == (synack["seq"] + 1) % 2**32
    assert (ack["rel_seq"], ack["rel_ack"]) == (1, 1)
    assert syn["options"]["mss"] > 0 and "wscale" in syn["options"]
    data = [s for s in rel if s["len"]]
    assert [(s["from"], s["len"], s["rel_seq"]) for s in data] == [("client", 5, 1),
                                                                  ("server", 5, 1)]
    fins = [s for s in rel if "FIN" in s["flags"]]
    assert [f["from"] for f in fins] == ["client", "server"]  # the client closes first
    cfin, sfin = fins
    assert cfin["rel_seq"] == 6 and sfin["rel_seq"] == 6
    assert sfin["rel_ack"] == cfin["rel_seq"] + 1  # the FIN consumed one number
    last = rel[-1]
    assert (last["flags"], last["from"], last["rel_ack"]) == ("ACK", "client", sfin["rel_seq"] + 1)
    assert all(a["time"] <= b["time"] for a, b in itertools.pairwise(rel))
