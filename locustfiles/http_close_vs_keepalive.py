"""HTTP with `Connection: close` beside HTTP keep-alive, and what each leaves in the kernel.

Two kinds of Users hit the same server: `CloseUser` sends `Connection: close` on every
request (a new TCP connection each time), `KeepAliveUser` reuses one connection.

What you see: in Locust's stats the `close` requests are slower (each pays a handshake)
and in the "TCP states" tab TIME_WAIT climbs by the close rate every second, on the
*server* side (the server closes first after answering `Connection: close`), towards
about 60 s worth of connections; keep-alive adds one ESTABLISHED pair per User and no
TIME_WAIT. Without --host an embedded HTTP/1.1 server on 127.0.0.1 is started.

    locust -f locustfiles/http_close_vs_keepalive.py --headless -u 10 -r 10 -t 20s --csv http
"""

from locust import HttpUser, events, task

from harness.load import plugin  # noqa: F401  (the --socklife-* arguments and the sampler)
from harness.load.target import own_http_target


@events.init.add_listener
def _target(environment, **_kw):
    own_http_target(environment)


class CloseUser(HttpUser):
    """A new connection per request: `Connection: close`."""

    @task
    def close(self):
        self.client.get("/", headers={"Connection": "close"}, name="close")


class KeepAliveUser(HttpUser):
    """One connection, reused: HTTP/1.1 keep-alive."""

    @task
    def keep_alive(self):
        self.client.get("/", name="keep-alive")
