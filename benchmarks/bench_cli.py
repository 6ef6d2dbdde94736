"""Start-up of the socklife command line against `python -c pass`, `ss -s` and `ss -tan`.

In a private idle namespace `sl-bcli-<pid>` (loopback up, no socket: this process's
thread is moved into it, so every command below runs there), each command runs
--repeat times, round-robin (one run of every command per round, so a change in the
machine's load falls on all of them alike), and the table gives each command's median
wall time, its median CPU (user + system of the child, from getrusage: steadier than
wall on a shared machine), the wall time above `python -c pass` and ratios to ss.
Bytecode is cached as an installed package has it (in a folder of the run; a first,
uncounted round fills it), whatever PYTHONDONTWRITEBYTECODE says.

  python -c pass                   this interpreter's own start-up, site included
  python -c "import click"         the floor of any click command line
  ss -s                            iproute2: /proc/net/sockstat, no dump
  ss -tan                          iproute2: a dump of every TCP socket
  socklife --help
  socklife snapshot --json         the idle namespace, the command's own
  socklife snapshot                the same as text (a rich table)
  socklife snapshot --json --netns NAME   the same namespace, entered with setns(2)
  ... --netns WITH-LISTENER        a namespace with one listener, held by a process in
                                   it: its owner is looked up (and psutil imported)
  socklife check RUN --max CLOSE_WAIT=0   over a run of 10 samples recorded first
  socklife check ... --json        the same verdicts as JSON (no table)
and, in this process, one bare kernel dump of the empty namespace: it walks the sockets
of every namespace of the host (one established hash), which a snapshot walks twice.

socklife runs as `PYTHON -m harness` with PYTHON this script's interpreter (run the
benchmark with the checkout's venv: .venv/bin/python). --also PYTHON adds the same
socklife rows for another interpreter, e.g. the venv of an older checkout, measured in
the same rounds: the before of a before/after. --checkout DIR does the same with this
interpreter and DIR's harness/ (PYTHONPATH=DIR, which comes before the venv's editable
install), e.g. a `git worktree` of an older commit: the same site start-up for both.

Target (issue 22.1): `socklife --help`, `snapshot --json` and `check` within 60 ms of
`python -c pass` (median); the script says which rows meet it.

Usage (root): .venv/bin/python benchmarks/bench_cli.py [--repeat 11] [--also PYTHON]
              [--checkout DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from bench_common import (
    bare_dump,
    exit_on_sigterm,
    machine_load,
    private_netns,
    require_root,
    spawn_holder,
    timed,
)

from harness.kernel.netns import entered

TARGET_MS = 60.0
TARGETS = ("socklife --help", "socklife snapshot --json", "socklife check RUN --max CLOSE_WAIT=0")


def socklife_commands(python: str, ns: str, busy: str, run_file: str, tag: str = "") -> list:
    socklife = [python, "-m", "harness"]
    return [
        (f"{tag}socklife --help", [*socklife, "--help"]),
        (f"{tag}socklife snapshot --json", [*socklife, "snapshot", "--json"]),
        (f"{tag}socklife snapshot", [*socklife, "snapshot"]),
        (f"{tag}socklife snapshot --json --netns", [*socklife, "snapshot", "--json",
                                                    "--netns", ns]),
        (f"{tag}socklife snapshot --json --netns WITH-LISTENER",
         [*socklife, "snapshot", "--json", "--netns", busy]),
        (f"{tag}socklife check RUN --max CLOSE_WAIT=0",
         [*socklife, "check", run_file, "--max", "CLOSE_WAIT=0"]),
        (f"{tag}socklife check RUN --max CLOSE_WAIT=0 --json",
         [*socklife, "check", run_file, "--max", "CLOSE_WAIT=0", "--json"]),
    ]


def child_env(tmp: str, extra: dict | None = None) -> dict[str, str]:
    """The environment of every timed command: bytecode cached (as an installed package
    has it; PYTHONDONTWRITEBYTECODE would recompile every module on every run) in a
    folder of this run, not beside the sources; and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    return {**env, **(extra or {})}


def run_once(argv: list[str], tmp: str, extra: dict | None = None
             ) -> tuple[float, float, str | None]:
    """(wall s, child CPU s, what went wrong or None) of one run of ``argv``.

    It runs in ``tmp``, which holds no ``harness`` folder: `python -m` puts the working
    directory first on sys.path, which would run that checkout's socklife instead of the
    interpreter's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=tmp, env=child_env(tmp, extra), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    problem = None
    if proc.returncode != 0:
        last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        problem = f"exit {proc.returncode}: {last[0]}"
    return wall, cpu, problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=11, help="runs of each command (>= 7)")
    ap.add_argument("--also", metavar="PYTHON", action="append", default=[],
                    help="also time socklife under this interpreter (repeatable)")
    ap.add_argument("--checkout", metavar="DIR", action="append", default=[],
                    help="also time DIR's socklife under this interpreter (repeatable)")
    args = ap.parse_args()
    if args.repeat < 7:
        ap.error("--repeat must be at least 7 (the target is a median of 7)")
    require_root("bench_cli.py", "it times the commands in a private namespace")
    exit_on_sigterm()
    print(machine_load(), file=sys.stderr)
    stop_r, stop_w = os.pipe()  # the listener's holder ends at EOF
    with private_netns("bcli") as ns, private_netns("bcliown") as busy, \
            tempfile.TemporaryDirectory(prefix="sl-bcli-") as tmp:
        with entered(busy):
            lst = socket.create_server(("127.0.0.1", 0))
            holder = spawn_holder([lst.detach()], stop_r)
        try:
            with entered(ns):
                walls, cpus, problems, walk = run_rounds(args, ns, busy, tmp)
        finally:
            os.close(stop_w)
            os.close(stop_r)
            holder.wait()
    print(machine_load(), file=sys.stderr)
    report(args, walls, cpus, problems, walk)


def run_rounds(args, ns: str, busy: str, tmp: str):
    """Every command, round-robin, from the thread's (idle) namespace ``ns``: (walls,
    CPUs, problems by label, one bare walk s)."""
    run_file = os.path.join(tmp, "run.jsonl")
    subprocess.run([sys.executable, "-m", "harness", "record", "-o", run_file,
                    "--interval", "0.1", "--duration", "1"], check=True, cwd=tmp,
                   env=child_env(tmp), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    commands = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ('python -c "import click"', [sys.executable, "-c", "import click"]),
        ("ss -s", ["ss", "-s"]),
        ("ss -tan", ["ss", "-tan"]),
        *socklife_commands(sys.executable, ns, busy, run_file),
    ]
    for i, python in enumerate(args.also, 1):
        commands += socklife_commands(python, ns, busy, run_file, tag=f"[also {i}] ")
    envs = {}
    for i, checkout in enumerate(args.checkout, 1):
        more = socklife_commands(sys.executable, ns, busy, run_file, tag=f"[checkout {i}] ")
        envs.update({label: {"PYTHONPATH": os.path.abspath(checkout)} for label, _ in more})
        commands += more
    walls = {label: [] for label, _ in commands}
    cpus = {label: [] for label, _ in commands}
    problems: dict[str, str] = {}
    for r in range(args.repeat + 1):  # round 0 warms the bytecode cache, not counted
        print(f"  round {r}/{args.repeat}", file=sys.stderr)
        for label, argv in commands:
            wall, cpu, problem = run_once(argv, tmp, envs.get(label))
            if problem:
                problems.setdefault(label, problem)
            if r:
                walls[label].append(wall)
                cpus[label].append(cpu)
    walk, _ = timed(bare_dump, args.repeat)
    return walls, cpus, problems, walk


def report(args, walls: dict, cpus: dict, problems: dict, walk: float) -> None:
    for label, problem in problems.items():
        print(f"FAILED: {label}: {problem}")
    med = {label: statistics.median(ts) * 1000 for label, ts in walls.items()}
    cpu = {label: statistics.median(ts) * 1000 for label, ts in cpus.items()}
    base, ss_s, ss_tan = med["python -c pass"], med["ss -s"], med["ss -tan"]
    print(f"\nmedian of {args.repeat} runs each, round-robin, in an idle namespace;"
          f" PYTHON = {sys.executable}")
    for i, python in enumerate(args.also, 1):
        print(f"[also {i}] = {python}")
    for i, checkout in enumerate(args.checkout, 1):
        print(f"[checkout {i}] = PYTHONPATH={os.path.abspath(checkout)}")
    print(f"one kernel walk of the empty namespace (a bare dump, in process): {walk * 1e3:.2f}"
          " ms: the established hash is shared by every namespace of the host, so this is"
          " the walk of the rest of the host's sockets")
    print()
    print(f"| {'command':<58} | {'wall ms':>8} | {'CPU ms':>6} | {'- python':>8} "
          f"| {'x python':>8} | {'x ss -s':>7} | {'x ss -tan':>9} |")
    print(f"|{'-' * 60}|{'-' * 9}:|{'-' * 7}:|{'-' * 9}:|{'-' * 9}:|{'-' * 8}:|{'-' * 10}:|")
    for label in walls:
        t = med[label]
        print(f"| {label:<58} | {t:8.1f} | {cpu[label]:6.1f} | {t - base:+8.1f} "
              f"| {t / base:8.2f} | {t / ss_s:7.1f} | {t / ss_tan:9.1f} |")
    print()
    for label in TARGETS:
        over = med[label] - base
        print(f"target {label}: +{over:.0f} ms over python -c pass "
              f"({'met' if over <= TARGET_MS else 'NOT met'}: within {TARGET_MS:.0f} ms)")
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
