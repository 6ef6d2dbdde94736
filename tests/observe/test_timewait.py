"""TIME_WAIT aggregation straight from dump bytes, against a recorded dump."""

import json
from collections import Counter

import pytest

from harness.kernel import inet_diag as wire
from harness.kernel import netlink
from harness.kernel.dump_columns import FLAGS, TimeWaitColumns
from harness.observe.ports import BUCKET_MS
from harness.observe.timewait import (
    TimeWaitGroups,
    TimeWaitView,
    expiry_summary,
    time_wait_analysis,
)


@pytest.fixture
def dump(fixture_path):
    with open(fixture_path("observe", "tw_dump.json")) as f:
        return json.load(f)


def aggregate(chunks, port_range=(40000, 40999)):
    groups, result = TimeWaitGroups({7000}, port_range), wire.ChunkResult()
    for hexed in chunks:
        raw = bytes.fromhex(hexed)
        groups.add_chunk(bytearray(raw) + bytearray(64), len(raw), result)
    return groups, result


def test_groups_match_the_decoded_records(dump):
    groups, result = aggregate(dump["chunks"])
    assert result.done and not result.interrupted
    view = TimeWaitView(groups)
    recs = dump["records"]
    assert view.count == len(recs) == 50
    assert view.hist == Counter(r["expires"] // BUCKET_MS for r in recs)
    client_side = [r for r in recs if 40000 <= r["sport"] <= 40999]
    expected = Counter(r["remote"] for r in client_side)
    assert {k: sum(v.values()) for k, v in view.by_dest.items()} == expected
    assert expected == {"127.0.0.1:7000": 30, "127.0.0.2:7000": 12, "[::1]:7000": 5}
    assert view.ports_in_use(()) == len({r["sport"] for r in client_side})
    assert view.ports_in_use([40998, 7000, 80]) == len({r["sport"] for r in client_side}) + 1


def test_the_server_side_holds_no_ephemeral_port(dump):
    groups, _ = aggregate(dump["chunks"])
    view = TimeWaitView(groups)
    server_side = [r for r in dump["records"] if r["sport"] == 7000]
    assert len(server_side) == 3
    assert not any(r == f"127.0.0.1:{s['remote'].rsplit(':')[1]}"
                   for r in view.by_dest for s in server_side)


def test_column_path_and_message_path_agree(dump):
    # A range whose edges are far from the ports used: every row is counted; the
    # recorded range (40000-40999, ports near its edge, a server side on 7000): rows
    # masked out by compress. Both give the client side's sockets.
    client = [r for r in dump["records"] if r["sport"] != 7000]
    wide, _ = aggregate(dump["chunks"], (30000, 50000))
    near, _ = aggregate(dump["chunks"], (40000, 40999))
    assert TimeWaitView(wide).by_dest == TimeWaitView(near).by_dest
    assert sum(sum(h.values()) for h in TimeWaitView(wide).by_dest.values()) == len(client)


def test_one_message_alone_is_walked(dump):
    raw = bytes.fromhex(dump["chunks"][0])
    (msg_len,) = netlink.NLMSGHDR.head("nlmsg_len").unpack_from(raw)
    groups, result = TimeWaitGroups({7000}, (40000, 40999)), wire.ChunkResult()
    groups.add_chunk(bytearray(raw), msg_len, result)  # exactly one message: no column run
    assert sum(groups.hist.values()) == 1 and sum(groups.sports.values()) == 1


def test_an_interrupted_dump_is_flagged(dump):
    raw = bytearray.fromhex(dump["chunks"][0])
    raw[FLAGS] |= netlink.NLM_F_DUMP_INTR  # flags of the first message
    groups, result = TimeWaitGroups(), wire.ChunkResult()
    groups.add_chunk(raw, len(raw), result)
    assert result.interrupted


def test_expiry_summary_in_buckets_of_256_ms():
    hist = Counter({10: 1, 100: 5, 200: 1})
    assert expiry_summary(hist) == {"min": 2.56, "p50": 25.6, "max": round(201 * 0.256, 3)}
    assert expiry_summary(Counter()) == {"min": None, "p50": None, "max": None}


def test_analysis_steady_state_from_close_rate():
    # 100 sockets closed in the last 10 s (60 s .. 50 s left), 400 older ones.
    hist = Counter({230: 100, 100: 400})
    tw = time_wait_analysis(500, hist, 4.0)
    assert tw["count"] == 500 and tw["growth_per_s"] == 4.0
    assert 9 < tw["close_rate_per_s"] < 11
    assert tw["steady_state"] == round(tw["close_rate_per_s"] * 60)
    assert tw["drained_in_s"] == tw["expires_s"]["max"]


def test_a_count_the_details_do_not_hold_drains_within_the_longest_time_wait():
    """sockstat counted TIME_WAIT sockets that the details' dump, a moment later (or a
    sample earlier, under the budget), did not hold: the drain time is the bound, 60 s,
    never null (the field is a number: a null made the record unreadable)."""
    from harness.schema.records import TimeWait
    from harness.schema.validate import validate

    tw = time_wait_analysis(3, Counter(), None)
    assert tw["drained_in_s"] == 60.0 and tw["expires_s"]["max"] is None
    validate(tw, TimeWait)
    assert time_wait_analysis(0, Counter(), None)["drained_in_s"] == 0.0


def test_one_walk_replies_and_the_families_seen(fixture_path):
    """A TCPDIAG_GETSOCK dump (message type 18, both families; recorded by
    tests/fixtures/sockdiag/record.py): every message is aggregated, through the column
    path for the batch of IPv4 minisockets and the message path where the families mix,
    and the families seen tell the sampler whether one walk still suits."""
    with open(fixture_path("sockdiag", "one_walk_all.hex")) as f:
        bufs = [bytes.fromhex(line) for line in f if line.strip()]
    groups, result = TimeWaitGroups({8080, 9090}), wire.ChunkResult()
    for buf in bufs:
        groups.add_chunk(buf, len(buf), result)
    assert result.done
    assert groups.families == {2, 10}
    assert sum(groups.hist.values()) == 608  # 601 TIME_WAIT + 7 others in the fixture
    run = TimeWaitColumns(bufs[1], len(bufs[1]))
    assert (run.end, run.family) == (len(bufs[1]), 2)  # the column path
    tw_only, result = TimeWaitGroups({8080, 9090}), wire.ChunkResult()
    tw_only.add_chunk(bufs[1], len(bufs[1]), result)  # the second batch: IPv4 minisockets
    assert tw_only.families == {2}
    assert sum(tw_only.sports.values()) == len(bufs[1]) // 96


def test_ports_in_use_unites_the_open_pairs_once_per_pairs_object_and_stays_exact(dump):
    """The open pairs are united with the TIME_WAIT ports once per pairs object (the
    sampler hands the same one between its groupings): every call still counts the
    decoded sockets' ports of that call, and a new pairs object is united anew."""
    groups, _ = aggregate(dump["chunks"])
    view = TimeWaitView(groups)
    tw = {r["sport"] for r in dump["records"] if 40000 <= r["sport"] <= 40999}
    pairs = {(p >> 8, p & 0xFF) for p in (40990, 40991, min(tw))}  # one already in TIME_WAIT
    want = tw | {40990, 40991}
    assert view.ports_in_use((), pairs) == len(want)
    assert view.ports_in_use([40992, 7000], pairs) == len(want | {40992})  # 7000: a listener's
    assert view.ports_in_use([40990], pairs) == len(want)
    other = {(40993 >> 8, 40993 & 0xFF), (41500 >> 8, 41500 & 0xFF)}  # 41500: out of range
    assert view.ports_in_use((), other) == len(tw | {40993})
