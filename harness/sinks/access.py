"""Who may read the exporter: its bearer token file and its TLS certificate, checked at
start-up with a one-line UsageProblem for anything wrong.

A token file holds one token: printable ASCII without spaces (RFC 6750's b64token and
more), surrounding whitespace and the final newline ignored. A token file that every
user of the host may read (or write) is refused, as ssh refuses such a key: the token
would keep out only other hosts. Group access is allowed (a group shared with a local
Prometheus, say).
"""

from __future__ import annotations

import os
import re
import ssl
import stat

from harness.errors import UsageProblem

TOKEN_MAX = 4096  # bytes
_TOKEN = re.compile(rb"[\x21-\x7e]+")


def access(listen: str, loopback: bool, token_file: str | None,
           allow_unauthenticated: bool, cert: str | None, key: str | None
           ) -> tuple[str | None, ssl.SSLContext | None]:
    """(token, TLS context) of the exporter's options; a UsageProblem for a non-loopback
    ``listen`` without a token or ``--allow-unauthenticated``, for both, for a
    certificate without its key (or the other way round), and for bad files."""
    if token_file is not None and allow_unauthenticated:
        raise UsageProblem("--token-file and --allow-unauthenticated contradict each other")
    if not loopback and token_file is None and not allow_unauthenticated:
        raise UsageProblem(f"--listen {listen} is not loopback: give --token-file FILE (or "
                           "--allow-unauthenticated, since samples name processes and pids)")
    if (cert is None) != (key is None):
        raise UsageProblem("--tls-cert needs --tls-key" if key is None
                           else "--tls-key needs --tls-cert")
    token = None if token_file is None else read_token(token_file)
    return token, None if cert is None else tls_context(cert, key)


def read_token(path: str, option: str = "--token-file") -> str:
    """The token in ``path``, or a UsageProblem naming ``option`` and what is wrong."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):  # a FIFO would block the open
            raise UsageProblem(f"{option} {path} is not a regular file")
        with open(path, "rb") as f:
            data = f.read(TOKEN_MAX + 1)
    except OSError as exc:
        raise UsageProblem(f"cannot read {option} {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(st.st_mode)
    if mode & (stat.S_IROTH | stat.S_IWOTH):
        raise UsageProblem(f"{option} {path} is open to every user (mode {mode:04o}): "
                           f"chmod o-rw {path}")
    if len(data) > TOKEN_MAX:
        raise UsageProblem(f"{option} {path} is over {TOKEN_MAX} bytes: one token expected")
    token = data.strip()
    if not token:
        raise UsageProblem(f"{option} {path} is empty")
    if not _TOKEN.fullmatch(token):
        raise UsageProblem(f"{option} {path} must hold one token: printable ASCII, no "
                           "spaces or line breaks")
    return token.decode()


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context (TLS 1.2 or later) for ``cert`` and its unencrypted ``key``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        # a password callback, so that an encrypted key fails instead of prompting
        ctx.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        why = re.sub(r"\s*\(_ssl\.c:\d+\)$", "", exc.strerror or str(exc))
        raise UsageProblem(f"cannot use --tls-cert {cert} with --tls-key {key}: {why}"
                           ) from None
    except OSError as exc:
        raise UsageProblem(f"cannot read --tls-cert {cert} or --tls-key {key}: "
                           f"{exc.strerror}") from None
    return ctx
