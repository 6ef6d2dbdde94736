"""`socklife doctor`: findings on a namespace made risky on purpose."""

import json
import os
import socket

import pytest
from sockets_util import nonblocking_connects

from harness.cli import main
from harness.kernel.netns import entered


@pytest.mark.root
def test_doctor_finds_the_full_listener_and_the_small_range(netns, capsys):
    sysctls = {"net.ipv4.ip_local_port_range": "40000 40599", "net.ipv4.tcp_tw_reuse": "0"}
    with netns(sysctls) as ns:
        with entered(ns):
            lst = socket.create_server(("127.0.0.1", 7003), backlog=1)
            clients = nonblocking_connects(("127.0.0.1", 7003), 5)
        try:
            rc = main(["doctor", "--netns", ns, "--json", "--target", "10.9.9.9:443"])
        finally:
            for c in clients:
                c.close()
            lst.close()
    assert rc == 0
    findings = {f["id"]: f for f in json.loads(capsys.readouterr().out)}
    assert "600 usable ports" in findings["port-range"]["message"]
    assert "at most 10 new connections/s" in findings["port-range"]["message"]
    assert findings["tw-reuse"]["severity"] == "warning"
    full = findings["listener-full"]
    assert full["severity"] == "critical"
    assert f"pid {os.getpid()}" in full["message"] and "127.0.0.1:7003" in full["message"]
    assert "at most 10 short connections/s" in findings["target-rate"]["message"]


def test_doctor_text_and_bad_target(capsys):
    assert main(["doctor", "--target", "127.0.0.1:80"]) == 0
    out = capsys.readouterr().out
    assert "usable ports" in out and "fix:" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    assert main(["doctor", "--target", "nohost"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "HOST:PORT" in err
