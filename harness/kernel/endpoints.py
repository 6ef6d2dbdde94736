"""Socket addresses as socklife writes them everywhere: ``ip:port``, ``[v6]:port``.

    >>> endpoint("127.0.0.1", 80), endpoint("fd00::1", 80)
    ('127.0.0.1:80', '[fd00::1]:80')
"""


def endpoint(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
