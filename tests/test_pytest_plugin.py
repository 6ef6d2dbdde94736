"""The pytest plugin, run through pytester: a leaky function fails, a clean one passes."""

from __future__ import annotations

import socket

import pytest

pytest_plugins = ["pytester"]

HELPERS = """
import socket, pytest
PORT = {port}

def serve_and_connect(close_server):
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", PORT))
    lst.listen(4)
    c = socket.create_connection(lst.getsockname())
    s, _ = lst.accept()
    c.close()                      # the client closes
    if close_server:
        s.recv(1)
        s.close()
    lst.close()
    return s
KEEP = []
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def run_inner(pytester):
    """Inner tests look only at one free port, so other work on the machine can't count."""
    def run(body: str):
        pytester.makepyfile(HELPERS.format(port=free_port()) + body)
        return pytester.runpytest_inprocess("-q",  # the plugin loads by its entry point
                                            "-p", "no:cacheprovider")

    return run


def test_leaky_function_fails_under_the_marker_naming_the_socket(run_inner):
    result = run_inner("""
@pytest.mark.tcp_budget(close_wait=0, ports=[PORT])
def test_leaky():
    KEEP.append(serve_and_connect(close_server=False))   # never closed: CLOSE_WAIT
""")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "1 new CLOSE_WAIT socket(s), budget 0" in out
    assert "CLOSE_WAIT 127.0.0.1:" in out and "-> 127.0.0.1:" in out and "age <= " in out
    assert "python" in out  # the owning process is named


def test_clean_function_passes_under_the_marker(run_inner):
    result = run_inner("""
@pytest.mark.tcp_budget(close_wait=0, time_wait=5, ports=[PORT])
def test_clean():
    serve_and_connect(close_server=True)
""")
    result.assert_outcomes(passed=1)


def test_fixture_assertions(run_inner):
    result = run_inner("""
def test_leak(tcp_states):
    tcp_states.restrict(ports=[PORT])
    KEEP.append(serve_and_connect(close_server=False))
    tcp_states.no_new_close_wait()

def test_time_wait(tcp_states):
    tcp_states.restrict(ports=[PORT])
    for _ in range(3):
        serve_and_connect(close_server=True)   # client closes first: its TIME_WAIT
    tcp_states.max_time_wait(3)
    with pytest.raises(AssertionError, match="3 new TIME_WAIT sockets, budget 2"):
        tcp_states.max_time_wait(2)
    tcp_states.no_listen_overflows()
""")
    result.assert_outcomes(passed=1, failed=1)
    assert "1 new CLOSE_WAIT socket(s)" in result.stdout.str()


def test_unused_plugin_changes_nothing(run_inner):
    result = run_inner("""
def test_plain():
    KEEP.append(serve_and_connect(close_server=False))
""")
    result.assert_outcomes(passed=1)


def test_bad_marker_argument_is_a_usage_error(run_inner):
    result = run_inner("""
@pytest.mark.tcp_budget(closewait=0)
def test_typo():
    pass
""")
    output = result.stdout.str() + result.stderr.str()
    assert "tcp_budget: unknown argument(s) ['closewait']" in output
