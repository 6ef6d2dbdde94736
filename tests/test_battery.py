"""A battery of bad inputs and faults over every command, as a hostile user would try
them: bad values for every typed option, output paths of every odd kind, bad input
files, SIGTERM and SIGINT in the middle of the work, and full disks.

It holds: no traceback anywhere; a usage error is exit 2 with one line naming what is
wrong, before any work (nothing written, nothing changed in the folder); a signal ends
a command with 128 + its number after the files are complete; a write that fails keeps
what was complete and says so in one line, exit 2; no file is replaced or lost (a device
stays a device, a symlink a symlink, an input is never an output).

Values and paths are tried in this process (main(), fast, an alarm against a hang);
signals and the demo in child processes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import click
import pytest
from cli_util import REQUIRED, interrupt, leaf_commands, options_of
from fs_util import kind, null_device, small_tmpfs
from fuzz_util import no_endless_loop
from paths import FIXTURES
from sockets_util import listener, wait_for

from harness.cli import main
from harness.values import FiniteFloat

LEAKY = FIXTURES / "check" / "leaky.jsonl"
IS_ROOT = os.geteuid() == 0


def run_main(argv: list[str]) -> tuple[int, str, str]:
    """main(argv) in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with no_endless_loop(60), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def assert_usage_error(code: int, err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("socklife: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], err


def tree(folder) -> dict[str, tuple]:
    """What is in ``folder``: name -> (kind, inode, content digest) (links not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            digest = None
            if os.path.isfile(path) and not os.path.islink(path):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, folder)] = (kind(path), st.st_ino, digest)
    return out


# -- A. values: every typed option of every command -------------------------------------

def _bad_values(opt: click.Option) -> list[str]:
    t = opt.type
    if isinstance(t, FiniteFloat):
        values = ["nan", "inf", "-inf", "1e999", "x", ""]
        if t.min is not None:
            values.append(f"{t.min - 1:g}" if not t.min_open else f"{t.min:g}")
        if t.max is not None:
            values.append(f"{t.max * 10 + 1:g}")
        return values
    if isinstance(t, click.IntRange):
        values = ["x", "1.5", "", "nan"]
        if t.min is not None:
            values.append(str(t.min - 1))
        if t.max is not None:
            values += [str(t.max + 1), "9" * 30]
        return values
    if isinstance(t, click.Choice):
        return ["bogus", ""]
    return []


VALUE_CASES = [(path, opt.opts[-1], bad) for path, cmd in leaf_commands()
               for opt in options_of(cmd) for bad in _bad_values(opt)]


@pytest.mark.parametrize("path, flag, bad", VALUE_CASES)
def test_a_bad_value_is_one_line_naming_the_option(tmp_path, path, flag, bad):
    out = tmp_path / "out"
    args = [a.format(out=out, run=LEAKY) for a in REQUIRED[path]]
    before = tree(tmp_path)
    code, _out, err = run_main([*path.split(), *args, flag, bad])
    assert_usage_error(code, err, flag)
    assert tree(tmp_path) == before


# Values of untyped options and arguments, each refused in one line before any work.
# (No host names: resolving one would send a packet to a DNS server.)
TEXT_CASES = [
    (["connect", "127.0.0.1"], "expected HOST:PORT"),
    (["connect", "[::1"], "no closing ']'"),
    (["connect", "192.0.2.1:80:90"], "(one port)"),
    (["connect", "::1:80"], "[::1]:80"),
    (["connect", "127.0.0.1:0"], "bad port"),
    (["connect", "127.0.0.1:²"], "bad port"),
    (["connect", "127.0.0.1:9", "--bind-address", "here"], "--bind-address"),
    (["doctor", "--target", "x"], "expected HOST:PORT"),
    (["exporter", "--listen", "[::1"], "no closing ']'"),
    (["exporter", "--listen", "127.0.0.1:99999"], "bad port"),
    (["snapshot", "--netns", "sl-no-such-ns"], "no network namespace"),
    (["record", "-o", "{out}", "--netns", "../../etc"], "namespace"),
    (["snapshot", "--port", "0"], "--port"),
    (["watch", *[a for p in range(1, 2732) for a in ("--port", str(p))]],
     "at most 2730 different ports"),
    (["check", "{run}", "--max", "TIME_WAIT=inf"], "bad limit"),
    (["check", "{run}", "--max", "TIME_WAIT=nan"], "bad limit"),
    (["check", "{run}", "--min", "BOGUS=1"], "unknown name"),
    (["check", "{run}", "--max", "TIME_WAIT=1", "--tolerance", "nan%"], "--tolerance"),
    (["check", "{run}", "--max", "TIME_WAIT=1", "--tolerance", "inf"], "--tolerance"),
    (["lab", "up", "--name", "t1"], "a letter, then up to 11"),
    (["lab", "up", "--name", "x" * 13], "a letter, then up to 11"),
    (["lab", "up", "--sysctl", "net.ipv4.tcp_fin_timeout="], "--sysctl"),
    (["lab", "up", "--sysctl", "net.ipv4.tcp_fin_timeout=1\n2"], "--sysctl"),
    (["lab", "up", "--sysctl", "kernel.pid_max=1"], "net.KEY=VALUE"),
    (["scenario", "run", "no-such-scenario"], "unknown scenario"),
    (["scenario", "run"], "give scenario names or --all"),
    (["serve", "--port", "7", "--ipv6", "--host", "127.0.0.1"], "--ipv6"),
    (["nosuchcommand"], "No such command"),
    (["record"], "-o"),
]


@pytest.mark.parametrize("argv, needle", TEXT_CASES,
                         ids=[" ".join(a)[:40] for a, _n in TEXT_CASES])
def test_a_bad_text_value_is_one_line(tmp_path, argv, needle):
    argv = [a.format(out=tmp_path / "out", run=LEAKY) for a in argv]
    code, _out, err = run_main(argv)
    assert_usage_error(code, err, needle)
    assert list(tmp_path.iterdir()) == []


# -- B. output paths ------------------------------------------------------------------

# (command line with {o} for the output under test, whether it reads {run})
WRITERS = {
    "record -o": (["record", "-o", "{o}", "--duration", "60"], False),
    "report -o": (["report", "{run}", "-o", "{o}"], True),
    "check --junit": (["check", "{run}", "--max", "LISTEN=5", "--junit", "{o}"], True),
    "check --save-baseline": (["check", "{run}", "--save-baseline", "{o}"], True),
    "demo --record": (["demo", "--duration", "60", "--record", "{o}"], False),
    "demo --report": (["demo", "--duration", "60", "--report", "{o}"], False),
    "scenario run --report": (["scenario", "run", "handshake", "--report", "{o}"], False),
}


def _make_bad_output(where, case: str):
    """A path that cannot be an output, made in ``where``; (path, words of the error)."""
    run = where / "run.jsonl"
    if case == "directory":
        (where / "d").mkdir()
        return str(where / "d"), "it is a directory"
    if case == "missing folder":
        return str(where / "no" / "such" / "x"), "no folder"
    if case == "trailing slash":
        return f"{where}/nothing-yet/", "no such directory"
    if case == "empty name":
        return "", "an empty file name"
    if case == "under a file":
        (where / "f").write_text("x")
        return str(where / "f" / "x"), "Not a directory"
    if case == "a socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(where / "s"))
        s.close()
        return str(where / "s"), "it is a socket"
    if case == "the input":
        return str(run), "is the same file as the input"
    if case == "a symlink to the input":
        (where / "alias.jsonl").symlink_to(run)
        return str(where / "alias.jsonl"), "is the same file as the input"
    if case == "a hard link to the input":
        os.link(run, where / "hard.jsonl")
        return str(where / "hard.jsonl"), "is the same file as the input"
    raise AssertionError(case)


PATH_CASES = ["directory", "missing folder", "trailing slash", "empty name", "under a file",
              "a socket", "the input", "a symlink to the input", "a hard link to the input"]


@pytest.mark.parametrize("writer, case", [
    (writer, case) for writer, (_argv, reads_run) in WRITERS.items() for case in PATH_CASES
    if reads_run or not case.endswith("input")])
def test_an_output_that_cannot_be_written_is_refused_before_any_work(tmp_path, writer, case):
    argv, _reads_run = WRITERS[writer]
    if writer.startswith("scenario") and not IS_ROOT:
        pytest.skip("scenario run checks root first")
    shutil.copy(LEAKY, tmp_path / "run.jsonl")
    out, says = _make_bad_output(tmp_path, case)
    before = tree(tmp_path)
    started = time.monotonic()
    code, _out, err = run_main([a.format(o=out, run=tmp_path / "run.jsonl") for a in argv])
    assert_usage_error(code, err, says)
    assert tree(tmp_path) == before  # the input, and everything else, as it was
    assert time.monotonic() - started < 30  # refused up front, not after a 60 s run


def _fifo_reader(path):
    got = []

    def read():
        with open(path, "rb") as f:
            got.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t, got


# writers that finish quickly, for outputs written in place
QUICK = {
    "record -o": ["record", "-o", "{o}", "--interval", "0.05", "--duration", "0.2"],
    "report -o": ["report", "{run}", "-o", "{o}"],
    "check --junit": ["check", "{run}", "--max", "LISTEN=5", "--junit", "{o}"],
    "check --save-baseline": ["check", "{run}", "--save-baseline", "{o}"],
}


@pytest.mark.parametrize("writer", list(QUICK))
@pytest.mark.parametrize("case", ["char device", "symlink to a device", "fifo",
                                  "symlink to a file", "dangling symlink"])
def test_what_is_not_a_regular_file_is_written_in_place_never_replaced(tmp_path, writer,
                                                                       case):
    if "device" in case and not IS_ROOT:
        pytest.skip("mknod needs root")
    target = tmp_path / "target"
    reader = None
    if case == "char device" or case == "symlink to a device":
        null_device(target)
    elif case == "fifo":
        os.mkfifo(target)
        reader, got = _fifo_reader(target)
    elif case == "symlink to a file":
        target.write_text("old")
    out = target if case in ("char device", "fifo") else tmp_path / "link"
    if out != target:
        out.symlink_to(target)
    before = kind(target) if target.exists() else None
    code, _o, err = run_main([a.format(o=out, run=LEAKY) for a in QUICK[writer]])
    assert code in (0, 1) and "Traceback" not in err, err  # check --junit LISTEN=5: ok
    if reader is not None:
        reader.join(30)
        assert got and got[0], "nothing came through the FIFO"
    assert kind(out) == ("symlink" if out != target else before)
    if case == "dangling symlink":
        assert kind(target) == "regular" and target.stat().st_size > 0
    elif case == "symlink to a file":
        assert kind(target) == "regular" and target.read_text() != "old"
    else:
        assert kind(target) == before


@pytest.mark.root
def test_demo_and_scenario_write_a_device_in_place(tmp_path):
    dev = null_device(tmp_path / "null")
    for argv in (["demo", "--duration", "1", "--rate", "50", "--report", str(dev),
                  "--record", str(tmp_path / "demo.jsonl")],
                 ["scenario", "run", "handshake", "--report", str(dev)]):
        proc = subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True,
                              text=True, timeout=180, cwd=tmp_path)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert kind(dev) == "char device"


# -- C. input files -------------------------------------------------------------------

BAD_INPUTS = {
    "missing": (None, "no such file"),
    "a directory": ("dir", "is a folder"),
    "empty": (b"", "no samples"),
    "binary": (bytes(range(128, 256)) * 4 + b"\n", ":1: not UTF-8 text"),
    "not JSON": (b'{"time": 1, "states": {}}\nnot json\n{"time": 2, "states": {}}\n',
                 ":2: not a JSON line"),
    "a list": (b"[1, 2]\n", ":1: neither a sample nor a summary"),
    "wrong type": (b'{"time": 1, "states": {"LISTEN": "1"}}\n', ":1: states.LISTEN"),
    "NaN": (b'{"time": NaN, "states": {}}\n', ":1: time: expected a number, got nan"),
    "Infinity": (b'{"time": 1, "states": {"LISTEN": Infinity}}\n', ":1: states.LISTEN"),
    "5000 digits": (b'{"time": 1, "states": {"LISTEN": ' + b"9" * 5000 + b"}}\n",
                    ":1: not a JSON line"),
    "deep": (b"[" * 100_000 + b"\n", ":1: not a JSON line"),
    "no date": (b'{"time": 1e300, "states": {}}\n', ":1: time: not a date"),
    "newer schema": (b'{"schema": 99, "time": 1, "states": {}}\n', "newer socklife"),
    "no time": (b'{"states": {"LISTEN": 1}}\n', ":1: missing field 'time'"),
    "summary only": (b'{"summary": {"samples": 3}}\n', "no samples"),
    "only a cut line": (b'{"time": 1, "sta', "no samples"),
}
READERS = {"check": ["check", "{run}", "--max", "LISTEN=5"],
           "check --json": ["check", "{run}", "--max", "LISTEN=5", "--json"],
           "report": ["report", "{run}", "-o", "{dir}/out.html"]}


@pytest.mark.parametrize("reader", list(READERS))
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_a_bad_input_file_is_one_line_naming_the_line(tmp_path, reader, case):
    content, says = BAD_INPUTS[case]
    run = tmp_path / "run.jsonl"
    if content == "dir":
        run.mkdir()
    elif content is not None:
        run.write_bytes(content)
    before = tree(tmp_path)
    code, _out, err = run_main([a.format(run=run, dir=tmp_path) for a in READERS[reader]])
    assert_usage_error(code, err, says)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("reader", list(READERS))
def test_a_cut_last_line_is_read_with_a_note(tmp_path, reader):
    run = tmp_path / "run.jsonl"
    run.write_bytes(LEAKY.read_bytes() + b'{"time": 1795400099.0, "states": {"LIS')
    code, _out, err = run_main([a.format(run=run, dir=tmp_path) for a in READERS[reader]])
    assert code in (0, 1) and "Traceback" not in err
    assert f"note: {run}:5: the last line is cut short" in err


@pytest.mark.parametrize("content, says", [
    (None, "no such baseline"), (b"{", "bad JSON"),
    (b'{"socklife_baseline": 1, "metrics": {"leaks": NaN}}', "without numeric metrics"),
    (b'{"socklife_baseline": 1, "metrics": {"leaks": 1e999}}', "without numeric metrics"),
    (b'{"socklife_baseline": 7, "metrics": {}}', "not a socklife baseline")])
def test_a_bad_baseline_is_one_line(tmp_path, content, says):
    base = tmp_path / "base.json"
    if content is not None:
        base.write_bytes(content)
    code, _out, err = run_main(["check", str(LEAKY), "--baseline", str(base)])
    assert_usage_error(code, err, says)


def test_the_baseline_read_is_not_the_one_written(tmp_path):
    base = tmp_path / "base.json"
    assert run_main(["check", str(LEAKY), "--save-baseline", str(base)])[0] == 0
    saved = base.read_bytes()
    code, _out, err = run_main(["check", str(LEAKY), "--baseline", str(base),
                                "--save-baseline", str(base)])
    assert_usage_error(code, err, "is the same file as --baseline")
    assert base.read_bytes() == saved


# -- D. signals -----------------------------------------------------------------------

def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (/proc/PID/status SigCgt)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            caught = next(line for line in f if line.startswith("SigCgt:"))
    except (OSError, StopIteration):
        return False
    return bool(int(caught.split()[1], 16) & (1 << (sig - 1)))


def _lines(path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


class Silent:
    """A listener that completes handshakes and never answers: connect waits."""

    def __enter__(self):
        self.sock = listener(backlog=64)
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


# name -> (argv with {dir} {port}, readiness: fn(proc, dir) -> bool, root needed)
LONG = {
    "record": (["record", "-o", "{dir}/r.jsonl", "--interval", "0.05"],
               lambda p, d: len(_lines(d / "r.jsonl")) >= 2, False),
    "watch": (["watch", "--interval", "0.1", "--port", "{port}"],
              lambda p, d: _catches(p.pid, signal.SIGTERM) and time.sleep(1) is None, False),
    "exporter": (["exporter", "--listen", "127.0.0.1:{free}", "--port", "{port}"],
                 lambda p, d: _catches(p.pid, signal.SIGTERM) and time.sleep(1) is None,
                 False),
    "serve": (["serve", "--port", "{free}"],
              lambda p, d: _catches(p.pid, signal.SIGTERM) and time.sleep(0.5) is None, False),
    "connect": (["connect", "127.0.0.1:{port}", "--count", "20", "--timeout", "60", "--json"],
                lambda p, d: _catches(p.pid, signal.SIGTERM) and time.sleep(1) is None, False),
    "doctor": (["doctor"], lambda p, d: _catches(p.pid, signal.SIGTERM), False),
    "trace": (["trace", "--port", "{port}"],
              lambda p, d: _catches(p.pid, signal.SIGTERM) and time.sleep(1) is None, True),
    "demo": (["demo", "--duration", "60", "--record", "{dir}/demo.jsonl"],
             lambda p, d: len(_lines(d / "demo.jsonl")) >= 2, False),
    "scenario run": (["scenario", "run", "keepalive"],  # ~10 s: stopped with its lab up
                     lambda p, d: bool(_sl_namespaces_of(p.pid)), True),
}


def _sl_namespaces_of(pid: int) -> list[str]:
    return [n for n in os.listdir("/run/netns") if f"-{pid}-" in n or n.endswith(f"-{pid}")] \
        if os.path.isdir("/run/netns") else []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("name", list(LONG))
def test_a_signal_ends_the_command_with_128_plus_it_and_complete_files(tmp_path, name, sig):
    argv, ready, needs_root = LONG[name]
    if needs_root and not IS_ROOT:
        pytest.skip("needs root")
    with Silent() as silent, socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        free_port = free.getsockname()[1]
        free.close()
        args = [a.format(dir=tmp_path, port=silent.port, free=free_port) for a in argv]
        proc = subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=tmp_path,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: proc.poll() is not None or ready(proc, tmp_path), 60, 0.05)
            assert proc.poll() is None, f"{name} ended before the signal"
        finally:
            code, out, err = interrupt(proc, sig, timeout=120)
    assert code == 128 + sig, (code, err[-2000:])
    assert "Traceback" not in out + err, err[-3000:]
    for jsonl in tmp_path.glob("*.jsonl"):  # a recording ends with its summary line
        text = jsonl.read_text()
        assert text.endswith("\n") and '"summary"' in text.splitlines()[-1]
    assert _sl_namespaces_of(proc.pid) == []  # what the run made is gone


# -- E. full disks --------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["record", "-o", "/dev/full", "--duration", "5"],
    ["report", str(LEAKY), "-o", "/dev/full"],
    ["check", str(LEAKY), "--max", "LISTEN=5", "--junit", "/dev/full"],
    ["check", str(LEAKY), "--save-baseline", "/dev/full"],
], ids=["record", "report", "check --junit", "check --save-baseline"])
def test_a_full_device_is_one_line_and_exit_2(argv):
    code, _out, err = run_main(argv)
    assert_usage_error(code, err, "cannot write /dev/full: No space left on device")


@pytest.mark.root
@pytest.mark.parametrize("argv", [
    ["report", str(LEAKY), "-o", "{mnt}/x"],
    ["check", str(LEAKY), "--max", "LISTEN=5", "--junit", "{mnt}/x"],
    ["check", str(LEAKY), "--save-baseline", "{mnt}/x"],
], ids=["report", "check --junit", "check --save-baseline"])
def test_a_full_disk_keeps_the_old_file(tmp_path, argv):
    with small_tmpfs(tmp_path / "mnt", "64k") as mnt:
        (mnt / "x").write_text("the old one\n")
        (mnt / "filler").write_bytes(b"\0" * (60 * 1024))  # room left: a few KB
        code, _out, err = run_main([a.format(mnt=mnt) for a in argv])
        assert_usage_error(code, err, f"cannot write {mnt}/x: No space left on device")
        assert (mnt / "x").read_text() == "the old one\n"
        assert sorted(p.name for p in mnt.iterdir()) == ["filler", "x"]


@pytest.mark.parametrize("argv", [["snapshot", "--json"], ["scenario", "list"],
                                  ["check", str(LEAKY), "--max", "LISTEN=5"]])
def test_standard_output_on_a_full_device_is_one_line(argv):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "harness", *argv], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert_usage_error(proc.returncode, proc.stderr,
                       "cannot write the output: No space left on device")
