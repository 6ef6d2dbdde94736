"""pytest plugin: fail a test whose code leaks TCP sockets (entry point ``pytest11``).

Inactive unless used: loading it registers one marker, one fixture and one hook that
returns at once for a test without the marker; nothing of the kernel layer is imported
until a test asks. In a test::

    def test_handler(tcp_states):
        tcp_states.restrict(ports=[8080])     # optional: only this port's sockets
        run_my_handler()
        tcp_states.no_new_close_wait()        # AssertionError naming each leaked socket
        tcp_states.max_time_wait(100)
        tcp_states.no_listen_overflows()

    @pytest.mark.tcp_budget(close_wait=0, time_wait=100, ports=[8080])
    def test_client(): ...

A socket counts when it entered the state during the test: its (kernel cookie, state)
pair was not there when the test began. A TIME_WAIT socket keeps the cookie of the
connection it was, so a connection opened before the test and closed by it counts.

By default (``scope="process"``) only the test's own sockets count, so a leak in
another process on the same machine never fails a clean test: a CLOSE_WAIT (or any
socket with an owner) counts when the test process or one of its descendants holds
it (kernel.proctree; their fds only are read). A TIME_WAIT socket has no owner (the
kernel keeps a minisocket): it counts unless its connection belonged to a process
outside the test when the test began. ``scope="namespace"`` counts every socket of the
namespace, as before. ``ports`` keeps the look to sockets with that local or remote
port; ``netns`` names a namespace (a name under /run/netns, a path, pid:N; root).
ListenOverflows is the namespace's counter: neither ``scope`` nor ``ports`` narrows it.
"""

from __future__ import annotations

import os
import time

import pytest

BUDGETS = ("close_wait", "time_wait", "listen_overflows")
SCOPES = ("process", "namespace")
SETTLE_S = 0.2  # a socket about to be closed is given this long before it counts
SHOWN = 10  # sockets named in a failure message


class TcpStates:
    """Sockets and ListenOverflows at the start of a test, compared with now."""

    def __init__(self, ports=(), netns: str | None = None, scope: str = "process"):
        self.root_pid = os.getpid()  # the test process: its tree is "the test's own"
        self.restrict(ports, netns, scope)

    def restrict(self, ports=(), netns: str | None = None,
                 scope: str = "process") -> TcpStates:
        """Look only at ``ports`` (local or remote) in ``netns``, the test's own sockets
        (``scope="process"``) or all (``"namespace"``), starting over now."""
        if scope not in SCOPES:
            raise ValueError(f"scope={scope!r}: 'process' or 'namespace'")
        self.ports, self.netns, self.scope = tuple(ports), netns, scope
        before = self._dump()
        self._before = {(r.cookie, r.state) for r in before}
        self._others = self._others_cookies(before) if scope == "process" else set()
        self._overflows = self._listen_overflows()
        self.started = time.monotonic()  # what the test makes is younger than this
        return self

    def _tree(self) -> set[int]:
        from harness.kernel.proctree import process_tree

        return process_tree(self.root_pid)

    def _others_cookies(self, records) -> set[int]:
        """Cookies of the connections held outside the test's process tree now: if one
        ends in TIME_WAIT during the test, it is not the test's."""
        from harness.kernel.owners import socket_owners

        held = [r for r in records if r.inode and r.state not in ("LISTEN", "TIME_WAIT")]
        if not held:
            return set()
        owners = socket_owners([r.inode for r in held], netns=self.netns)
        tree = self._tree()
        return {r.cookie for r in held
                if r.inode in owners and owners[r.inode].pid not in tree}

    def _dump(self, states=None):
        from harness.kernel import sockdiag

        return sockdiag.dump(self.netns, states=states, ports=self.ports)

    def _listen_overflows(self) -> int:
        from harness.kernel.netns import entered
        from harness.kernel.netstat import read_tcp_counters

        with entered(self.netns):
            return read_tcp_counters().get("ListenOverflows", 0)

    def new(self, state: str) -> list:
        """Sockets in ``state`` now that entered it since the test began (the test's
        own, in process scope)."""
        found = [r for r in self._dump([state]) if (r.cookie, state) not in self._before]
        if self.scope == "namespace" or not found:
            return found
        if state == "TIME_WAIT":
            return [r for r in found if r.cookie not in self._others]
        from harness.kernel.owners import owned_by

        mine = owned_by(self._tree())
        return [r for r in found if r.inode in mine]

    def describe(self, records) -> str:
        """One line per socket: state, local -> remote, age bound, owning process."""
        from harness.kernel.owners import socket_owners

        shown = records[:SHOWN]
        owners = socket_owners([r.inode for r in shown if r.inode])
        age = time.monotonic() - self.started
        lines = []
        for r in shown:
            owner = owners.get(r.inode) if r.inode else None
            who = f" pid {owner.pid} ({owner.process}) fd {owner.fd}" if owner else ""
            lines.append(f"  {r.state} {r.local} -> {r.remote} age <= {age:.1f} s{who}")
        if len(records) > SHOWN:
            lines.append(f"  ... and {len(records) - SHOWN} more")
        return "\n".join(lines)

    def _settled(self, state: str, limit: int) -> list:
        found = self.new(state)
        if len(found) > limit:
            time.sleep(SETTLE_S)
            found = self.new(state)
        return found

    def no_new_close_wait(self) -> None:
        self.max_close_wait(0)

    def max_close_wait(self, n: int) -> None:
        found = self._settled("CLOSE_WAIT", n)
        if len(found) > n:
            raise AssertionError(f"{len(found)} new CLOSE_WAIT socket(s), budget {n} "
                                 f"(the application never closed them):\n"
                                 + self.describe(found))

    def max_time_wait(self, n: int) -> None:
        found = self.new("TIME_WAIT")
        if len(found) > n:
            raise AssertionError(f"{len(found)} new TIME_WAIT sockets, budget {n}:\n"
                                 + self.describe(found))

    def max_listen_overflows(self, n: int) -> None:
        grown = self._listen_overflows() - self._overflows
        if grown > n:
            raise AssertionError(f"ListenOverflows grew by {grown} during the test, budget "
                                 f"{n} (a listener's accept queue was full)")

    def no_listen_overflows(self) -> None:
        self.max_listen_overflows(0)

    def check_budget(self, close_wait=None, time_wait=None, listen_overflows=None) -> None:
        if close_wait is not None:
            self.max_close_wait(close_wait)
        if time_wait is not None:
            self.max_time_wait(time_wait)
        if listen_overflows is not None:
            self.max_listen_overflows(listen_overflows)


def _budget_problem(marker) -> str | None:
    """What is wrong with a tcp_budget marker's arguments, or None."""
    kwargs = marker.kwargs
    unknown = sorted(set(kwargs) - {*BUDGETS, "ports", "netns", "scope"})
    if marker.args or unknown:
        return f"unknown argument(s) {unknown or list(marker.args)}"
    for name in BUDGETS:
        value = kwargs.get(name)
        if value is not None and (not isinstance(value, int) or value < 0):
            return f"{name}={value!r}: a count of sockets (0 or more) or None"
    ports = kwargs.get("ports", ())
    if isinstance(ports, int | str) or not all(
            isinstance(p, int) and 0 < p < 65536 for p in ports):
        return f"ports={ports!r}: a list of port numbers"
    if kwargs.get("scope", "process") not in SCOPES:
        return f"scope={kwargs['scope']!r}: 'process' (the test's own sockets) or 'namespace'"
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "tcp_budget(close_wait=None, time_wait=None, listen_overflows=None, ports=(), "
        "netns=None, scope='process'): fail the test when it leaves more new sockets in "
        "those states; scope='process' counts the test's own (its process tree), "
        "'namespace' every socket (socklife)")


@pytest.fixture
def tcp_states():
    """Sockets at the start of the test; assertions compare them with the end."""
    return TcpStates()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("tcp_budget")
    if marker is None:
        return (yield)
    from harness.kernel.errors import KernelError

    problem = _budget_problem(marker)
    if problem is None:
        try:
            watch = TcpStates(marker.kwargs.get("ports", ()), marker.kwargs.get("netns"),
                              marker.kwargs.get("scope", "process"))
        except KernelError as exc:
            problem = str(exc)
    if problem:
        pytest.fail(f"tcp_budget: {problem}", pytrace=False)
    result = yield
    try:
        watch.check_budget(**{k: v for k, v in marker.kwargs.items() if k in BUDGETS})
    except (AssertionError, KernelError) as exc:
        problem = str(exc)
    if problem:
        pytest.fail(f"tcp_budget: {problem}", pytrace=False)
    return result
