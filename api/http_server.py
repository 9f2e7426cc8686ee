"""How `postloan serve` runs the ASGI app under uvicorn: the listening socket is bound here, with
TCP_NODELAY, and shared by one or more worker processes."""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "api.main:app"


class Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        """uvicorn's socket, without Nagle's algorithm. The socket uvicorn binds for several
        workers is opened as `socket(AF_INET)` (protocol 0), so asyncio does not recognise it as
        TCP and never sets TCP_NODELAY on the connections it accepts: a kept-alive response then
        waits ~40 ms for the client's delayed ACK (/healthz fell from 1,255 to 176 per second).
        On Linux an accepted socket inherits TCP_NODELAY from the listening one."""
        sock = super().bind_socket()
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock


def config(host: str, port: int, workers: int = 1) -> Config:
    return Config(APP, host=host, port=port, workers=workers)


def run(host: str, port: int, workers: int = 1) -> None:
    """Serve the app in this process (one worker) or under uvicorn's supervisor (several: it
    restarts a worker that dies); blocks until a signal stops it."""
    cfg = config(host, port, workers)
    sock = cfg.bind_socket()
    try:
        if workers > 1:
            Multiprocess(cfg, sockets=[sock]).run()
        else:
            uvicorn.Server(cfg).run(sockets=[sock])
    finally:
        sock.close()
