"""Lab hosts: code and commands run inside them, shapes of a lab, the SIGTERM guard."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest

from harness.kernel.netns import list_netns
from harness.lab import Lab
from harness.lab.hosts import _sigterm_to_interrupt

pytestmark = pytest.mark.root


def _links() -> list[str]:
    with open("/proc/thread-self/net/dev") as f:
        return sorted(line.split(":")[0].strip() for line in f.readlines()[2:])


def _fail():
    raise ZeroDivisionError("inside")


def test_run_and_exec_happen_inside_the_host():
    with Lab(hosts=("cli", "srv")) as lab:
        assert set(lab.hosts) == {"client", "server"}
        assert lab.client.run(_links) == ["eth0", "lo"]
        with pytest.raises(ZeroDivisionError, match="inside"):
            lab.server.run(_fail)
        gate = threading.Event()
        t = lab.server.start(gate.wait, 10)
        with pytest.raises(TimeoutError):
            t.wait(0.05)
        gate.set()
        assert t.wait(5) is True
        out = lab.client.exec(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
        assert f"inet {lab.client.addr}/24" in out


def test_single_host_has_loopback_only():
    with Lab.single() as lab:
        assert list(lab.hosts) == ["host"] and lab.host.addr is None
        assert lab.host.netns.endswith("-hos")
        assert lab.host.run(_links) == ["lo"]


def test_bad_shapes_leave_nothing():
    before = set(list_netns())
    with pytest.raises(ValueError):
        Lab(roles=("a", "b", "c"))
    with pytest.raises(ValueError):
        Lab(hosts=("cli", "client"))
    with pytest.raises(ValueError, match="does not have"):
        Lab.single(sysctls={"client": {"net.ipv4.tcp_fin_timeout": 5}}).up()
    assert set(list_netns()) <= before


def test_sigterm_guard_lasts_while_any_lab_is_open():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with Lab.single() as first:
        assert signal.getsignal(signal.SIGTERM) is _sigterm_to_interrupt
        second = Lab.single().up()
        first.down()
        assert signal.getsignal(signal.SIGTERM) is _sigterm_to_interrupt
        second.down()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


BLOCKED = """
import time
from harness.lab import Lab
with Lab() as lab:
    print(lab.client.netns, lab.server.netns, flush=True)
    lab.client.run(time.sleep, 60)   # the main thread waits in join()
"""


def test_sigterm_while_waiting_on_a_host_thread_removes_the_lab():
    proc = subprocess.Popen([sys.executable, "-c", BLOCKED], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        names = proc.stdout.readline().split()
        assert len(names) == 2 and set(names) <= set(list_netns())
        proc.terminate()
        proc.wait(10)
        assert not set(names) & set(list_netns())
        assert "KeyboardInterrupt" in proc.stderr.read()  # how SIGTERM ended it
    finally:
        proc.kill()
        proc.wait()
