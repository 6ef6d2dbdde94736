"""`socklife doctor`: findings over a short observation of a namespace made risky on
purpose, and how its settings stand."""

import json
import os
import socket

import pytest
from sockets_util import nonblocking_connects

from harness.cli import main
from harness.kernel.netns import entered
from harness.schema.records import DoctorReport
from harness.schema.validate import validate


@pytest.mark.root
def test_doctor_finds_the_full_listener_and_the_small_range(netns, capsys):
    sysctls = {"net.ipv4.ip_local_port_range": "40000 40599", "net.ipv4.tcp_tw_reuse": "0"}
    with netns(sysctls) as ns:
        with entered(ns):
            lst = socket.create_server(("127.0.0.1", 7003), backlog=1)
            clients = nonblocking_connects(("127.0.0.1", 7003), 5)
        try:
            rc = main(["doctor", "--netns", ns, "--json", "--duration", "1",
                       "--target", "10.9.9.9:443"])
        finally:
            for c in clients:
                c.close()
            lst.close()
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    validate(doc, DoctorReport)
    found = {f["id"]: f for f in doc["findings"]}
    assert doc["findings"][0]["id"] == "accept_queue_overflow"  # critical first
    assert "600 usable ports" in found["port_range"]["summary"]
    assert "at most 10 new connections/s" in found["port_range"]["summary"]
    reuse = found["tw_reuse"]
    assert reuse["severity"] == "info" and "tcp_tw_reuse=0" in reuse["summary"]
    full = found["accept_queue_overflow"]
    assert full["severity"] == "critical" and full["subject"] == "127.0.0.1:7003"
    assert f"/{os.getpid()})" in full["summary"] and "backlog 1 + 1" in full["summary"]
    assert "at most 10 short connections/s" in found["target_rate"]["summary"]


def test_doctor_text_and_bad_input(capsys):
    assert main(["doctor", "--target", "127.0.0.1:80", "--duration", "1"]) == 0
    out = capsys.readouterr().out
    assert "samples over" in out.splitlines()[0] and "findings: " in out.splitlines()[1]
    assert "usable ports" in out and "fix:" in out and "target_rate  127.0.0.1:80" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    for args, says in ((["--target", "nohost"], "HOST:PORT"),
                       (["--duration", "0.5"], "--duration")):
        assert main(["doctor", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err
