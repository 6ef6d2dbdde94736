"""The pytest plugin, run through pytester: a leaky function fails, a clean one passes.

Inner runs look at one free port each (other work on this machine opens sockets at the
same time), or at a namespace of their own for ListenOverflows, a namespace counter.
"""

from __future__ import annotations

import importlib.metadata
import re
import socket
import subprocess
import sys
import time

import pytest

from harness.kernel.netns import entered
from harness.pytest_plugin import TcpStates

pytest_plugins = ["pytester"]

# The plugin loads by its entry point once socklife is installed; -p loads it before.
INSTALLED = any(ep.value == "harness.pytest_plugin"
                for ep in importlib.metadata.entry_points(group="pytest11"))
LOAD = () if INSTALLED else ("-p", "harness.pytest_plugin")
# Plugins of other packages cost seconds per inner run and take no part here.
QUIET = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:locust",
         "-p", "no:benchmark")

HELPERS = """
import socket, pytest
from harness.kernel.netns import entered
PORT = {port}
NS = {netns!r}

def serve_and_connect(close_server, n=1):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", PORT))
    lst.listen(4)
    kept = []
    for _ in range(n):
        c = socket.create_connection(lst.getsockname())
        s, _ = lst.accept()
        c.close()                      # the client closes
        if close_server:
            s.recv(1)
            s.close()
        else:
            print("LEAKED", "%s:%d -> %s:%d" % (*s.getsockname(), *s.getpeername()))
            kept.append(s)
    lst.close()
    return kept
KEEP = []
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def run_inner(pytester):
    def run(body: str, netns: str | None = None):
        pytester.makepyfile(HELPERS.format(port=free_port(), netns=netns) + body)
        return pytester.runpytest_inprocess("-q", *LOAD, *QUIET)

    return run


def test_leaky_function_fails_under_the_marker_naming_each_socket(run_inner):
    result = run_inner("""
@pytest.mark.tcp_budget(close_wait=0, ports=[PORT])
def test_leaky():
    KEEP.extend(serve_and_connect(close_server=False, n=2))   # never closed: CLOSE_WAIT
""")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "tcp_budget: 2 new CLOSE_WAIT socket(s), budget 0" in out
    leaked = re.findall(r"^LEAKED (.*)$", out, re.M)
    assert len(leaked) == 2
    for pair in leaked:  # local -> remote, an age in seconds, the owning process
        assert re.search(rf"CLOSE_WAIT {re.escape(pair)} age <= \d+\.\d s pid \d+ "
                         rf"\(python[\d.]*\) fd \d+", out), (pair, out)
    assert "pytest_plugin.py" not in out  # the message, not the plugin's traceback


def test_clean_function_passes_under_the_marker(run_inner):
    result = run_inner("""
@pytest.mark.tcp_budget(close_wait=0, time_wait=5, ports=[PORT])
def test_clean():
    serve_and_connect(close_server=True, n=2)
""")
    result.assert_outcomes(passed=1)


def test_fixture_assertions(run_inner):
    result = run_inner("""
def test_leak(tcp_states):
    tcp_states.restrict(ports=[PORT])
    KEEP.extend(serve_and_connect(close_server=False))
    tcp_states.no_new_close_wait()

def test_time_wait(tcp_states):
    tcp_states.restrict(ports=[PORT])
    serve_and_connect(close_server=True, n=3)   # client closes first: its TIME_WAIT
    tcp_states.max_time_wait(3)
    with pytest.raises(AssertionError, match="3 new TIME_WAIT sockets, budget 2"):
        tcp_states.max_time_wait(2)
    tcp_states.no_new_close_wait()
""")
    result.assert_outcomes(passed=1, failed=1)
    assert "1 new CLOSE_WAIT socket(s), budget 0" in result.stdout.str()


@pytest.mark.live
def test_new_means_entered_the_state_during_the_test():
    """A connection opened before and closed during the test leaves a TIME_WAIT that
    counts (it keeps its cookie); a CLOSE_WAIT already there before does not."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    port = lst.getsockname()[1]
    opened = socket.create_connection(("127.0.0.1", port))
    opened_peer, _ = lst.accept()
    stale = socket.create_connection(("127.0.0.1", port))
    stale_peer, _ = lst.accept()
    stale.close()  # stale_peer: CLOSE_WAIT before the "test"
    client = f"127.0.0.1:{opened.getsockname()[1]}"
    try:
        watch = TcpStates(ports=[port])
        opened.close()  # during the "test": FIN_WAIT2, then TIME_WAIT once the peer closes
        opened_peer.close()
        deadline = time.monotonic() + 10
        while not watch.new("TIME_WAIT") and time.monotonic() < deadline:
            time.sleep(0.01)
        (tw,) = watch.new("TIME_WAIT")
        assert (tw.local, tw.remote) == (client, f"127.0.0.1:{port}")
        assert watch.new("CLOSE_WAIT") == []
        watch.no_new_close_wait()
    finally:
        for s in (opened, opened_peer, stale, stale_peer, lst):
            s.close()


def _overflow(port: int) -> list:
    """Fill a backlog-0 listener in the current namespace: SYNs beyond it overflow."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", port))
    lst.listen(0)
    clients = [lst]
    for _ in range(4):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        clients.append(c)
    return clients


@pytest.mark.root
def test_listen_overflows_in_a_namespace_of_its_own(netns):
    from harness.kernel.netstat import read_tcp_counters

    with netns() as ns:
        watch = TcpStates(netns=ns)
        watch.no_listen_overflows()
        with entered(ns):
            held = _overflow(7000)
            deadline = time.monotonic() + 10
            while (read_tcp_counters().get("ListenOverflows", 0) == 0
                   and time.monotonic() < deadline):
                time.sleep(0.01)
        try:
            with pytest.raises(AssertionError, match=r"ListenOverflows grew by [1-9]"):
                watch.no_listen_overflows()
            watch.max_listen_overflows(10_000)
        finally:
            for s in held:
                s.close()


@pytest.mark.root
def test_marker_in_a_namespace_fails_on_listen_overflows(run_inner, netns):
    with netns() as ns:
        result = run_inner("""
import time
from harness.kernel.netstat import read_tcp_counters

@pytest.mark.tcp_budget(listen_overflows=0, netns=NS)
def test_overflowing():
    with entered(NS):
        lst = socket.socket()
        lst.bind(("127.0.0.1", 7000))
        lst.listen(0)
        for _ in range(4):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", 7000))
            KEEP.append(c)
        KEEP.append(lst)
        deadline = time.monotonic() + 10
        while not read_tcp_counters().get("ListenOverflows") and time.monotonic() < deadline:
            time.sleep(0.01)

@pytest.mark.tcp_budget(listen_overflows=0, close_wait=0, netns=NS)
def test_quiet():
    pass
""", netns=ns)
        result.assert_outcomes(failed=1, passed=1)
        assert "tcp_budget: ListenOverflows grew by" in result.stdout.str()


def test_unused_plugin_changes_nothing(run_inner):
    result = run_inner("""
def test_plain():
    KEEP.extend(serve_and_connect(close_server=False))
""")
    result.assert_outcomes(passed=1)


def test_loading_the_plugin_imports_nothing_of_the_kernel_layer():
    code = ("import sys, harness.pytest_plugin; "
            "print(sorted(m for m in sys.modules if m.startswith('harness.')))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == "['harness.pytest_plugin']"


@pytest.mark.parametrize("args, reason", [
    ("closewait=0", "unknown argument(s) ['closewait']"),
    ("0", "unknown argument(s) [0]"),
    ("close_wait=-1", "close_wait=-1: a count of sockets"),
    ("time_wait='lots'", "time_wait='lots': a count of sockets"),
    ("close_wait=0, ports=8080", "ports=8080: a list of port numbers"),
    ("close_wait=0, netns='sl-no-such-ns'", "no network namespace 'sl-no-such-ns'"),
])
def test_bad_marker_arguments_fail_with_one_line(run_inner, args, reason):
    result = run_inner(f"""
@pytest.mark.tcp_budget({args})
def test_typo():
    pass
""")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert f"tcp_budget: {reason}" in out
    assert "pytest_plugin.py" not in out and "During handling" not in out


BESIDE = """
import os, socket, sys, time
trigger, done = sys.argv[1], sys.argv[2]
while not os.path.exists(trigger):
    time.sleep(0.01)
lst = socket.create_server(("127.0.0.1", 0))
client = socket.create_connection(lst.getsockname())
leaked, _ = lst.accept()
client.close()  # `leaked` is never closed: CLOSE_WAIT, in a process beside the test
open(done, "w").write(str(os.getpid()))
time.sleep(60)
"""


@pytest.mark.live
@pytest.mark.parametrize("scope, outcome", [("process", "passed"), ("namespace", "failed")])
def test_a_leak_beside_the_test_fails_only_a_namespace_wide_look(run_inner, tmp_path,
                                                                 scope, outcome):
    """A process that is not the test's (started by a shell that exits at once, so it is
    no descendant of the test process) leaks a CLOSE_WAIT while the test runs: the
    test's own sockets are clean, so it passes by default and fails with
    scope='namespace'."""
    trigger, done = tmp_path / "go", tmp_path / "done"
    subprocess.run(["sh", "-c", '"$0" -c "$1" "$2" "$3" >/dev/null 2>&1 &',
                    sys.executable, BESIDE, str(trigger), str(done)], check=True)
    try:
        result = run_inner(f"""
import os, time
@pytest.mark.tcp_budget(close_wait=0, scope={scope!r})
def test_clean_beside_a_leak():
    serve_and_connect(close_server=True)
    open({str(trigger)!r}, "w").close()
    while not os.path.exists({str(done)!r}):
        time.sleep(0.01)
""")
        result.assert_outcomes(**{outcome: 1})
        if outcome == "failed":
            assert "1 new CLOSE_WAIT socket(s), budget 0" in result.stdout.str()
    finally:
        trigger.touch()  # a leaker still waiting goes on to write its pid, then is killed
        deadline = time.monotonic() + 10
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        if done.exists():
            import os
            import signal

            os.kill(int(done.read_text()), signal.SIGKILL)


def test_a_bad_scope_fails_with_one_line(run_inner):
    result = run_inner("""
@pytest.mark.tcp_budget(close_wait=0, scope="host")
def test_typo():
    pass
""")
    result.assert_outcomes(failed=1)
    assert "tcp_budget: scope='host': 'process' (the test's own sockets) or 'namespace'" in \
        result.stdout.str()
