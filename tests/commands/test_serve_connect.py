"""`socklife serve` and `socklife connect` on the command line: bad input is one line and
exit 2; serve runs until SIGTERM/Ctrl-C and exits 143/130; connect's JSON has the agreed
keys and its exit status says whether any connection succeeded."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest
from cli_util import interrupt
from sockets_util import listener

from harness.cli import main
from harness.sockets import Server


def _one_line_error(capsys, argv, needle):
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("target, needle", [
    ("127.0.0.1", "expected HOST:PORT"),
    (":80", "expected HOST:PORT"),
    ("127.0.0.1:0", "bad port"),
    ("127.0.0.1:70000", "bad port"),
    ("127.0.0.1:abc", "bad port"),
    ("::1:80", "IPv6 addresses need brackets: [::1]:80"),
    ("[::1]:", "bad port"),
    ("[::1", "no closing ']' in '[::1'"),
    ("[::1]", "expected [ADDRESS]:PORT, got '[::1]'"),
    ("[example.com]:80", "not an IPv6 address in brackets"),
    ("192.0.2.1:80:90", "expected HOST:PORT, got '192.0.2.1:80:90' (one port)"),
    ("127.0.0.1:²", "bad port"),
])
def test_connect_bad_target(capsys, target, needle):
    _one_line_error(capsys, ["connect", target], needle)


@pytest.mark.parametrize("args, needle", [
    (["--count", "0"], "--count"),
    (["--closer", "nobody"], "--closer"),
    (["--concurrency", "x"], "--concurrency"),
    (["--netns", "sl-does-not-exist"], "no network namespace 'sl-does-not-exist'"),
    (["--bind-address", "nowhere"], "--bind-address needs an IP address"),
    (["--deadline", "0"], "--deadline"),
])
def test_connect_bad_options(capsys, args, needle):
    _one_line_error(capsys, ["connect", "127.0.0.1:80", *args], needle)


def test_connect_netns_needs_root(capsys, monkeypatch):
    monkeypatch.setattr("harness.kernel.netns.netns_path", lambda name: "/run/netns/" + name)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    _one_line_error(capsys, ["connect", "127.0.0.1:80", "--netns", "x"], "needs root for --netns")


@pytest.mark.parametrize("args, needle", [
    (["--port", "0"], "--port"),
    (["--port", "70000"], "--port"),
    (["--port", "abc"], "--port"),
    ([], "--port"),
    (["--port", "7000", "--behavior", "nap"], "--behavior"),
    (["--port", "7000", "--ipv6", "--host", "127.0.0.1"], "--ipv6 needs an IPv6 --host"),
    (["--port", "7000", "--netns", "sl-does-not-exist"], "no network namespace"),
    (["--port", "7000", "--reuseport", "0"], "--reuseport"),
    (["--port", "7000", "--keepalive-idle", "32768"], "--keepalive-idle"),  # kernel: EINVAL
    (["--port", "7000", "--keepalive-cnt", "128"], "--keepalive-cnt"),
    (["--port", "7000", "--accept-interval-ms", "99999999999999999999"], "--accept-interval"),
])
def test_serve_bad_input(capsys, args, needle):
    _one_line_error(capsys, ["serve", *args], needle)


@pytest.mark.live
def test_serve_on_a_busy_port_is_one_line_exit_2(capsys):
    busy = listener()
    with busy:
        port = busy.getsockname()[1]
        _one_line_error(capsys, ["serve", "--port", str(port)],
                        f"cannot listen on 127.0.0.1:{port}: address in use (EADDRINUSE)")


@pytest.mark.live
def test_connect_json_has_the_agreed_keys(capsys):
    with Server("close-first") as srv:
        capsys.readouterr()
        assert main(["connect", f"127.0.0.1:{srv.port}", "--count", "20", "--concurrency", "4",
                     "--closer", "server", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert (d["attempted"], d["ok"], d["errors"]) == (20, 20, {})
    for key in ("connect_ms", "first_byte_ms"):
        assert set(d[key]) == {"p50", "p99", "max"}
        assert 0 <= d[key]["p50"] <= d[key]["p99"] <= d[key]["max"]
    assert d["rate"] > 0


@pytest.mark.live
def test_connect_text_summary_names_the_errors(capsys):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    with s:  # bound, not listening: refused
        capsys.readouterr()
        assert main(["connect", f"127.0.0.1:{port}", "--count", "3"]) == 1  # none succeeded
    out = capsys.readouterr().out
    assert f"127.0.0.1:{port}: 3 attempted, 0 ok" in out
    assert "errors:        ECONNREFUSED 3" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.live
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("ipv6", [False, True])
def test_serve_runs_until_a_signal_and_exits_128_plus_it(sig, ipv6):
    port = _free_port()
    args = ["--ipv6"] if ipv6 else []
    host = "[::1]" if ipv6 else "127.0.0.1"
    # started with SIGINT ignored, as a background job of a shell script is: `kill -INT`
    # must still stop it (and a run of this suite from such a job must not hang here)
    proc = subprocess.Popen(["sh", "-c", 'trap "" INT; exec "$@"', "sh", sys.executable, "-m",
                             "harness", "serve", "--port", str(port), "--behavior",
                             "close-first", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"socklife serve: close-first listening on {host}:{port}")
        client = subprocess.run([sys.executable, "-m", "harness", "connect",
                                 f"{host}:{port}", "--count", "5", "--closer", "server",
                                 "--json"], capture_output=True, text=True, timeout=60)
        assert client.returncode == 0, client.stderr
        assert json.loads(client.stdout)["ok"] == 5
    finally:
        code, _out, err = interrupt(proc, sig)
    assert code == 128 + sig
    assert err == "socklife serve: stopped: 5 accepted, 5 closed\n"


@pytest.mark.live
def test_connect_deadline_bounds_a_run_against_a_server_that_never_answers(capsys):
    """500 connections that each wait 60 s for an answer: --deadline 1 ends the run, the
    ones in flight count as DEADLINE, and no success means exit 1."""
    silent = listener(backlog=512)  # completes handshakes, never reads or answers
    with silent:
        port = silent.getsockname()[1]
        capsys.readouterr()
        code = main(["connect", f"127.0.0.1:{port}", "--count", "500", "--concurrency", "4",
                     "--timeout", "60", "--deadline", "1", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 1
    assert d["stopped"] == "deadline" and d["ok"] == 0 and d["attempted"] < 500
    assert d["errors"] == {"DEADLINE": d["attempted"]}


@pytest.mark.live
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_connect_interrupted_prints_what_it_counted_and_exits_128_plus_the_signal(sig):
    silent = listener(backlog=512)
    with silent:
        port = silent.getsockname()[1]
        proc = subprocess.Popen([sys.executable, "-m", "harness", "connect",
                                 f"127.0.0.1:{port}", "--count", "50", "--timeout", "60",
                                 "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        try:
            silent.settimeout(20)
            held, _ = silent.accept()  # its first connection, waiting for an answer
            held.close()
        finally:
            code, out, err = interrupt(proc, sig)
    assert code == 128 + sig and "Traceback" not in err, err
    d = json.loads(out)
    assert d["stopped"] == "interrupted" and d["attempted"] >= 1 and d["ok"] == 0
