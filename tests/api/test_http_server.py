"""`postloan serve`: the socket it binds for uvicorn has TCP_NODELAY, and so do the connections
it accepts (a kept-alive response must not wait ~40 ms for the client's delayed ACK)."""

from __future__ import annotations

import socket
from multiprocessing.reduction import ForkingPickler

import pytest
from typer.testing import CliRunner

from api import http_server
from api.cli import app


@pytest.mark.parametrize("workers", [1, 2])
def test_bind_socket_sets_tcp_nodelay_on_accepted_connections(workers):
    listener = http_server.config("127.0.0.1", 0, workers).bind_socket()
    try:
        listener.listen()
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        with socket.create_connection(listener.getsockname()):
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()


def test_serve_without_flows_serves_the_api_with_the_workers_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(http_server, "run", lambda *args: calls.append(args))
    result = CliRunner().invoke(app, ["serve", "--no-flows", "--port", "8123", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert calls == [("127.0.0.1", 8123, 2)]


def test_each_worker_gets_a_socket_of_its_own_on_the_address():
    """What a worker process receives (multiprocessing pickles its sockets) is a new socket on
    the same address, so that the kernel spreads connections over the workers (SO_REUSEPORT)."""
    listener = http_server.config("127.0.0.1", 0, 2).bind_socket()
    copies = [ForkingPickler.loads(ForkingPickler.dumps(listener)) for _ in range(2)]
    try:
        for copy in copies:
            assert copy.fileno() != listener.fileno()
            assert copy.getsockname() == listener.getsockname()
            assert copy.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
            copy.listen()
        accepted_by = set()
        for _ in range(16):  # new connections land on both workers' sockets, not one
            with socket.create_connection(listener.getsockname()):
                for n, copy in enumerate(copies):
                    copy.settimeout(0.01)
                    try:
                        conn, _ = copy.accept()
                    except TimeoutError:
                        continue
                    conn.close()
                    accepted_by.add(n)
        assert accepted_by == {0, 1}
    finally:
        for sock in (listener, *copies):
            sock.close()


def test_a_second_server_on_a_taken_port_fails_at_once():
    """SO_REUSEPORT would let a second `postloan serve --workers 2` share the port silently."""
    first = http_server.config("127.0.0.1", 0, 2).bind_socket()
    worker = ForkingPickler.loads(ForkingPickler.dumps(first))
    try:
        worker.listen()
        with pytest.raises(OSError):
            http_server.config("127.0.0.1", first.getsockname()[1], 2).bind_socket()
    finally:
        worker.close()
        first.close()
