"""`socklife watch` in a real 80x24 terminal (tmux): the numbers it shows, and `q`."""

import os
import re
import shutil
import subprocess
import sys
import threading
import time

import pytest
from sockets_util import listener, pair, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


def tmux(*args, check=True):
    return subprocess.run(["tmux", *args], check=check, capture_output=True, text=True)


def screen(session):
    return tmux("capture-pane", "-p", "-t", session, check=False).stdout


def count_on(text, state):
    m = re.search(rf"^{state}\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def test_watch_shows_the_sockets_and_quits_on_q():
    lst = listener(backlog=7)
    port = lst.getsockname()[1]
    est_c, est_s = pair(lst)
    cw_c, cw_s = pair(lst)
    cw_c.close()  # cw_s goes CLOSE_WAIT, cw_c FIN_WAIT2
    session = f"sl-watch-{os.getpid()}"
    cmd = (f"cd {os.getcwd()} && {sys.executable} -m harness watch --interval 0.2 "
           f"--port {port}; stty -a | grep -o -- '-*icanon'; sleep 30")
    tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", cmd)
    try:
        cw_pattern = rf"127\.0\.0\.1:{port}\s+127\.0\.0\.1:\d+\s+([\d.]+)s\s+\S+/(\d+)"

        def ready():  # the CLOSE_WAIT row has an age, and its owner (after 0.5 s)
            text = screen(session)
            return text if "CLOSE_WAIT 1" in text and re.search(cw_pattern, text) \
                and count_on(text, "ESTABLISHED") == 2 else None

        text = wait_for(ready, 20, 0.2)
        assert text, screen(session)
        lines = text.splitlines()
        assert lines[0].startswith("socklife watch")  # the top still shows: it fits 24 rows
        assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
        assert count_on(text, "ESTABLISHED") == 2  # est_c and est_s
        assert count_on(text, "CLOSE_WAIT") == 1
        assert count_on(text, "FIN_WAIT2") == 1
        assert count_on(text, "LISTEN") == 1
        row = re.search(rf"^127\.0\.0\.1:{port}\s+(\d+)\s+(\d+)\s+([\d.]+)", text, re.M)
        assert row and int(row.group(2)) == 7, text
        cw_row = re.search(cw_pattern, text)
        assert cw_row and int(cw_row.group(2)) == os.getpid(), text
        first_age = float(cw_row.group(1))
        time.sleep(0.6)
        later = re.search(rf"127\.0\.0\.1:{port}\s+127\.0\.0\.1:\d+\s+([\d.]+)s",
                          screen(session))
        assert later and float(later.group(1)) > first_age
        tmux("send-keys", "-t", session, "q")
        after = wait_for(lambda: "icanon" in screen(session) and screen(session), 10, 0.1)
        assert after and "socklife watch" not in after, screen(session)
        assert re.search(r"^icanon$", after, re.M), after  # cbreak mode was undone
    finally:
        tmux("kill-session", "-t", session, check=False)
        for s in (est_c, est_s, cw_s, lst):
            s.close()


def test_watch_into_a_pipe_prints_frame_after_frame():
    lst = listener(backlog=5)
    port = lst.getsockname()[1]
    c, s = pair(lst)
    proc = subprocess.Popen([sys.executable, "-m", "harness", "watch", "--interval", "0.1",
                             "--port", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(30, proc.kill)  # no frame in a pipe: fail, don't hang
    watchdog.start()
    try:
        frames = []
        for line in proc.stdout:
            if line.startswith("socklife watch"):
                frames.append([])
            elif frames:
                frames[-1].append(line)
            if len(frames) == 3:
                break
        text = "".join(frames[1])
        assert count_on(text, "ESTABLISHED") == 2 and count_on(text, "LISTEN") == 1
        assert f"127.0.0.1:{port}" in text and "\x1b[?1049h" not in "".join(frames[0])
    finally:
        watchdog.cancel()
        proc.terminate()
        _, err = proc.communicate(timeout=20)
        c.close(), s.close(), lst.close()
    assert "Traceback" not in err
