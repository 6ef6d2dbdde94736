"""A full disk (or any failed write): lines are written whole or not at all, the command
ends with one line saying how many complete samples were kept (exit 2), and the file
reads back as a run. /dev/full without root; a small tmpfs of the test's own (root)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fs_util import small_tmpfs

from harness.cli import main
from harness.errors import UsageProblem
from harness.sinks.outputs import LineFile, LineWriteError, write_text


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("socklife: error: "), err
    return lines[0]


def test_record_onto_dev_full_is_one_line_and_exit_2(capsys):
    code = main(["record", "-o", "/dev/full", "--interval", "0.05", "--duration", "1"])
    line = one_error_line(capsys.readouterr().err)
    assert code == 2
    assert line == ("socklife: error: cannot write /dev/full: No space left on device; "
                    "0 complete samples kept")


def test_demo_record_onto_dev_full_stops_the_demo_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "harness", "demo", "--duration", "60",
                           "--record", "/dev/full"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert one_error_line(proc.stderr) == (
        "socklife: error: cannot write /dev/full: No space left on device; "
        "0 complete samples kept")


@pytest.mark.root
def test_a_line_cut_by_a_full_disk_is_taken_back(tmp_path):
    with small_tmpfs(tmp_path / "mnt", "8k") as mnt:  # two pages: 8192 bytes
        out = LineFile(str(mnt / "r.jsonl"), "samples")
        line = "x" * 999 + "\n"
        with pytest.raises(LineWriteError) as info:
            for _ in range(20):
                out.write(line)
        out.close()
        data = (mnt / "r.jsonl").read_bytes()
        assert len(data) == 8000 and data == line.encode() * 8  # the 9th was cut: gone
        assert str(info.value) == (f"cannot write {mnt}/r.jsonl: No space left on device; "
                                   "8 complete samples kept")
        with pytest.raises(LineWriteError):  # nothing more after a failure
            out.write("{}\n")


@pytest.mark.root
def test_record_until_the_disk_is_full_keeps_complete_samples(tmp_path, capsys):
    with small_tmpfs(tmp_path / "mnt", "64k") as mnt:
        run = mnt / "r.jsonl"
        code = main(["record", "-o", str(run), "--interval", "0.05"])  # until full
        line = one_error_line(capsys.readouterr().err)
        text = run.read_text()
        assert code == 2 and text.endswith("\n")
        samples = [json.loads(x) for x in text.splitlines()]
        assert samples and all("states" in s for s in samples)  # no summary: it did not fit
        assert line == (f"socklife: error: cannot write {run}: No space left on device; "
                        f"{len(samples)} complete samples kept")
        # a reader takes it as a run that was cut short (no summary line)
        assert main(["check", str(run), "--max", "CLOSE_WAIT=1000000"]) == 0
        assert "no summary line" in capsys.readouterr().err


@pytest.mark.root
def test_a_report_that_does_not_fit_leaves_the_old_one(tmp_path, capsys, fixture_path):
    with small_tmpfs(tmp_path / "mnt", "64k") as mnt:  # plotly alone is 4 MB
        old = mnt / "run.html"
        old.write_text("the report of yesterday")
        code = main(["report", fixture_path("check", "leaky.jsonl"), "-o", str(old)])
        line = one_error_line(capsys.readouterr().err)
        assert code == 2 and line == (f"socklife: error: cannot write {old}: "
                                      "No space left on device")
        assert old.read_text() == "the report of yesterday"
        assert [p.name for p in mnt.iterdir()] == ["run.html"]  # the temp file is gone
        with pytest.raises(UsageProblem, match="No space left on device"):
            write_text(str(mnt / "big.txt"), "x" * 100_000)
        assert not (mnt / "big.txt").exists()


@pytest.mark.root
def test_a_read_only_folder_is_refused_before_the_work(tmp_path, capsys, fixture_path):
    with small_tmpfs(tmp_path / "mnt", "64k") as mnt:
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        for argv in (["record", "-o", str(mnt / "r.jsonl"), "--duration", "60"],
                     ["report", fixture_path("check", "leaky.jsonl"), "-o",
                      str(mnt / "r.html")],
                     ["check", fixture_path("check", "leaky.jsonl"), "--max", "LISTEN=9",
                      "--junit", str(mnt / "c.xml")]):
            assert main(argv) == 2
            assert "is not writable" in one_error_line(capsys.readouterr().err)


@pytest.mark.root
def test_demo_record_until_the_disk_is_full_keeps_complete_samples(tmp_path, capsys):
    with small_tmpfs(tmp_path / "mnt", "64k") as mnt:
        (mnt / "filler").write_bytes(b"\0" * (52 * 1024))  # room for a few samples
        run = mnt / "demo.jsonl"
        proc = subprocess.run([sys.executable, "-m", "harness", "demo", "--duration", "60",
                               "--rate", "50", "--record", str(run)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
        line = one_error_line(proc.stderr)
        text = run.read_text()
        samples = [json.loads(x) for x in text.splitlines()]
        assert proc.returncode == 2 and text.endswith("\n") and samples
        assert line == (f"socklife: error: cannot write {run}: No space left on device; "
                        f"{len(samples)} complete samples kept")
        assert main(["check", str(run), "--max", "CLOSE_WAIT=1000000"]) == 0
        assert "no summary line" in capsys.readouterr().err
