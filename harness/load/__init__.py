"""The Locust plugin: the kernel's TCP sockets sampled beside the load.

``import harness.load`` (or ``from harness.load import plugin``) in a locustfile adds the
``--socklife-*`` arguments and the listeners; nothing opens a socket before ``init``.
arguments (options and rules), hostkey (one sampler per host and namespace), source
(where samples come from), collector (per-host series, totals, run summary, checks),
csv_sink (``<prefix>_tcp.csv``), webui (the "TCP states" tab and chart page), tcp_user
(a raw TCP User with connect/request timings), plugin (the wiring into Locust's events).
May import harness.kernel, harness.observe, harness.sockets and harness.sinks.
"""

from harness.load import plugin  # noqa: F401  (registers the arguments and listeners)
