"""The locustfiles end to end: exit codes, CHECK FAILED lines, _tcp.csv, Locust's stats."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import pytest
from load_util import LOCUSTFILES, finish, host_table, start_locust

from harness.sockets import Server


def test_short_tcp_fails_ci_on_a_close_wait_leak_and_passes_on_a_good_server(tmp_path):
    with Server(behavior="never-close") as leaky, Server(behavior="echo") as good:
        args = ("--headless", "-u", "10", "-r", "10", "-t", "6s",
                "--socklife-max", "CLOSE_WAIT=0")
        bad_run = start_locust("short_tcp.py", *args, "--host",
                               f"tcp://127.0.0.1:{leaky.port}", "--csv", "bad", cwd=tmp_path)
        good_run = start_locust("short_tcp.py", *args, "--host",
                                f"tcp://127.0.0.1:{good.port}", "--csv", "good", cwd=tmp_path)
        bad_code, bad_out = finish(bad_run)
        good_code, good_out = finish(good_run)
    assert bad_code == 3, bad_out
    failed = [line for line in bad_out.splitlines() if line.startswith("CHECK FAILED")]
    host = next(csv.DictReader((tmp_path / "bad_tcp.csv").open()))["host"]
    assert len(failed) == 1 and failed[0].startswith(f"CHECK FAILED: {host} CLOSE_WAIT=0 "
                                                     "observed ")
    assert int(failed[0].rsplit(" ", 1)[1]) > 0
    assert good_code == 0, good_out
    assert "CHECK FAILED" not in good_out
    rows = list(csv.DictReader((tmp_path / "good_tcp.csv").open()))
    assert len(rows) >= 2  # a sample a second, and the last one at the stop
    assert all(row["users"] for row in rows) and rows[-1]["LISTEN"] == "1"
    assert max(int(row["TIME_WAIT"]) for row in rows) > 0  # the client closed first
    # Locust's own statistics carry the connect and request rows
    assert " connect " in good_out and " request " in good_out


def test_short_tcp_counts_refused_connections_by_errno(tmp_path):
    with Server() as srv:
        port = srv.port  # closed again: nothing listens there during the run
    code, out = finish(start_locust("short_tcp.py", "--headless", "-u", "2", "-r", "2",
                                    "-t", "2s", "--host", f"tcp://127.0.0.1:{port}",
                                    cwd=tmp_path))
    assert code == 1, out  # Locust's own exit code for a run with failures
    assert "ECONNREFUSED" in out


def test_short_tcp_starts_its_own_target_and_checks_time_wait(tmp_path):
    code, out = finish(start_locust("short_tcp.py", "--headless", "-u", "4", "-r", "4",
                                    "-t", "3s", "--socklife-max", "TIME_WAIT=0",
                                    "--socklife-record", "run.jsonl", cwd=tmp_path))
    assert code == 3, out
    assert re.search(r"^CHECK FAILED: \S+ TIME_WAIT=0 observed", out, re.M)
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert '"summary"' in lines[-1] and '"locust"' in lines[0]


def test_bad_socklife_argument_is_one_line_usage_error(tmp_path):
    code, out = finish(start_locust("short_tcp.py", "--headless", "--socklife-max",
                                    "BOGUS=1", cwd=tmp_path))
    assert code == 2 and "unknown name 'BOGUS'" in out and "Traceback" not in out
    locustfile = tmp_path / "short_tcp.py"  # a copy: a failed check must not cost ours
    shutil.copy(os.path.join(LOCUSTFILES, "short_tcp.py"), locustfile)
    many_ports = [a for p in range(1, 2732) for a in ("--socklife-port", str(p))]
    for bad, says in ((("--socklife-netns", "sl-nosuch"), "no network namespace 'sl-nosuch'"),
                      (("--socklife-netns", "pid:999999999"), "no process 999999999"),
                      (("--socklife-netns", "/etc/hostname"), "is not a network namespace"),
                      (("--socklife-record", "no/such/dir/run.jsonl"), "no folder"),
                      (("--socklife-record", str(locustfile)),
                       "is the same file as the locustfile"),
                      (("--socklife-record", "p_stats.csv", "--csv", "p"),
                       "is the same file as --csv (stats)"),
                      (("--socklife-record", "."), "it is a directory"),
                      (("--socklife-interval", "nan"), "'nan' is not a finite number"),
                      (many_ports, "at most 2730 different ports")):
        code, out = finish(start_locust(str(locustfile), "--headless", "-t", "2s", *bad,
                                        cwd=tmp_path))
        errors = [line for line in out.splitlines() if "socklife" in line and "error" in line]
        assert code == 2 and len(errors) == 1 and says in errors[0], out
        assert "Traceback" not in out
    assert locustfile.read_text() == (Path(LOCUSTFILES) / "short_tcp.py").read_text()


def test_a_record_that_cannot_be_written_keeps_the_load_and_exits_2(tmp_path):
    """--socklife-record onto a full device: the run goes on, the error is one line
    (said when it happens and again at the end) and the exit status is 2."""
    code, out = finish(start_locust("short_tcp.py", "--headless", "-u", "2", "-r", "2",
                                    "-t", "3s", "--socklife-record", "/dev/full",
                                    cwd=tmp_path))
    assert code == 2, out
    assert ("socklife: error: cannot write /dev/full: No space left on device; "
            "0 complete samples kept") in out
    assert "Traceback" not in out and "connect" in out  # Locust's stats were printed


def test_http_close_leaves_time_wait_keep_alive_does_not_fail(tmp_path):
    code, out = finish(start_locust("http_close_vs_keepalive.py", "--headless", "-u", "4",
                                    "-r", "4", "-t", "3s", "--csv", "http", cwd=tmp_path))
    assert code == 0, out
    assert " close " in out and " keep-alive " in out
    rows = list(csv.DictReader((tmp_path / "http_tcp.csv").open()))
    assert max(int(row["TIME_WAIT"]) for row in rows) > 0


def test_accept_overflow_fills_the_queue_and_fails_the_overflow_check(tmp_path):
    code, out = finish(start_locust("accept_overflow.py", "--headless", "-u", "30", "-r", "30",
                                    "-t", "5s", "--csv", "ovf", "--socklife-max",
                                    "listen_overflows=0", "--socklife-fail-on", "critical",
                                    "--socklife-record", "ovf.jsonl", cwd=tmp_path))
    assert code == 3, out
    assert re.search(r"^CHECK FAILED: \S+ listen_overflows=0 observed", out, re.M)
    rows = list(csv.DictReader((tmp_path / "ovf_tcp.csv").open()))
    assert max(int(row["accept_queue"]) for row in rows) >= 4  # backlog 4: full or nearly
    assert int(rows[-1]["listen_overflows"]) > int(rows[0]["listen_overflows"])
    # the findings, per host, before the host's figures; the critical one fails the run
    host = rows[0]["host"]
    lines = out.splitlines()
    head = lines.index(next(x for x in lines if x.startswith(f"socklife: {host}: findings: ")))
    figures = lines.index(next(x for x in lines if x.startswith("socklife: peaks per host")))
    assert int(host_table(out)[host][5]) > 0  # LISTEN_OVERFLOWS during the run
    assert head < figures and lines[head + 1].startswith("CRITICAL accept_queue_overflow ")
    assert any(x.startswith("CHECK FAILED: critical finding accept_queue_overflow ")
               and x.endswith(f"on {host} (--socklife-fail-on critical)") for x in lines)
    summary = json.loads((tmp_path / "ovf.jsonl").read_text().splitlines()[-1])["summary"]
    first = summary["findings"][0]
    assert (first["id"], first["severity"], first["host"]) == ("accept_queue_overflow",
                                                              "critical", host)


@pytest.mark.root
def test_port_exhaustion_runs_out_of_ports_in_its_lab(tmp_path):
    # the forecast is judged against the moment the ports ran out, so its TIME_WAIT
    # details must be fresh every second however busy the machine: no CPU budget
    code, out = finish(start_locust("port_exhaustion.py", "--headless", "-u", "2", "-r", "2",
                                    "-t", "13s", "--csv", "ports", "--socklife-max",
                                    "eaddrnotavail=0", "--socklife-cpu-budget", "100",
                                    cwd=tmp_path))
    assert code == 3, out
    assert re.search(r"^CHECK FAILED: \S+ eaddrnotavail=0 observed", out, re.M)
    assert "EADDRNOTAVAIL" in out
    rows = list(csv.DictReader((tmp_path / "ports_tcp.csv").open()))
    assert {row["ephemeral_usable"] for row in rows} == {"200"}  # the lab client's range
    assert rows[-1]["ephemeral_headroom"] == "0" and rows[-1]["TIME_WAIT"] == "200"
    # failures start only once the headroom is gone, when the forecast said they would
    first_failing = next(i for i, row in enumerate(rows) if float(row["failures_per_s"]) > 0)
    assert int(rows[first_failing - 1]["ephemeral_headroom"]) < 40
    # a forecast made once two seconds of connections show the rate (40 ports in use)
    early = next(row for row in rows if int(row["ephemeral_in_use"]) >= 40
                 and row["ephemeral_exhausted_in_s"])
    waited = float(rows[first_failing]["time"]) - float(early["time"])
    assert 1 / 1.5 <= waited / float(early["ephemeral_exhausted_in_s"]) <= 1.5
    lab_client = rows[0]["host"].split("/", 1)[1]  # the sampled namespace: the lab's client
    assert lab_client.startswith("sl-") and not os.path.exists(f"/run/netns/{lab_client}")
    # the finding names the lab's server as the destination and counts Locust's failures
    (line,) = [x for x in out.splitlines() if x.startswith("CRITICAL ephemeral_exhaustion ")]
    assert line.split()[2].endswith(":7000")
    assert "EADDRNOTAVAIL" in out[out.index(line):].split("fix:")[0]


@pytest.mark.root
def test_socklife_netns_takes_a_pid_handle(tmp_path):
    """--socklife-netns pid:N samples the namespace of a process made by unshare -n (no
    name anywhere): its leaked CLOSE_WAIT fails the run's check, and each record names
    the namespace as asked, with its inode."""
    from unshare_util import unshared_leaker

    with Server(behavior="echo") as good, unshared_leaker() as leaker:
        handle = f"pid:{leaker.pid}"
        code, out = finish(start_locust(
            "short_tcp.py", "--headless", "-u", "1", "-r", "1", "-t", "2s", "--host",
            f"tcp://127.0.0.1:{good.port}", "--socklife-netns", handle,
            "--socklife-port", "0", "--socklife-max", "CLOSE_WAIT=0",
            "--socklife-record", "run.jsonl", cwd=tmp_path))
        inode = os.stat(leaker.path).st_ino
    assert code == 3, out
    assert re.search(r"^CHECK FAILED: \S+ CLOSE_WAIT=0 observed 1$", out, re.M), out
    samples = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()
               if '"summary"' not in line]
    assert samples and all((s["netns"], s["netns_inode"]) == (handle, inode) for s in samples)
