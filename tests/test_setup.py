"""The README's set-up: two one-line commands, the second is what CI runs, the first
works on Debian's own externally managed python3 in a fresh copy of the repository."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest
from paths import ROOT

SYSTEM_PYTHON = "/usr/bin/python3"
POLICY = "/usr/sbin/policy-rc.d"
# apt-get, retried while another apt holds its lock: `apt-get update` does not wait for
# the lists lock, and other test runs on this machine may be installing at the same time.
APT_WAITING = """#!/bin/sh
n=0
while :; do
  /usr/bin/apt-get -o DPkg::Lock::Timeout=300 "$@" 2>"$0.err"; rc=$?
  cat "$0.err" >&2
  grep -q 'Could not get lock' "$0.err" && [ $n -lt 150 ] || exit $rc
  n=$((n + 1)); sleep 2
done
"""


def setup_commands() -> list[str]:
    """The shell commands of the README's "Set-up" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, re.S)


def test_two_one_line_commands_into_a_venv():
    commands = setup_commands()
    assert len(commands) == 2 and all("\n" not in c for c in commands)
    demo, suite = commands
    for command in commands:
        assert command.startswith("apt-get update -qq && ")
        assert "python3 -m venv .venv && .venv/bin/pip install -q " in command
        assert command.count("pip install") == 1  # never into the system's Python
    assert demo.endswith(" && .venv/bin/socklife demo")
    assert suite.endswith(" && .venv/bin/python -m pytest")


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    commands = [line for line in script
                if line.strip() and not line.startswith(("#", "set ", "cd "))]
    assert commands == [setup_commands()[1]]


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("had_policy", [False, True])
def test_test_packages_install_without_starting_services(tmp_path, had_policy):
    """The test command's install step, with apt-get replaced by a stub that asks the
    policy what a package's postinst would ask (deb-systemd-invoke start prometheus)."""
    install = setup_commands()[1].split(" && python3 -m venv", 1)[0]
    policy = tmp_path / "policy-rc.d"
    assert install.count(POLICY) == 1
    install = install.replace(POLICY, str(policy))
    if had_policy:  # a Docker image's own, or an administrator's: left as it is
        _stub(tmp_path, "policy-rc.d", "#!/bin/sh\nexit 104\n")
    _stub(tmp_path, "apt-get", '#!/bin/sh\n[ "$1" = update ] && exit 0\n'
          f'{policy} prometheus.service start; echo $? > {tmp_path}/asked\n'
          'echo "$@" > ' f'{tmp_path}/installed\n')
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", install], env=env, check=True, timeout=30)
    asked = (tmp_path / "asked").read_text().strip()
    assert asked == ("104" if had_policy else "101")  # 101: do not start
    assert policy.exists() == had_policy
    installed = (tmp_path / "installed").read_text().split()
    assert "--no-install-recommends" in installed  # no prometheus-node-exporter
    assert {"prometheus", "chromium", "tmux", "python3-venv"} <= set(installed)


def _externally_managed() -> bool:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return False
    probe = ("import sysconfig, os, venv, ensurepip; print(os.path.exists(os.path.join("
             "sysconfig.get_path('stdlib'), 'EXTERNALLY-MANAGED')))")
    done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, text=True)
    return done.stdout.strip() == "True"


def _copy_repository(dest: Path) -> None:
    """The files git knows here (committed or not, untracked but not ignored)."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


@pytest.mark.root
@pytest.mark.timeout(900)
@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs a git checkout to copy")
@pytest.mark.skipif(not _externally_managed(),
                    reason=f"needs Debian's externally managed {SYSTEM_PYTHON} with venv")
def test_first_command_on_debian_python():
    """PEP 668: the system Python refuses pip; the README's command still ends with the
    demo's summary, in a copy of the repository where `python3` is Debian's own."""
    refused = subprocess.run([SYSTEM_PYTHON, "-m", "pip", "install", "--dry-run", "."],
                             cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode != 0
    assert ("externally-managed-environment" in refused.stderr
            or "No module named pip" in refused.stderr), refused.stderr
    with tempfile.TemporaryDirectory(prefix="sl-setup-") as tmp:
        bin_dir, copy = Path(tmp, "bin"), Path(tmp, "socklife")
        bin_dir.mkdir()
        copy.mkdir()
        (bin_dir / "python3").symlink_to(SYSTEM_PYTHON)
        _stub(bin_dir, "apt-get", APT_WAITING)
        _copy_repository(copy)
        env = {k: v for k, v in os.environ.items()
               if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYENV_VERSION")}
        env["PATH"] = f"{bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        done = subprocess.run(["sh", "-c", setup_commands()[0]], cwd=copy, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=840)
        tail = [line for line in done.stdout.splitlines() if line.strip()][-8:]
        assert done.returncode == 0, "\n".join(tail)
        assert any(" short connections in " in line for line in tail), "\n".join(tail)
        assert tail[-1].startswith("accept queue fill max "), "\n".join(tail)
        config = (copy / ".venv" / "pyvenv.cfg").read_text()
        assert re.search(r"^executable = /usr/bin/python3", config, re.M), config
