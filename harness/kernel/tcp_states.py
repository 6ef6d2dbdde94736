"""The kernel's TCP states by name (include/net/tcp_states.h), in a module of their own:
readers of recorded runs (check, report, the Locust totals) name states without loading
the netlink wire format."""

from __future__ import annotations

# The index is the kernel's TCP_* value.
STATE_NAMES = (
    "UNKNOWN", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
    "NEW_SYN_RECV",
)
# The states a user sees (README's state table); NEW_SYN_RECV request sockets are
# reported as SYN_RECV by inet_diag, so they never reach us under their own number.
STATES = STATE_NAMES[1:12]
NOT_TIME_WAIT = [s for s in STATES if s != "TIME_WAIT"]  # what a dump decodes
STATE_CODES = {name: code for code, name in enumerate(STATE_NAMES)}
