"""The tracer on a real connection in a lab, with the capture beside it (root)."""

import os
import subprocess

import pytest

from harness.kernel.capture import Capture
from harness.kernel.errors import KernelError
from harness.kernel.sockdiag import dump
from harness.kernel.tracefs import TRACEFS, Tracer
from harness.lab import Lab
from harness.observe.lifecycle import path
from harness.observe.timeline import connections
from harness.sockets import Server, run_connect

GLOBAL = ("tracing_on", "current_tracer", "set_event", "trace_clock", "buffer_size_kb")


def global_settings() -> dict:
    out = {}
    for name in GLOBAL:
        with open(os.path.join(TRACEFS, name)) as f:
            out[name] = f.read()
    return out


def our_instances() -> list[str]:
    return [n for n in os.listdir(os.path.join(TRACEFS, "instances"))
            if n.startswith(f"socklife-{os.getpid()}-")]


@pytest.mark.root
def test_one_connection_both_sides_in_order_with_segments():
    with Tracer(ports=[7000]):  # mounts tracefs if needed, so the "before" can be read
        pass
    before = global_settings()
    with Lab() as lab:
        addrs = [lab.client.addr, lab.server.addr]
        with Tracer(ports=[7000], addrs=addrs) as tr, \
                Capture(netns=lab.client.netns, ifname="eth0", ports=[7000]) as cap:
            assert len(our_instances()) == 1
            with Server("echo", host=lab.server.addr, port=7000, netns=lab.server.netns):
                assert run_connect(lab.server.addr, 7000, count=1, size=5,
                                   netns=lab.client.netns).ok == 1
            cap.stop()
            events = tr.read()
            # the inferred TIME_WAIT, confirmed by a dump of the client's namespace
            waiting = [r.local for r in dump(netns=lab.client.netns, ports=[7000])
                       if r.state == "TIME_WAIT"]
    events += tr.read()  # what was still in the buffer when the with block ended
    lost = tr.lost
    assert lost == 0
    assert our_instances() == []
    assert global_settings() == before
    assert all(addrs[0] in (e["saddr"], e["daddr"]) or addrs[1] == e["saddr"] for e in events)
    # the server's and client's threads are gone by now: their names come from
    # saved_cmdlines
    assert all(e["comm"] != "?" for e in events)
    [conn] = connections(events, cap.read())
    assert conn["client"].startswith(addrs[0] + ":") and conn["server"] == f"{addrs[1]}:7000"
    assert waiting == [conn["client"]]
    assert path(conn["client_life"]) == ["CLOSE", "SYN_SENT", "ESTABLISHED", "FIN_WAIT1",
                                         "FIN_WAIT2", "TIME_WAIT", "CLOSE"]
    assert path(conn["server_life"]) == ["LISTEN", "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT",
                                         "LAST_ACK", "CLOSE"]
    # one time line: the client's SYN leaves after it enters SYN_SENT, the server's
    # child socket is ESTABLISHED once the handshake's ACK is there
    line = [(r["source"], r["side"], r["text"]) for r in conn["timeline"]]
    i_syn_sent = line.index(("state", "client", "CLOSE -> SYN_SENT"))
    i_syn = next(i for i, r in enumerate(line) if r[0] == "segment" and "[SYN]" in r[2])
    i_ack = next(i for i, r in enumerate(line)
                 if r[0] == "segment" and r[2].startswith("[ACK] seq=1 ack=1"))
    i_srv_est = line.index(("state", "server", "SYN_RECV -> ESTABLISHED"))
    assert i_syn_sent < i_syn < i_ack < i_srv_est
    flags = [s["flags"] for s in conn["segments"]]
    assert flags[:3] == ["SYN", "SYN,ACK", "ACK"] and flags.count("ACK,FIN") == 2


def test_not_root_is_a_one_line_error(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(KernelError, match="needs root"):
        Tracer().start()


@pytest.mark.root
def test_instances_of_a_dead_process_are_removed_at_the_next_start():
    proc = subprocess.Popen(["true"])
    proc.wait()
    stale = os.path.join(TRACEFS, "instances", f"socklife-{proc.pid}-1")
    os.mkdir(stale)
    try:
        with Tracer(ports=[7999]):
            assert not os.path.exists(stale)
    finally:
        if os.path.exists(stale):
            os.rmdir(stale)
