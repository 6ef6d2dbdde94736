"""Server and client under gevent's monkey-patching, as inside a Locust process: the
selectors loops become cooperative and must still serve and finish every connection."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("gevent")

CODE = """
from gevent import monkey; monkey.patch_all()
import json
from harness.sockets import Server, run_connect
with Server("close-first") as srv:
    r = run_connect("127.0.0.1", srv.port, count=300, concurrency=10, closer="server")
print(json.dumps({"result": r.to_dict(), "accepted": srv.accepted, "closed": srv.closed}))
"""


@pytest.mark.live
def test_server_and_client_share_one_gevent_process():
    out = subprocess.run([sys.executable, "-c", CODE], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    d = json.loads(out)
    assert (d["result"]["ok"], d["result"]["errors"]) == (300, {})
    assert d["accepted"] == d["closed"] == 300
