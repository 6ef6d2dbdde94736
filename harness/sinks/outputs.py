"""Output paths: checked before any work, written without replacing what is not ours.

Every command that writes a file goes through here (report -o, check --junit and
--save-baseline, scenario run --report, demo --report and --record, record -o, the
Locust plugin's --socklife-record and ``<prefix>_tcp.csv``).

``check_outputs({"-o": path}, inputs={"the input": run})`` runs before the work starts
and raises UsageProblem in one line when a path cannot be written: a directory, a
missing or read-only folder, a socket, the same file as an input (compared by device
and inode, so a symlink or a second name of the input is caught) or as another output.

What an existing path is decides how it is written:
- a regular file, or a new one: ``write_whole`` writes a temporary file in the same
  folder and renames it over the path, so a reader never sees half a file and a failed
  write leaves the old one as it was; through a symlink the *target* is replaced, the
  link stays; a file with other hard links is written in place, so they keep sharing it;
- anything else (a device such as /dev/null, a FIFO, a terminal, /dev/stdout) is opened
  and written in place, never replaced (renaming over /dev/null, as root, would have
  turned the system's /dev/null into a regular file).

Streams (``LineFile``: the JSON Lines of a recording, the CSV rows) are always written
in place, one complete line at a time: a recording is read while it runs, and one cut
short by a kill is still a file of complete lines (docs/ci.md). A line that cannot be
written whole is taken back (the file is truncated to the last complete line) and
LineWriteError says how many lines were kept.
"""

from __future__ import annotations

import contextlib
import os
import stat

from harness.errors import UsageProblem

_FD_LINKS = ("/proc/", "/dev/fd/")  # /dev/stdout -> /proc/self/fd/1 -> the caller's file


class LineWriteError(UsageProblem):
    """A line could not be written whole; the file holds ``kept`` complete lines."""

    def __init__(self, path: str, exc: OSError, kept: int, what: str = "lines"):
        super().__init__(f"cannot write {path}: {_reason(exc)}; {kept} complete {what} kept")
        self.path, self.kept, self.errno = path, kept, exc.errno


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _problem(path: str, why: str) -> UsageProblem:
    return UsageProblem(f"cannot write {path}: {why}")


def _through_fd_link(path: str) -> bool:
    """Whether ``path`` is (a symlink to) one of the caller's open files (/dev/stdout,
    /dev/fd/N, /proc/self/fd/N): those are written in place, appending."""
    p = os.path.abspath(path)
    for _hop in range(40):
        if p.startswith(_FD_LINKS):
            return True
        try:
            target = os.readlink(p)
        except OSError:
            return False
        p = os.path.normpath(os.path.join(os.path.dirname(p), target))
    return False


def _stat(path: str) -> os.stat_result | None:
    """The path's status (symlinks followed); None when nothing is there yet."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ENOTDIR (a folder in the path is a file), ELOOP, EACCES
        raise _problem(path, _reason(exc)) from None


def _check_one(label: str, path: str) -> os.stat_result | None:
    if not path:
        raise UsageProblem(f"{label}: an empty file name")
    st = _stat(path)
    if st is None:
        if path.endswith(os.sep):
            raise _problem(path, "no such directory")
        folder = os.path.dirname(os.path.realpath(path))
        if not os.path.isdir(folder):
            raise _problem(path, f"no folder {folder}")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _problem(path, f"folder {folder} is not writable")
        return None
    if stat.S_ISDIR(st.st_mode):
        raise _problem(path, "it is a directory")
    if stat.S_ISSOCK(st.st_mode):
        raise _problem(path, "it is a socket")
    if not os.access(path, os.W_OK):
        raise _problem(path, "permission denied")
    if stat.S_ISREG(st.st_mode) and not _through_fd_link(path) and st.st_nlink == 1:
        folder = os.path.dirname(os.path.realpath(path))
        if not os.access(folder, os.W_OK | os.X_OK):  # the rename needs the folder
            raise _problem(path, f"folder {folder} is not writable")
    return st


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def check_outputs(outputs: dict[str, str | None], inputs: dict[str, str | None] | None = None,
                  ) -> None:
    """Raise UsageProblem unless every output (``{label: path}``, None: not asked for)
    can be written, none is an input's file and no two outputs are one file.

    ``inputs`` (``{label: path}``) are files the command reads or that something else
    writes (Locust's own --html, --csv files): an output that is one of them would be
    destroyed. Two outputs may share a device (--junit /dev/null --save-baseline
    /dev/null); two regular files may not.
    """
    taken: list[tuple[str, str, os.stat_result]] = []
    new: dict[str, str] = {}  # realpath of files not there yet -> label
    for label, path in (inputs or {}).items():
        if path:
            try:
                taken.append((label, path, os.stat(path)))
            except FileNotFoundError:  # Locust's --html: written at the end
                new[os.path.realpath(path)] = label
            except OSError:
                pass
    for label, path in outputs.items():
        if path is None:
            continue
        st = _check_one(label, path)
        if st is None:
            real = os.path.realpath(path)
            if real in new:
                raise UsageProblem(f"{label} {path} is the same file as {new[real]}")
            new[real] = label
            continue
        for other, other_path, other_st in taken:
            if _same(st, other_st):
                where = "" if other_path == path else f" {other_path}"
                raise UsageProblem(f"{label} {path} is the same file as {other}{where}: "
                                   "it would be overwritten")
        if stat.S_ISREG(st.st_mode):
            taken.append((label, path, st))


def _new_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def write_whole(path: str, binary: bool = False):
    """Yield a file to write all of ``path`` into (text unless ``binary``); see the
    module's doc for how each kind of path is written. Any OSError is a UsageProblem
    ("cannot write PATH: reason"); an exception leaves the old file as it was."""
    st = _check_one("output", path)
    mode = "wb" if binary else "w"
    enc = None if binary else "utf-8"
    if st is not None and (not stat.S_ISREG(st.st_mode) or st.st_nlink > 1
                           or _through_fd_link(path)):
        in_place = ("a" if _through_fd_link(path) else "w") + ("b" if binary else "")
        try:
            with open(path, in_place, encoding=enc) as f:
                yield f
        except OSError as exc:
            raise _problem(path, _reason(exc)) from None
        return
    import tempfile  # only here: its imports (random, shutil) cost start-up elsewhere

    target = os.path.realpath(path)  # a symlink's target is replaced, not the link
    folder = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(target)}.",
                                   suffix=".tmp")
    except OSError as exc:
        raise _problem(path, _reason(exc)) from None
    try:
        with os.fdopen(fd, mode, encoding=enc) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if st is None:
            os.chmod(tmp, _new_mode())
        else:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
            if os.geteuid() == 0:
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise _problem(path, _reason(exc)) from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def write_text(path: str, text: str) -> None:
    """All of ``path`` is ``text`` (write_whole)."""
    with write_whole(path) as f:
        f.write(text)


class LineFile:
    """A file written one complete line at a time, in place (see the module's doc).

    ``write(text)`` writes ``text`` (one line, its newline included) with unbuffered
    writes; when one fails the file is cut back to the last complete line and
    LineWriteError is raised (``what`` names the lines in its message: "samples").
    After a failure nothing more is written.
    """

    def __init__(self, path: str, what: str = "lines"):
        self.path, self.what = path, what
        self.lines = 0
        self.failed: LineWriteError | None = None
        append = _through_fd_link(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else 0)
        st = _check_one("output", path)
        if st is not None and stat.S_ISREG(st.st_mode) and not append:
            flags |= os.O_TRUNC
        try:
            self._fd = os.open(path, flags, 0o666)
        except OSError as exc:
            raise _problem(path, _reason(exc)) from None
        self._regular = stat.S_ISREG(os.fstat(self._fd).st_mode)
        self._end = os.lseek(self._fd, 0, os.SEEK_END) if self._regular else 0

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def write(self, text: str, count: bool = True) -> None:
        """Write one line whole or not at all; ``count``: it is one of the ``what``."""
        if self.failed is not None:
            raise self.failed
        data = text.encode("utf-8")
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            self._take_back()
            self.failed = LineWriteError(self.path, exc, self.lines, self.what)
            raise self.failed from None
        except BaseException:  # interrupted between two writes of one line
            self._take_back()
            raise
        self._end += len(data) if self._regular else 0
        self.lines += count

    def _take_back(self) -> None:
        if self._regular:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._end)
                os.lseek(self._fd, self._end, os.SEEK_SET)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            with contextlib.suppress(OSError):
                os.close(fd)
