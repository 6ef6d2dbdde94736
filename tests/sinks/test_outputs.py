"""harness.sinks.outputs: what each kind of path becomes when written, and the checks
made before any work (writable, not an input, not another output)."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from fs_util import kind, null_device

from harness.errors import UsageProblem
from harness.sinks.outputs import LineFile, check_outputs, write_text


def write_both_ways(path, text="new\n"):
    """Write ``text`` with write_text (whole files) and then with LineFile (streams)."""
    write_text(str(path), text)
    out = LineFile(str(path))
    out.write(text)
    out.close()


def test_a_new_file_is_made_with_the_umask_mode(tmp_path):
    path = tmp_path / "new.html"
    old = os.umask(0o022)
    try:
        write_text(str(path), "page")
    finally:
        os.umask(old)
    assert path.read_text() == "page" and stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["new.html"]  # no temp file left


def test_a_regular_file_is_replaced_whole_keeping_its_mode(tmp_path):
    path = tmp_path / "old.html"
    path.write_text("old content, longer than the new one")
    path.chmod(0o600)
    before = path.stat().st_ino
    write_text(str(path), "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_ino != before  # renamed over: a reader never saw half a page


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path):
    from harness.sinks.outputs import write_whole

    path = tmp_path / "keep.html"
    path.write_text("the old report")
    with pytest.raises(RuntimeError), write_whole(str(path)) as f:
        f.write("half a pa")
        raise RuntimeError("the renderer broke")
    assert path.read_text() == "the old report"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.html"]


def test_a_symlink_to_a_regular_file_replaces_the_target_not_the_link(tmp_path):
    target = tmp_path / "real.html"
    target.write_text("old")
    link = tmp_path / "link.html"
    link.symlink_to(target)
    write_text(str(link), "new")
    assert kind(link) == "symlink" and target.read_text() == "new"
    dangling = tmp_path / "dangling.html"
    dangling.symlink_to(tmp_path / "made.html")
    write_text(str(dangling), "made")
    assert kind(dangling) == "symlink" and (tmp_path / "made.html").read_text() == "made"


def test_a_file_with_two_names_is_written_in_place(tmp_path):
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text("old")
    os.link(a, b)
    write_text(str(a), "new")
    assert b.read_text() == "new" and a.stat().st_ino == b.stat().st_ino


@pytest.mark.root
def test_a_device_is_written_in_place_never_replaced(tmp_path):
    dev = null_device(tmp_path / "null")
    write_both_ways(dev)
    assert kind(dev) == "char device"
    link = tmp_path / "to-null"
    link.symlink_to(dev)
    write_both_ways(link)
    assert kind(link) == "symlink" and kind(dev) == "char device"


def test_a_fifo_is_written_in_place(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    def read():
        with open(fifo) as f:
            got.append(f.read())

    reader = threading.Thread(target=read)
    reader.start()
    write_text(str(fifo), "through the pipe\n")
    reader.join(10)
    assert got == ["through the pipe\n"] and kind(fifo) == "fifo"


def test_an_open_descriptor_path_is_appended_to_not_replaced(tmp_path):
    """/dev/stdout of a `>> log` redirection: /proc/self/fd/N, appended to in place."""
    log = tmp_path / "log.txt"
    log.write_text("earlier\n")
    inode = log.stat().st_ino
    with open(log, "a") as held:
        write_text(f"/proc/self/fd/{held.fileno()}", "report\n")
        out = LineFile(f"/dev/fd/{held.fileno()}")
        out.write("line\n")
        out.close()
    assert log.read_text() == "earlier\nreport\nline\n" and log.stat().st_ino == inode


def test_a_line_file_keeps_the_inode_and_truncates(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text("an older recording\n" * 10)
    inode = path.stat().st_ino
    out = LineFile(str(path))
    out.write("{}\n")
    out.close()
    assert path.read_text() == "{}\n" and path.stat().st_ino == inode


@pytest.mark.parametrize("make, says", [
    (lambda d: d, "it is a directory"),
    (lambda d: d / "no" / "such" / "x.html", "no folder"),
    (lambda d: f"{d}/missing-dir/", "no such directory"),
    (lambda d: (d / "file").write_text("x") and d / "file" / "x.html", "Not a directory"),
    (lambda d: "", "an empty file name"),
])
def test_paths_that_cannot_be_written_are_one_line(tmp_path, make, says):
    path = make(tmp_path)
    with pytest.raises(UsageProblem, match=says) as info:
        check_outputs({"-o": str(path)})
    assert "\n" not in str(info.value)
    with pytest.raises(UsageProblem, match=says):
        write_text(str(path), "x")
    with pytest.raises(UsageProblem, match=says):
        LineFile(str(path))


def test_a_socket_path_is_refused(tmp_path):
    import socket

    where = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(where))
        with pytest.raises(UsageProblem, match="it is a socket"):
            check_outputs({"-o": str(where)})


def test_an_output_that_is_an_input_is_refused_by_inode_not_by_name(tmp_path):
    run = tmp_path / "r.jsonl"
    run.write_text("{}\n")
    (tmp_path / "alias.jsonl").symlink_to(run)
    os.link(run, tmp_path / "hard.jsonl")
    for name in ("r.jsonl", "alias.jsonl", "hard.jsonl", "./r.jsonl"):
        with pytest.raises(UsageProblem, match="is the same file as the input"):
            check_outputs({"-o": str(tmp_path / name)}, inputs={"the input": str(run)})
    assert run.read_text() == "{}\n"
    check_outputs({"-o": str(tmp_path / "other.html")}, inputs={"the input": str(run)})


def test_two_outputs_may_not_be_one_file_unless_a_device(tmp_path):
    new = str(tmp_path / "x.xml")
    with pytest.raises(UsageProblem, match=r"--save-baseline .* is the same file as --junit"):
        check_outputs({"--junit": new, "--save-baseline": new})
    (tmp_path / "y.xml").write_text("")
    with pytest.raises(UsageProblem, match="is the same file as --junit"):
        check_outputs({"--junit": str(tmp_path / "y.xml"),
                       "--save-baseline": str(tmp_path / "./y.xml")})
    check_outputs({"--junit": "/dev/null", "--save-baseline": "/dev/null"})
