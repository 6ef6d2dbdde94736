"""CLOSE_WAIT ages by cookie, leak threshold, owner lookups only for new sockets."""

from harness.kernel.inet_diag import SocketRecord
from harness.kernel.owners import Owner
from harness.observe.leaks import LeakTracker, OwnerCache
from harness.observe.summary import RunSummary


def row(cookie, pid=10, local="127.0.0.1:7000", remote="127.0.0.1:40000"):
    return {"local": local, "remote": remote, "pid": pid, "process": "srv", "fd": 5,
            "cookie": cookie, "age_s": None}


def test_ages_grow_from_first_sighting_and_leaks_pass_the_threshold():
    t = LeakTracker(threshold_s=2.0)
    first = [row(1)]
    block = t.update(first, 100.0)
    assert first[0]["age_s"] is None and not first[0]["leak"] and block["count"] == 0
    rows = [row(1), row(2, pid=11, remote="127.0.0.1:40001")]
    t.update(rows, 101.5)
    assert [(r["cookie"], r["age_s"]) for r in rows] == [(1, 1.5), (2, None)]
    rows = [row(2, pid=11, remote="127.0.0.1:40001"), row(1)]
    block = t.update(rows, 103.0)
    assert [(r["cookie"], r["age_s"], r["leak"]) for r in rows] == [(1, 3.0, True),
                                                                     (2, 1.5, False)]
    assert block == {"threshold_s": 2.0, "count": 1, "oldest_s": 3.0,
                     "by_process": [{"pid": 10, "process": "srv", "count": 1}]}
    run = RunSummary()
    run.add({"time": 103.0, "close_wait": rows})
    leaks = run.summary()["leaks"]
    assert leaks["count"] == 1 and leaks["oldest_s"] == 3.0
    assert leaks["sockets"] == [{"local": "127.0.0.1:7000", "remote": "127.0.0.1:40000",
                                 "pid": 10, "process": "srv", "fd": 5, "age_s": 3.0}]


def test_a_socket_that_leaves_is_forgotten():
    t = LeakTracker(threshold_s=1.0)
    t.update([row(1)], 0.0)
    t.update([], 1.0)
    again = [row(1)]
    t.update(again, 2.0)
    assert again[0]["age_s"] is None  # a new life for the cookie as far as we know


def test_owner_lookups_only_for_new_cookies():
    calls = []

    def lookup(inodes):
        calls.append(set(inodes))
        return {i: Owner(100 + i, 3, "p") for i in inodes}

    cache = OwnerCache(lookup)
    a = SocketRecord(2, "CLOSE_WAIT", inode=7, cookie=70)
    b = SocketRecord(2, "LISTEN", inode=8, cookie=80)
    assert cache.resolve([a, b]) == {7: Owner(107, 3, "p"), 8: Owner(108, 3, "p")}
    assert cache.resolve([a, b]) == {7: Owner(107, 3, "p"), 8: Owner(108, 3, "p")}
    assert calls == [{7, 8}]
    cache.resolve([a])
    c = SocketRecord(2, "LISTEN", inode=8, cookie=80)
    cache.resolve([a, c])
    assert calls == [{7, 8}, {8}]  # 80 was evicted when it left, so it is looked up again
