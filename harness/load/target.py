"""The target a locustfile starts for itself when ``--host`` is not given.

``own_target(environment, behavior=...)`` starts a harness ``Server`` on loopback in the
process that drives the run (the master, or the single process of a local run), points
``environment.host`` at it (workers get the host from the master) and stops it when
Locust quits.
"""

from __future__ import annotations

from locust.runners import WorkerRunner

from harness.sockets import Server


def own_target(environment, scheme: str = "tcp", **server_args) -> Server | None:
    """Start a Server unless ``--host`` was given or this is a worker; None when not."""
    if environment.host or isinstance(environment.runner, WorkerRunner):
        return None
    server = Server(**server_args).start()
    environment.host = f"{scheme}://{server.host}:{server.port}"

    def stop(**_kw):
        server.stop()

    environment.events.quitting.add_listener(stop)
    return server
