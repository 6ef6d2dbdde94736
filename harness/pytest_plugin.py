"""pytest plugin: fail a test whose code leaks TCP sockets (entry point ``pytest11``).

Inactive unless used: it registers one marker and one fixture, and does nothing for a
test that uses neither. In a test::

    def test_handler(tcp_states):
        tcp_states.restrict(ports=[8080])     # optional: only this port's sockets
        run_my_handler()
        tcp_states.no_new_close_wait()        # AssertionError naming each leaked socket
        tcp_states.max_time_wait(100)
        tcp_states.no_listen_overflows()

    @pytest.mark.tcp_budget(close_wait=0, time_wait=100, ports=[8080])
    def test_client(): ...

"New" means a socket (by its kernel cookie) that did not exist when the test started.
``ports`` keeps the look to sockets with that local or remote port, so other work on
the machine does not count; ``netns`` names a namespace under /run/netns (root).
"""

from __future__ import annotations

import time

import pytest

BUDGETS = ("close_wait", "time_wait", "listen_overflows")
SETTLE_S = 0.2  # a socket about to be closed is given this long before it counts


class TcpStates:
    """Sockets and ListenOverflows at the start of a test, compared with now."""

    def __init__(self, ports=(), netns: str | None = None):
        self.restrict(ports, netns)

    def restrict(self, ports=(), netns: str | None = None) -> TcpStates:
        """Look only at ``ports`` (local or remote) in ``netns``, from now on."""
        self.ports, self.netns = tuple(ports), netns
        self.started = time.monotonic()
        self._before = {r.cookie for r in self._dump()}
        self._overflows = self._listen_overflows()
        return self

    def _dump(self, states=None):
        from harness.kernel import sockdiag

        return sockdiag.dump(self.netns, states=states, ports=self.ports)

    def _listen_overflows(self) -> int:
        from harness.kernel.netns import entered
        from harness.kernel.netstat import read_tcp_counters

        with entered(self.netns):
            return read_tcp_counters().get("ListenOverflows", 0)

    def new(self, state: str) -> list:
        """Sockets in ``state`` now that were not there when the test began."""
        return [r for r in self._dump([state]) if r.cookie not in self._before]

    def describe(self, records) -> str:
        from harness.kernel.owners import socket_owners

        owners = socket_owners([r.inode for r in records])
        age = time.monotonic() - self.started
        lines = []
        for r in records:
            owner = owners.get(r.inode)
            who = f" pid {owner.pid} ({owner.process}) fd {owner.fd}" if owner else ""
            lines.append(f"  {r.state} {r.local} -> {r.remote} age <= {age:.1f} s{who}")
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
                                 + self.describe(found[:10]))

    def no_listen_overflows(self) -> None:
        grown = self._listen_overflows() - self._overflows
        if grown:
            raise AssertionError(f"ListenOverflows grew by {grown} during the test "
                                 "(a listener's accept queue was full)")

    def check_budget(self, close_wait=None, time_wait=None, listen_overflows=None) -> None:
        if close_wait is not None:
            self.max_close_wait(close_wait)
        if time_wait is not None:
            self.max_time_wait(time_wait)
        if listen_overflows is not None:
            grown = self._listen_overflows() - self._overflows
            if grown > listen_overflows:
                raise AssertionError(f"ListenOverflows grew by {grown}, budget "
                                     f"{listen_overflows}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "tcp_budget(close_wait=None, time_wait=None, listen_overflows=None, ports=(), "
        "netns=None): fail the test when it leaves more new sockets in those states "
        "(socklife)")


@pytest.fixture
def tcp_states():
    """Sockets at the start of the test; assertions compare them with the end."""
    return TcpStates()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    marker = item.get_closest_marker("tcp_budget")
    if marker is None:
        return (yield)
    unknown = set(marker.kwargs) - {*BUDGETS, "ports", "netns"}
    if unknown or marker.args:
        raise pytest.UsageError(f"tcp_budget: unknown argument(s) {sorted(unknown)}")
    watch = TcpStates(marker.kwargs.get("ports", ()), marker.kwargs.get("netns"))
    result = yield
    watch.check_budget(**{k: v for k, v in marker.kwargs.items() if k in BUDGETS})
    return result
