"""Locust's --run-time is not cut short by a slow start (the plugin's init listener).

Locust arms the run-time timer with gevent.spawn_later, against the event loop's cached
clock, which has not moved since `import locust` made the hub. A locustfile that takes
seconds to import (as ours and the plugin did on a loaded machine) made a 6 s run end
after 0.1 s, before any User ran. The plugin brings the clock up to date at init.
"""

from __future__ import annotations

import re
from datetime import datetime

from load_util import finish, start_locust

SLOW_LOCUSTFILE = '''
import time

import harness.load  # noqa: F401
from locust import User, constant, task

started = time.perf_counter()
while time.perf_counter() - started < 2.0:  # a slow import: CPU work that never yields
    pass                                    # (time.sleep is gevent's here: it would)


class Idle(User):
    wait_time = constant(0.2)

    @task
    def nothing(self):
        pass
'''

STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _at(out: str, needle: str) -> datetime:
    line = next(line for line in out.splitlines() if needle in line)
    return datetime.strptime(STAMP.match(line).group(1), "%Y-%m-%d %H:%M:%S,%f")


def test_a_slow_locustfile_still_runs_for_its_run_time(tmp_path):
    path = tmp_path / "slow.py"
    path.write_text(SLOW_LOCUSTFILE)
    code, out = finish(start_locust(str(path), "--headless", "-u", "1", "-r", "1", "-t", "3s",
                                    "--socklife-port", "0", cwd=tmp_path))
    assert code == 0, out
    ran = (_at(out, "--run-time limit reached") - _at(out, "Run time limit set")).total_seconds()
    assert ran >= 2.9, out  # never shorter than asked (a loaded machine only adds)
