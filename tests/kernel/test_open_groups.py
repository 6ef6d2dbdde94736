"""OpenGroups (harness.kernel.open_groups) on the recorded moment ``busy``: its column path
and its message-by-message path give what decoding every socket gives."""

from collections import Counter

import pytest
from replay import ReplayReader, _messages

from harness.kernel import inet_diag as wire
from harness.kernel.open_groups import OpenGroups
from harness.observe import snapshot
from harness.observe.ports import split_by_destination
from harness.observe.sampler import OPEN_NOT_LISTENING

RANGE = (32768, 60999)  # the moment's ip_local_port_range


@pytest.fixture(scope="module")
def reader() -> ReplayReader:
    return ReplayReader("busy")


def _reference(records, listeners):
    """What the sampler took from decoded records before OpenGroups."""
    listening = {r.sport for r in listeners}
    est = [r for r in records if r.state == "ESTABLISHED"]
    client = [r for r in est if RANGE[0] <= r.sport <= RANGE[1] and r.sport not in listening]
    open_by, _tw, _n = split_by_destination([*listeners, *est],
                                            {"ip_local_port_range": list(RANGE)})
    return (Counter(r.state_code for r in records), open_by,
            {(r.sport >> 8, r.sport & 0xFF) for r in client},
            [r for r in records if r.state != "ESTABLISHED"])


def _grouped(chunks, listening) -> OpenGroups:
    groups = OpenGroups(listening, RANGE)
    for chunk in chunks:
        groups.add_chunk(chunk + bytes(1 << 16), len(chunk), wire.ChunkResult())
    return groups


def _chunks(reader, per_chunk: int | None) -> list[bytes]:
    """The replayed reply to the sampler's open-socket request, as it comes (buffers of
    32 KiB) or re-cut ``per_chunk`` messages a buffer."""
    got = []
    reader.scan(lambda buf, n, result: got.append(bytes(buf[:n])), OPEN_NOT_LISTENING)
    if per_chunk is None:
        return got
    messages = _messages(got)  # each socket's whole message (replay's own cut)
    return [b"".join(messages[i:i + per_chunk]) for i in range(0, len(messages), per_chunk)]


@pytest.mark.parametrize("per_chunk", [None, 1, 7], ids=["columns", "one-a-buffer", "ragged"])
def test_groups_equal_the_decoded_sockets(reader, per_chunk):
    records = [r for r in reader.records() if r.state not in ("TIME_WAIT", "LISTEN")]
    listeners = [r for r in reader.records() if r.state == "LISTEN"]
    listening = {r.sport for r in listeners}
    assert 40000 in listening  # a listener inside the range: its sockets are no client's
    codes, open_by, ports, decoded = _reference(records, listeners)
    groups = _grouped(_chunks(reader, per_chunk), listening)
    assert {c: n for c, n in enumerate(groups.codes) if n} == dict(codes)
    assert groups.open_by_remote() == open_by
    assert open_by == {"127.0.0.1:7100": 40, "[::1]:40000": 20, "127.0.0.1:7101": 1}
    assert groups.ports == ports and len(ports) == 61  # the port-5000 client is left out
    # every socket but ESTABLISHED, in dump order; a CLOSE_WAIT one with its cgroup id
    # (its row names the cgroup), the others without
    assert [tuple(r)[:len(d)] for r, d in zip(groups.records, decoded, strict=True)] == [
        tuple(d) for d in decoded]
    assert [r.state for r in groups.records if r.cgroup_id is not None] == [
        r.state for r in decoded if r.state == "CLOSE_WAIT"]


def test_the_column_path_takes_the_runs_between_shorter_messages(reader, monkeypatch):
    """Request sockets and FIN_WAIT2 minisockets are shorter than full sockets: the runs
    of full ones between them still go through the columns."""
    columns = []
    real = OpenGroups._columns
    monkeypatch.setattr(OpenGroups, "_columns", lambda self, view, start, end, stride, r:
                        columns.append((end - start) // stride) or
                        real(self, view, start, end, stride, r))
    _grouped(_chunks(reader, None), {7100, 7101, 40000})
    assert sum(columns) >= 100 and len(columns) >= 2  # of the 129 open sockets


def test_a_listener_not_known_counts_its_sockets_as_clients_in_both_paths(reader):
    """Without [::1]:40000 among the listeners, its 20 server-side sockets count as
    clients of their remotes (what the sampler's LISTEN dump first prevents)."""
    listening = {7100, 7101}
    groups = _grouped(_chunks(reader, None), listening)
    ragged = _grouped(_chunks(reader, 1), listening)
    assert groups.open_by_remote() == ragged.open_by_remote()
    assert sum(groups.open_by_remote().values()) == 61 + 20


def test_the_sample_matches_ss(reader):
    s = snapshot.take(reader=reader)
    seen = Counter(line.split()[0] for line in
                   (reader.dir / "ss-tane.txt").read_text().splitlines()[1:])
    assert s["states"]["ESTABLISHED"] == seen["ESTAB"] == 124
    assert s["states"]["SYN_SENT"] == seen["SYN-SENT"]
    assert s["states"]["CLOSE_WAIT"] == seen["CLOSE-WAIT"] == 2
    assert s["states"]["LISTEN"] == seen["LISTEN"] == 3
    dests = {d["remote"]: d for d in s["ephemeral"]["by_destination"]}
    # 40 ESTABLISHED and the 2 FIN_WAIT2 of the clients that closed, 20 to [::1]:40000,
    # 127.0.0.1:7101's one accepted client and its 3 SYN_SENT
    assert dests["127.0.0.1:7100"]["open"] == 42
    assert dests["[::1]:40000"]["open"] == 20
    assert dests["127.0.0.1:7101"]["open"] == 4
    assert s["ephemeral"]["in_use"] == 42 + 20 + 4  # the port-5000 client is outside


def test_a_walk_without_established_borrows_the_last_grouping_whole(reader):
    """The sampler's walk that leaves the ESTABLISHED sockets in the kernel takes the
    last full walk's grouping: the same destinations and ports; what a caller adds to
    the returned counts is not kept."""
    listening = {r.sport for r in reader.records() if r.state == "LISTEN"}
    full = _grouped(_chunks(reader, None), listening)
    rest = OpenGroups(listening, RANGE)
    rest.borrow_grouping(full)
    assert rest.open_by_remote() == full.open_by_remote() and rest.ports is full.ports
    mine = rest.open_by_remote()
    mine["10.0.0.1:80"] += 5
    assert "10.0.0.1:80" not in rest.open_by_remote()
    assert "10.0.0.1:80" not in full.open_by_remote()
