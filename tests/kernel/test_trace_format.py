"""The pure half of the tracer: format files, ring-buffer pages and lifecycles, on files
recorded from kernel 6.18 (tests/fixtures/trace/)."""

import json
import struct

from paths import FIXTURES

from harness.kernel.trace_format import (
    iter_page,
    parse_format,
    parse_header_event,
    parse_header_page,
    parse_saved_cmdlines,
    parse_stats,
    sockaddr,
)
from harness.kernel.tracefs import Tracer, kernel_filter
from harness.observe.lifecycle import Lifecycles, lifecycles, path
from harness.observe.timeline import connections

FIX = FIXTURES / "trace"
EVENTS = FIX / "events"
PAGES = json.loads((FIX / "lab_pages.json").read_text())


def _fmt(name):
    return parse_format((EVENTS / name / "format").read_text())


def test_format_fields_and_state_names():
    f = _fmt("sock/inet_sock_set_state")
    assert f["name"] == "inet_sock_set_state" and f["id"] == 2287
    fields = f["fields"]
    assert (fields["skaddr"].offset, fields["skaddr"].code()) == (8, "Q")
    assert (fields["oldstate"].offset, fields["oldstate"].code()) == (16, "i")
    assert (fields["sport"].offset, fields["sport"].code()) == (24, "H")
    assert (fields["saddr_v6"].offset, fields["saddr_v6"].code(), fields["saddr_v6"].array) == (
        40, "16s", 16)
    assert f["symbols"][1] == "ESTABLISHED" and f["symbols"][12] == "NEW_SYN_RECV"
    # this format spells the states as macros: no numeric table to take
    assert _fmt("tcp/tcp_retransmit_skb")["symbols"] == {}
    assert _fmt("tcp/tcp_send_reset")["fields"]["saddr"].size == 28


def test_headers():
    hp = parse_header_page((EVENTS / "header_page").read_text())
    assert hp == {"timestamp": (0, 8), "commit": (8, 8), "data": 16}
    he = parse_header_event((EVENTS / "header_event").read_text())
    assert he == {"padding": 29, "time_extend": 30, "time_stamp": 31, "data_max": 28}


HEADER = {"timestamp": (0, 8), "commit": (8, 8), "data": 16}
TYPES = {"padding": 29, "time_extend": 30, "time_stamp": 31, "data_max": 28}


def test_iter_page_record_kinds_and_time_deltas():
    body = struct.pack("<I", (100 << 5) | 2) + b"A" * 8            # 8 data bytes, +100 ns
    body += struct.pack("<II", (5 << 5) | 30, 1)                    # time extend: +2**27 + 5
    body += struct.pack("<II", (7 << 5) | 0, 4 + 120) + b"B" * 120  # long record, +7 ns
    body += struct.pack("<II", (1 << 5) | 29, 12) + b"\0" * 8       # discarded: 4 + 12 bytes
    body += struct.pack("<I", 3 << 5 | 1) + b"C" * 4                # +3 ns
    body += struct.pack("<I", 29)                                   # rest of page empty
    page = struct.pack("<QQ", 1_000_000, len(body) | 1 << 31) + body + b"\xff" * 64
    recs, missed = iter_page(page, HEADER, TYPES)
    t0 = 1_000_000 + 100
    t1 = t0 + (1 << 27) + 5 + 7
    assert recs == [(t0, 20, 8), (t1, 16 + 4 + 8 + 8 + 8, 120), (t1 + 1 + 3, 16 + len(body) - 8, 4)]
    assert missed is True


def test_recorded_pages_decode_as_recorded():
    tr = Tracer(ports=[7000])
    tr.load_formats(str(EVENTS))
    events = []
    for p in PAGES["pages"]:
        page = bytes.fromhex(p["page"])
        recs, _missed = iter_page(page, tr._header, tr._types)
        for ev in tr.decode_records(page, recs):
            assert isinstance(ev.pop("pid"), int) and isinstance(ev.pop("comm"), str)
            events.append(ev)
    assert events == PAGES["expected"]
    first = events[0]
    assert (first["old"], first["new"], first["sport"], first["saddr"]) == (
        "CLOSE", "LISTEN", 7000, "198.19.135.2")
    rst = next(e for e in events if e["event"] == "tcp_send_reset")  # from struct sockaddr_in6
    assert (rst["family"], rst["sport"], rst["daddr"]) == (10, 7000, "fd53:6c:187::1")
    retrans = next(e for e in events if e["event"] == "tcp_retransmit_skb")
    assert retrans["state"] == "SYN_SENT"  # from inet_sock_set_state's table


def test_address_filter_is_applied_after_decode():
    tr = Tracer(ports=[7000], addrs=["198.19.135.1"])
    tr.load_formats(str(EVENTS))
    page = bytes.fromhex(PAGES["pages"][0]["page"])
    evs = tr.decode_records(page, iter_page(page, tr._header, tr._types)[0])
    assert evs and all("198.19.135.1" in (e["saddr"], e["daddr"]) for e in evs)
    assert all(e["family"] == 2 for e in evs)
    other = Tracer(ports=[9999])
    other.load_formats(str(EVENTS))
    assert other.decode_records(page, iter_page(page, tr._header, tr._types)[0]) == []


def test_sockaddr_bytes():
    v4 = struct.pack("<H", 2) + struct.pack("!H", 7000) + bytes([127, 0, 0, 1]) + b"\0" * 20
    assert sockaddr(v4) == (2, "127.0.0.1", 7000)
    v6 = struct.pack("<H", 10) + struct.pack("!H", 443) + bytes(4) + bytes(15) + b"\x01" + bytes(4)
    assert sockaddr(v6) == (10, "::1", 443)


def test_kernel_filter_and_stats():
    fields = _fmt("sock/inet_sock_set_state")["fields"]
    assert kernel_filter(fields, (7000, 80), 2) == (
        "protocol == 6 && family == 2 && (sport == 7000 || dport == 7000 || sport == 80 || "
        "dport == 80)")
    assert kernel_filter(_fmt("tcp/tcp_send_reset")["fields"], (7000,), None) == ""
    stats = ("entries: 3\noverrun: 5\ncommit overrun: 1\nbytes: 100\n"
             "oldest event ts:  7649.048627\nnow ts:  7650.1\ndropped events: 2\nread events: 9\n")
    assert parse_stats(stats) == 8


def test_lifecycles_of_the_recorded_connection():
    lives = lifecycles(PAGES["expected"])
    client = [lf for lf in lives if lf["local"].startswith("198.19.135.1:")]
    server = [lf for lf in lives if lf["local"] == "198.19.135.2:7000"
              and not lf["remote"].endswith(":0")]
    assert len(client) == 1 and len(server) == 1
    # CLOSE -> SYN_SENT fires before the port is chosen (sport 0): joined by skaddr
    assert path(client[0]) == ["CLOSE", "SYN_SENT", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2",
                               "TIME_WAIT", "CLOSE"]
    assert client[0]["time_wait"] is True and client[0]["local"].endswith(":52296")
    assert path(server[0]) == ["LISTEN", "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT", "LAST_ACK",
                               "CLOSE"]
    trs = client[0]["transitions"]
    assert trs[0]["ms"] is None
    assert abs(trs[1]["ms"] - (trs[1]["time"] - trs[0]["time"]) * 1000) < 1e-9
    refused = [lf for lf in lives if lf["family"] == 10]
    assert [path(lf) for lf in refused] == [["CLOSE", "SYN_SENT", "CLOSE"]]
    notes = [n["event"] for n in refused[0]["notes"]]
    # the RST was sent by the server host (no socket, skaddr 0): not the client's
    assert notes == ["tcp_retransmit_skb", "tcp_receive_reset"]


def test_live_lifecycles_forget_finished_sockets():
    lc = Lifecycles(keep=False)
    for ev in PAGES["expected"]:
        lc.add(ev)
    assert lc.done == [] and lc.open == {}


def test_connections_pair_both_sides_and_skip_listeners():
    conns = connections(PAGES["expected"])
    assert [(c["client"], c["server"]) for c in conns] == [
        ("198.19.135.1:52296", "198.19.135.2:7000"),
        ("[fd53:6c:187::1]:54638", "[fd53:6c:187::2]:7000")]
    ok, refused = conns
    assert ok["client_life"]["time_wait"] and ok["server_life"]["local"] == "198.19.135.2:7000"
    sides = [r["side"] for r in ok["timeline"]]
    assert sides.count("client") == 5 and sides.count("server") == 5
    assert refused["server_life"] is None and refused["segments"] == []


def test_saved_cmdlines():
    text = "9004 python\n9193 python\n1 systemd\n9136 VizCompositorTh\n<idle> x\n"
    assert parse_saved_cmdlines(text) == {9004: "python", 9193: "python", 1: "systemd",
                                          9136: "VizCompositorTh"}
