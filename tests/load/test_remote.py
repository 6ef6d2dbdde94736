"""Remote hosts (--socklife-remote): the argument, the client against a fake exporter
(tests/fake_remote.py), its failures as one line and a finding, a slow remote that does
not stall gevent, and Locust runs that poll remotes."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack

import pytest
from load_util import finish, free_port, host_table, start_locust
from remote_util import LEAK, fake_remote

from harness.load.collector import Collector
from harness.load.remote import Remote, RemoteError, checked_sample, parse_remote, read_token
from harness.observe.thresholds import parse_rule


@pytest.mark.parametrize("text, reason", [
    ("server", "expected NAME=URL"),
    ("=http://127.0.0.1:9464", "bad name ''"),
    ("a:b=http://127.0.0.1:9464", "bad name 'a:b'"),
    ("total=http://127.0.0.1:9464", "bad name 'total'"),
    ("server=ftp://127.0.0.1:9464", "unknown scheme 'ftp'"),
    ("server=127.0.0.1:9464", "unknown scheme"),
    ("server=http://", "no host"),
    ("server=http://127.0.0.1:99999", "bad URL"),
    ("server=http://127.0.0.1:x", "bad URL"),
    ("server=http://127.0.0.1:9464/?a=1", "no query"),
])
def test_a_malformed_remote_is_refused_with_its_reason(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_remote(text)


def test_a_remote_keeps_its_name_and_base_url():
    spec = parse_remote("server=https://10.0.0.2:9464/x/")
    assert (spec.name, spec.url, str(spec)) == ("server", "https://10.0.0.2:9464/x",
                                                "server=https://10.0.0.2:9464/x")


def test_token_file_first_line(tmp_path):
    (tmp_path / "t").write_text("s3cret\n")
    assert read_token(str(tmp_path / "t")) == "s3cret"
    (tmp_path / "empty").write_text("\n")
    for name, reason in (("empty", "is empty"), ("missing", "cannot read")):
        with pytest.raises(ValueError, match=reason):
            read_token(str(tmp_path / name))


def test_only_samples_of_this_contract_count():
    with pytest.raises(RemoteError, match="schema 2, this socklife reads 1"):
        checked_sample({"schema": 2, "time": 1.0})
    with pytest.raises(RemoteError, match="not a sample"):
        checked_sample({"schema": 1, "hello": 1})
    with pytest.raises(RemoteError, match="JSON object"):
        checked_sample([1, 2])


def _poll_until(remote: Remote, count: int, timeout: float = 20) -> list[dict]:
    got, lines = [], []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        samples, line = remote.poll(time.time())
        got += samples
        lines += [line] if line else []
        time.sleep(0.2)
    return got


def test_an_error_answer_gives_the_exporters_words():
    with fake_remote(LEAK) as url:
        remote = Remote(parse_remote(f"server={url}/elsewhere"), timeout=5)
        _samples, line = remote.poll(1.0)
    assert "HTTP 404 no /elsewhere/api/v1/sample" in line, line


def test_polls_get_each_sample_once_oldest_first_with_the_token(tmp_path):
    with fake_remote(LEAK, "--token", "s3cret", "--interval", "0.2") as url:
        remote = Remote(parse_remote(f"server={url}"), "s3cret", timeout=5)
        got = _poll_until(remote, 6)
    times = [s["time"] for s in got]
    assert len(got) >= 6 and times == sorted(set(times))  # none twice, none out of order
    assert remote.failures == 0 and remote.finding() is None
    assert got[0]["states"]["CLOSE_WAIT"] == 20


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")
def test_https_remotes_are_checked_against_the_ca_file(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    with fake_remote(LEAK, "--tls", str(cert), str(key)) as url:
        url = url.replace("http:", "https:")
        trusted = Remote(parse_remote(f"server={url}"), timeout=5, cafile=str(cert))
        samples, line = trusted.poll(1.0)
        untrusted = Remote(parse_remote(f"server={url}"), timeout=5)
        nothing, said = untrusted.poll(1.0)
    assert len(samples) == 1 and line is None
    assert nothing == [] and "TLS: CERTIFICATE_VERIFY_FAILED" in said, said


@pytest.mark.parametrize("options, token, problem", [
    ((), None, None),  # below: nothing listens
    (("--token", "s3cret"), None, "HTTP 401 unauthorized"),
    (("--token", "s3cret"), "wrong", "HTTP 401 unauthorized"),
    (("--mode", "garbage"), None, "the answer is not JSON"),
    (("--mode", "schema2"), None, "schema 2, this socklife reads 1"),
    (("--mode", "wrong"), None, "not a sample"),
])
def test_a_failing_remote_is_one_line_then_a_finding(options, token, problem):
    with fake_remote(LEAK, *options) as url:
        if problem is None:  # the discard port: nothing listens on loopback there
            url, problem = "http://127.0.0.1:9", "refused"
        remote = Remote(parse_remote(f"server={url}"), token, timeout=3)
        first = remote.poll(1000.0)
        second = remote.poll(1001.0)
    assert first[0] == [] and problem in first[1] and "server" in first[1]
    assert "\n" not in first[1]
    assert second == ([], None)  # the same problem again is not said again
    f = remote.finding()
    assert (f["id"], f["severity"], f["subject"]) == ("remote_unreachable", "critical",
                                                      "server")
    assert f["evidence"] == {"first_seen": 1000.0, "last_seen": 1001.0, "samples": 2}
    assert problem in f["summary"]


def test_a_remote_that_never_answered_fails_its_rules_and_says_why():
    c = Collector()
    remote = Remote(parse_remote("server=http://127.0.0.1:9"), timeout=1)
    remote.poll(5.0)
    c.remotes = [remote]
    c.expect("remote:server", "server")
    c.add("w", "worker", {"time": 1.0, "states": {"CLOSE_WAIT": 0}})
    assert c.failed_checks([parse_rule("server:CLOSE_WAIT=0")]) == [
        "CHECK FAILED: server CLOSE_WAIT=0 observed nothing (no sample from server)"]
    assert c.failed_checks([parse_rule("CLOSE_WAIT=0")]) == []  # worker and total hold
    assert [f["id"] for f in c.findings()] == ["remote_unreachable"]
    assert c.findings()[0]["host"] == "server"
    assert any(line.startswith("server ") for line in c.table_lines())


SLOW = """
import sys, time
import locust  # noqa: F401  (monkey-patches, as in a Locust process)
import gevent
from harness.load.remote import Remote, parse_remote

remote = Remote(parse_remote("slow=" + sys.argv[1]), timeout=3)
ticks = []
def tick():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.05)
ticker = gevent.spawn(tick)
t0 = time.monotonic()
samples, line = gevent.spawn(remote.poll, time.time()).get()
waited = time.monotonic() - t0
ticker.kill()
during = [t for t in ticks if t0 < t < t0 + waited]
print(len(during), round(waited, 1), line)
"""


def test_a_slow_remote_does_not_stall_the_event_loop():
    """The fake answers after 10 s, the poll gives up after 3 s: meanwhile another greenlet
    kept running (at every 0.05 s it could), and the poll says it timed out."""
    with fake_remote(LEAK, "--delay", "10") as url:
        done = subprocess.run([sys.executable, "-c", SLOW, url], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    ticks, waited, line = done.stdout.split(" ", 2)
    assert float(waited) >= 2.5 and "timed out" in line
    assert int(ticks) >= 10, done.stdout  # a blocked loop would tick once, or never


def _rows(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_local_run_with_a_remote_checks_it_by_name(tmp_path):
    """short_tcp with a fake exporter as host ``server`` (its CLOSE_WAIT held): exit 3, the
    CHECK FAILED line names server, the CSV has its rows and total rows, the table a row
    for each host and the total."""
    (tmp_path / "token").write_text("s3cret\n")
    with fake_remote(LEAK, "--token", "s3cret") as url:
        proc = start_locust("short_tcp.py", "--headless", "-u", "2", "-r", "2", "-t", "5s",
                            "--socklife-remote", f"server={url}",
                            "--socklife-remote-token-file", str(tmp_path / "token"),
                            "--socklife-max", "server:CLOSE_WAIT=0",
                            "--socklife-interval", "0.5", "--socklife-record", "run.jsonl",
                            "--csv", str(tmp_path / "run"), cwd=tmp_path)
        code, out = finish(proc, timeout=90)
    assert code == 3, out
    assert "CHECK FAILED: server CLOSE_WAIT=0 observed 20" in out
    assert "remote server" not in out  # no problem to tell
    rows = _rows(tmp_path / "run_tcp.csv")
    hosts = {r["host"] for r in rows}
    assert "server" in hosts and "total" in hosts and len(hosts) == 3, hosts
    server = [r for r in rows if r["host"] == "server"]
    assert len(server) >= 4 and all(r["CLOSE_WAIT"] == "20" for r in server)
    table = host_table(out)
    assert table["server"][4] == "20" and "total" in table  # CLOSE_WAIT held
    # the recording judged afterwards: the same rule, the same host
    done = subprocess.run([sys.executable, "-m", "harness", "check", "run.jsonl", "--max",
                           "server:CLOSE_WAIT=0"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    verdict = [line.split() for line in done.stdout.splitlines() if "CLOSE_WAIT" in line][-1]
    assert verdict[:2] == ["server", "CLOSE_WAIT"] and verdict[-1] == "FAIL"


def test_a_remote_without_the_token_is_one_line_and_a_finding(tmp_path):
    with fake_remote(LEAK, "--token", "s3cret") as url:
        proc = start_locust("short_tcp.py", "--headless", "-u", "1", "-r", "1", "-t", "4s",
                            "--socklife-remote", f"server={url}", "--socklife-record",
                            "run.jsonl", "--socklife-max", "server:CLOSE_WAIT=0",
                            cwd=tmp_path)
        code, out = finish(proc, timeout=90)
    said = [line for line in out.splitlines() if "remote server" in line]
    assert len(said) == 1 and "HTTP 401 unauthorized" in said[0], out
    assert "Traceback" not in out
    assert "remote_unreachable" in out and code == 3
    assert "CHECK FAILED: server CLOSE_WAIT=0 observed nothing (no sample from server)" in out
    # the recording keeps the finding for `socklife check`
    done = subprocess.run([sys.executable, "-m", "harness", "check", "run.jsonl",
                           "--fail-on", "critical"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 1 and "remote_unreachable" in done.stdout, done.stdout


def test_the_master_polls_the_remotes_in_a_distributed_run(tmp_path):
    """With a master and a worker, the master polls (the worker does not), and server is
    one more host in the master's CSV and checks."""
    port = free_port()
    with fake_remote(LEAK) as url:
        master = start_locust("short_tcp.py", "--headless", "-u", "2", "-r", "2", "-t", "6s",
                              "--master", "--master-bind-host", "127.0.0.1",
                              "--master-bind-port", str(port), "--expect-workers", "1",
                              "--socklife-remote", f"server={url}", "--socklife-max",
                              "server:CLOSE_WAIT=0", "--csv", "dist", cwd=tmp_path)
        worker = start_locust("short_tcp.py", "--worker", "--master-host", "127.0.0.1",
                              "--master-port", str(port), cwd=tmp_path)
        code, out = finish(master, timeout=90)
        finish(worker, timeout=30)
    assert code == 3 and "CHECK FAILED: server CLOSE_WAIT=0 observed 20" in out, out
    hosts = {r["host"] for r in _rows(tmp_path / "dist_tcp.csv")}
    assert "server" in hosts and "total" in hosts and len(hosts) == 3, hosts


@pytest.mark.parametrize("args, message", [
    (("--socklife-remote", "server"), "expected NAME=URL"),
    (("--socklife-remote", "server=gopher://h:1"), "unknown scheme 'gopher'"),
    (("--socklife-remote", "s=http://127.0.0.1:9", "--socklife-remote",
      "s=http://127.0.0.1:8"), "the name 's' is given twice"),
    (("--socklife-remote", "s=http://127.0.0.1:9", "--socklife-remote-token-file",
      "/nonexistent/token"), "cannot read the token file"),
    (("--socklife-remote-token-file", os.devnull), "without --socklife-remote"),
    (("--socklife-remote", "s=https://127.0.0.1:9", "--socklife-remote-ca-file",
      os.devnull), "--socklife-remote-ca-file: cannot use /dev/null: [X509: "
                   "NO_CERTIFICATE_OR_CRL_FOUND] no certificate or crl found\n"),
    (("--socklife-max", ":CLOSE_WAIT=0"), "empty host"),
])
def test_bad_remote_arguments_end_the_run_before_it_starts(tmp_path, args, message):
    proc = start_locust("short_tcp.py", "--headless", "-u", "1", "-t", "30s", *args,
                        cwd=tmp_path)
    code, out = finish(proc, timeout=60)
    assert code == 2 and message in out and "Traceback" not in out, out


def test_ten_remotes_stay_correct_per_host_and_in_total(tmp_path):
    """A simulated 10-host run (ten fake exporters, each CLOSE_WAIT 20): every remote has
    its rows, its line in the table and its CHECK FAILED line; the total sums them."""
    with ExitStack() as stack:
        urls = [stack.enter_context(fake_remote(LEAK)) for _ in range(10)]
        remotes = [a for i, url in enumerate(urls) for a in ("--socklife-remote", f"s{i}={url}")]
        proc = start_locust("short_tcp.py", "--headless", "-u", "1", "-r", "1", "-t", "6s",
                            "--socklife-interval", "0.5", "--csv", str(tmp_path / "ten"),
                            "--socklife-max", "CLOSE_WAIT=10", *remotes, cwd=tmp_path)
        code, out = finish(proc, timeout=120)
    assert code == 3, out
    names = [f"s{i}" for i in range(10)]
    failed = [line for line in out.splitlines() if line.startswith("CHECK FAILED")]
    assert failed == [f"CHECK FAILED: {n} CLOSE_WAIT=10 observed 20" for n in names] + [
        f"CHECK FAILED: total CLOSE_WAIT=10 observed {200 + _own_close_wait(out, names)}"]
    table = host_table(out)
    assert set(names) <= set(table) and "total" in table and len(table) == 12
    assert int(table["total"][0]) == sum(int(row[0]) for h, row in table.items()
                                         if h != "total")
    rows = _rows(tmp_path / "ten_tcp.csv")
    for n in names:
        own = [r for r in rows if r["host"] == n]
        assert len(own) >= 6 and {r["CLOSE_WAIT"] for r in own} == {"20"}, n
    assert max(int(r["CLOSE_WAIT"]) for r in rows if r["host"] == "total") >= 200


def _own_close_wait(out: str, remotes: list[str]) -> int:
    """The local host's settled CLOSE_WAIT peak, from the table."""
    table = host_table(out)
    (local,) = [h for h in table if h not in remotes and h != "total"]
    return int(table[local][4])
