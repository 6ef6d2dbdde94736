"""What a TIME_WAIT socket means for a new connection: how long it holds its port, and
whether tcp_tw_reuse lets connect() take that port anyway. Apart from the forecast
(ports.py), so that the findings' readers of recorded runs need no kernel module.

    >>> reuse_applies(2, "127.0.0.1:8080"), reuse_applies(2, "10.0.0.1:80")
    (True, False)
"""

from __future__ import annotations

TIME_WAIT_S = 60.0  # TCP_TIMEWAIT_LEN, fixed in Linux


def reuse_applies(tw_reuse: int, remote: str) -> bool:
    """Whether tcp_tw_reuse lets connect() to ``remote`` take a TIME_WAIT socket's port.

    1: everywhere; 2 (the default): loopback destinations only; 0: never.
    """
    if tw_reuse == 1:
        return True
    if tw_reuse == 2:
        return remote.startswith("127.") or remote.startswith("[::1]:")
    return False
