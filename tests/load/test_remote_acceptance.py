"""Issue 18's acceptance, end to end with the real `socklife exporter` (root: two lab
hosts). A server that never closes and its exporter (with a token file) in one host,
Locust's short_tcp in another polling it as ``server``: exit 3, the CHECK FAILED line
names server, the CSV has its rows, the web UI tab (headless Chromium, run inside the
Locust host) shows it. Without the token: 401, one clear line, remote_unreachable.

Needs the exporter's sample endpoint (/api/v1/sample, --token-file: issue 18 part 1);
skipped with that reason where the exporter has none."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import tempfile
import time

import pytest
from browser import CHROMIUM, FLAGS, HAVE_CHROMIUM
from load_util import LOCUSTFILES, finish, free_port
from netns_util import ip

from harness.sockets import Server

pytestmark = pytest.mark.root
SERVER_IP, CLIENT_IP, PORT, EXPORTER = "10.233.18.1", "10.233.18.2", 7418, 9464
TOKEN = "acceptance-token-0123456789"


def exporter_has_sample_api() -> bool:
    done = subprocess.run([sys.executable, "-m", "harness", "exporter", "--help"],
                          capture_output=True, text=True)
    return "--token-file" in done.stdout


needs_api = pytest.mark.skipif(not exporter_has_sample_api(),
                               reason="needs socklife exporter's /api/v1/sample and "
                                      "--token-file (issue 18 part 1, branch exporter)")


@pytest.fixture
def two_hosts(netns):
    """(server host, Locust host): two namespaces joined by a veth pair."""
    with netns() as srv, netns() as load:
        ip("-n", srv, "link", "add", "up0", "type", "veth", "peer", "name", "up0",
           "netns", load)
        for ns, addr in ((srv, SERVER_IP), (load, CLIENT_IP)):
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "up0")
            ip("-n", ns, "link", "set", "up0", "up")
        yield srv, load


@pytest.fixture
def exporter(two_hosts, tmp_path):
    """The real exporter in the server host: sampling the server's port, with a token."""
    srv, load = two_hosts
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    proc = subprocess.Popen(["ip", "netns", "exec", srv, sys.executable, "-m", "harness",
                             "exporter", "--listen", f"{SERVER_IP}:{EXPORTER}",
                             "--token-file", str(token), "--port", str(PORT),
                             "--interval", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_listening(load, SERVER_IP, EXPORTER, proc)
        yield f"http://{SERVER_IP}:{EXPORTER}", token
    finally:
        proc.terminate()
        finish(proc, timeout=20)


def wait_listening(ns: str, host: str, port: int, proc, timeout: float = 30) -> None:
    code = ("import socket, sys, time\n"
            f"end = time.monotonic() + {timeout}\n"
            "while time.monotonic() < end:\n"
            "    try:\n"
            f"        socket.create_connection(({host!r}, {port}), timeout=1).close()\n"
            "        sys.exit(0)\n"
            "    except OSError:\n"
            "        time.sleep(0.2)\n"
            "sys.exit(1)\n")
    done = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", code])
    assert done.returncode == 0, f"the exporter never listened: {proc.poll()}"


def locust_in(ns: str, *args: str, cwd) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-m", "locust",
                             "-f", f"{LOCUSTFILES}/short_tcp.py", "--only-summary",
                             "--host", f"tcp://{SERVER_IP}:{PORT}", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def dump_dom_in(ns: str, url: str, budget_ms: int) -> str:
    with tempfile.TemporaryDirectory(prefix="sl-chromium-") as profile:
        done = subprocess.run(["ip", "netns", "exec", ns, CHROMIUM, *FLAGS,
                               f"--user-data-dir={profile}",
                               f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=120)
    return done.stdout


@needs_api
@pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs chromium")
def test_the_server_under_test_fails_the_run_by_name(two_hosts, exporter, tmp_path):
    srv, load = two_hosts
    url, token = exporter
    web = free_port()
    with Server(behavior="never-close", host=SERVER_IP, port=PORT, netns=srv):
        proc = locust_in(load, "-u", "5", "-r", "5", "-t", "15s", "--autostart",
                         "--autoquit", "0", "--web-host", "127.0.0.1", "--web-port",
                         str(web), "--socklife-remote", f"server={url}",
                         "--socklife-remote-token-file", str(token),
                         "--socklife-max", "server:CLOSE_WAIT=0", "--csv", "acc",
                         cwd=tmp_path)
        try:
            time.sleep(6)
            dom = ""
            for budget_ms in (4000, 8000, 12000):  # a loaded machine renders it later
                dom = dump_dom_in(load, f"http://127.0.0.1:{web}/?tab=tcp-states", budget_ms)
                if ">server<" in dom and "socklife-line" in dom:
                    break
        finally:
            code, out = finish(proc, timeout=90)
    assert code == 3, out
    (failed,) = [line for line in out.splitlines() if line.startswith("CHECK FAILED")]
    assert re.fullmatch(r"CHECK FAILED: server CLOSE_WAIT=0 observed [1-9]\d*", failed), out
    with open(tmp_path / "acc_tcp.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["host"] == "server"]
    assert len(rows) >= 5 and max(int(r["CLOSE_WAIT"]) for r in rows) > 0
    assert {r["LISTEN"] for r in rows} == {"1"}  # the exporter sees the server's port only
    # the tab: a row for server (its CLOSE_WAIT), the chart offers it
    body = dom[dom.index("Port headroom"):]
    cells = [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
             for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]
    server = [c for c in cells if c and c[0] == "server" and c[1] == ""]
    assert server and int(server[0][4 + 7]) > 0, cells  # Samples, then 9 states: CLOSE_WAIT
    assert ">server</option>" in dom


@needs_api
def test_without_the_token_the_remote_is_a_clear_401(two_hosts, exporter, tmp_path):
    srv, load = two_hosts
    url, _token = exporter
    with Server(behavior="never-close", host=SERVER_IP, port=PORT, netns=srv):
        proc = locust_in(load, "--headless", "-u", "2", "-r", "2", "-t", "5s",
                         "--socklife-remote", f"server={url}",
                         "--socklife-max", "server:CLOSE_WAIT=0", cwd=tmp_path)
        code, out = finish(proc, timeout=90)
    said = [line for line in out.splitlines() if "remote server" in line]
    assert len(said) == 1 and "HTTP 401 unauthorized" in said[0], out
    assert "Traceback" not in out and "remote_unreachable" in out
    assert code == 3
    assert "CHECK FAILED: server CLOSE_WAIT=0 observed nothing (no sample from server)" in out
