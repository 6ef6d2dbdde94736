"""The target a locustfile starts for itself when ``--host`` is not given.

``own_target(environment, behavior=...)`` starts a harness ``Server`` on loopback in the
process that drives the run (the master, or the single process of a local run), points
``environment.host`` at it (workers get the host from the master) and stops it when
Locust quits.
"""

from __future__ import annotations

from locust.runners import WorkerRunner

from harness.load.http_target import HttpTarget
from harness.sockets import Server


def _needs_target(environment) -> bool:
    return not environment.host and not isinstance(environment.runner, WorkerRunner)


def _stop_at_quit(environment, server) -> None:
    def stop(**_kw):
        server.stop()

    environment.events.quitting.add_listener(stop)


def own_target(environment, **server_args) -> Server | None:
    """Start a Server unless ``--host`` was given or this is a worker; None when not."""
    if not _needs_target(environment):
        return None
    server = Server(**server_args).start()
    environment.host = f"tcp://{server.host}:{server.port}"
    _stop_at_quit(environment, server)
    return server


def own_http_target(environment) -> HttpTarget | None:
    """The same with the embedded HTTP server (http_target.py)."""
    if not _needs_target(environment):
        return None
    server = HttpTarget().start()
    environment.host = server.url
    _stop_at_quit(environment, server)
    return server

