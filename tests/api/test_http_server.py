"""`postloan serve`: the socket it binds for uvicorn has TCP_NODELAY, and so do the connections
it accepts (a kept-alive response must not wait ~40 ms for the client's delayed ACK)."""

from __future__ import annotations

import socket

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
