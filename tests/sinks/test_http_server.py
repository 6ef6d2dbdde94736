"""The exporter's HTTP server in this process, on loopback, with routes of its own: the
bearer token, TLS, clients that stay silent, trickle or send too much, the bound on
threads, a route that fails."""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
import urllib.error
from contextlib import closing, contextmanager

import pytest
from exporter_util import OPENSSL, client_context, get, self_signed
from sockets_util import wait_for

from harness.sinks.http_server import BACKLOG, HEAD_MAX, Answer, ExporterServer

TOKEN = "s3cret-t0ken"


def hello(query, headers):
    return Answer(200, "text/plain", f"hello {query}".encode())


PARTS = tuple(bytes([65 + k % 26]) * 1000 for k in range(300))  # 300 kB in 300 parts


def parts(query, headers):
    return Answer(200, "text/plain", PARTS)


def broken(query, headers):
    raise RuntimeError("a bug")


ROUTES = {"/hello": hello, "/broken": broken, "/parts": parts}


@contextmanager
def server(**kw):
    """An ExporterServer on a free loopback port, served by a thread; yields it."""
    srv = ExporterServer(("127.0.0.1", 0), ROUTES, **kw)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(10)


def url(srv, path="/hello", scheme="http") -> str:
    return f"{scheme}://127.0.0.1:{srv.server_address[1]}{path}"


def status(target: str, token: str | None = None, context=None) -> tuple[int, dict, str]:
    """(status, headers, body) of a GET, error answers included."""
    try:
        return 200, {}, get(target, token, context)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def dropped(conn: socket.socket, timeout: float = 10.0) -> bool:
    """Whether the server closes ``conn`` (without a byte of answer) within ``timeout``."""
    conn.settimeout(timeout)
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def still_open(conn: socket.socket) -> bool:
    """Whether the server has neither closed nor reset ``conn`` (nor answered on it)."""
    try:
        conn.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK)
    except BlockingIOError:
        return True
    except ConnectionResetError:
        pass
    return False


def serving_threads() -> int:
    return sum("process_request_thread" in t.name for t in threading.enumerate())


def test_a_route_answers_with_its_length_and_an_unknown_path_is_a_404():
    with server() as srv:
        assert get(url(srv, "/hello?x=1")) == "hello x=1"
        code, headers, body = status(url(srv, "/nope"))
    assert code == 404 and headers["Content-Type"] == "application/json"
    assert body.count("\n") == 1 and '"error":' in body and "/hello, /broken, /parts" in body


def test_an_answer_in_parts_arrives_whole():
    with server() as srv:
        assert get(url(srv, "/parts")) == b"".join(PARTS).decode()


def test_the_listen_backlog_is_the_servers():
    with server() as srv:
        assert srv.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
        from harness.kernel import sockdiag

        rows = sockdiag.dump(states=["LISTEN"], ports=[srv.server_address[1]])
    assert BACKLOG >= 128 and [r.wqueue for r in rows] == [BACKLOG]


@pytest.mark.parametrize("header, code", [
    (f"Bearer {TOKEN}", 200),
    (f"bearer {TOKEN}", 200),          # the scheme is case-insensitive (RFC 7235)
    (None, 401),
    ("Bearer wrong", 401),
    (f"Bearer {TOKEN}x", 401),
    (f"Basic {TOKEN}", 401),
    ("Bearer", 401),
    ("Bearer s3cret-t0ke\u00e9", 401),  # not ASCII: refused, not a crash
])
def test_the_bearer_token(header, code):
    with server(token=TOKEN) as srv, closing(socket.create_connection(
            srv.server_address, timeout=5)) as conn:
        extra = "" if header is None else f"Authorization: {header}\r\n"
        conn.sendall(f"GET /hello HTTP/1.0\r\n{extra}\r\n".encode("latin-1"))
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split()[1] == str(code).encode()
    if code == 200:
        assert body == b"hello "
    else:
        assert b'WWW-Authenticate: Bearer realm="socklife"' in head
        assert (b'error="invalid_token"' in head) == (header is not None)
        assert body.startswith(b'{"error":') and body.count(b"\n") == 1


def test_every_path_needs_the_token():
    with server(token=TOKEN) as srv:
        assert status(url(srv, "/nope"))[0] == 401  # not a 404 that says what exists
        assert status(url(srv, "/nope"), TOKEN)[0] == 404


@pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command (package openssl)")
def test_tls(tmp_path):
    cert, key = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    with server(tls=tls, token=TOKEN, client_timeout=2) as srv:
        ctx = client_context(cert)
        assert get(url(srv, scheme="https"), TOKEN, ctx) == "hello "
        assert status(url(srv, scheme="https"), None, ctx)[0] == 401
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            get(url(srv, scheme="https"), TOKEN, ssl.create_default_context())
        with pytest.raises((OSError, http.client.HTTPException)):  # plain HTTP: no answer
            get(url(srv), TOKEN)
        # a client that connects and never starts its handshake holds only its thread
        with closing(socket.create_connection(srv.server_address)) as silent:
            assert get(url(srv, scheme="https"), TOKEN, ctx) == "hello "
            assert dropped(silent)


def test_silent_clients_are_dropped_and_do_not_block_others():
    with server(client_timeout=3.0) as srv:
        silent = [socket.create_connection(srv.server_address) for _ in range(5)]
        try:
            assert wait_for(lambda: serving_threads() == 5)
            assert get(url(srv)) == "hello "  # answered while they wait
            assert all(still_open(s) for s in silent)
            assert all(dropped(s) for s in silent)
        finally:
            for s in silent:
                s.close()


def test_a_trickling_client_is_dropped_at_its_deadline():
    """One byte every 0.1 s never trips a timeout per read; the deadline drops it."""
    with server(client_timeout=1.0) as srv, closing(
            socket.create_connection(srv.server_address)) as conn:
        request = b"GET /hello HTTP/1.0\r\n" + b"X-Pad: " + b"a" * 1000
        for byte in request:  # 100 s of bytes, if nothing ended it
            try:
                conn.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if not still_open(conn):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the trickling client was never dropped")
        assert dropped(conn, 1)


def test_a_head_too_large_is_dropped():
    """Long before its deadline (30 s): the server stops reading at HEAD_MAX."""
    with server(client_timeout=30) as srv, closing(
            socket.create_connection(srv.server_address, timeout=5)) as conn:
        try:
            conn.sendall(b"GET /hello HTTP/1.0\r\nX-Pad: " + b"a" * (HEAD_MAX * 64))
        except (BrokenPipeError, ConnectionResetError):
            return  # dropped while it sent
        assert dropped(conn, 5)


def test_threads_are_bounded_and_the_next_clients_wait_their_turn():
    with server(client_timeout=1.0, max_clients=2) as srv:
        silent = [socket.create_connection(srv.server_address) for _ in range(6)]
        try:
            answered = []
            asker = threading.Thread(target=lambda: answered.append(get(url(srv), timeout=30)))
            asker.start()
            peak = 0
            while asker.is_alive():
                peak = max(peak, serving_threads())
                time.sleep(0.01)
            asker.join()
            assert answered == ["hello "]  # once the silent ones before it were dropped
            assert peak == 2
        finally:
            for s in silent:
                s.close()


def test_a_failing_route_is_a_500_and_one_line(capfd):
    with server() as srv:
        code, _, body = status(url(srv, "/broken"))
        assert get(url(srv)) == "hello "  # the server goes on
    assert code == 500 and body.count("\n") == 1 and "RuntimeError" in body
    err = capfd.readouterr().err
    assert err == "socklife exporter: error /broken: RuntimeError: a bug\n"


def test_an_ipv6_address():
    srv = ExporterServer(("::1", 0), ROUTES)
    try:
        assert srv.socket.family == socket.AF_INET6
    finally:
        srv.server_close()
