"""How `postloan serve` runs the ASGI app under uvicorn: the listening socket is bound here, with
TCP_NODELAY; several worker processes each listen on a socket of their own on that address
(SO_REUSEPORT), so that the kernel spreads connections over them."""

from __future__ import annotations

import logging
import socket
from multiprocessing.reduction import ForkingPickler
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

APP = "api.main:app"
log = logging.getLogger("uvicorn.error")


class WorkerSocket(socket.socket):
    """The address several workers listen on. Its copy in a worker process is not a duplicate
    of this socket but a new one bound to the same address (SO_REUSEPORT): the kernel then
    spreads new connections over the workers' sockets. One shared socket let the worker that
    woke first accept a whole burst (asyncio accepts up to the backlog at once), and kept-alive
    clients stayed on it: with 2 workers and 32 clients one worker did ~all the work. This one,
    in the supervisor, is bound (the port is taken, a clash fails at once) and never listens."""


def reuse_port_socket(family: int, address: Any) -> WorkerSocket:
    sock = WorkerSocket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _worker_copy(sock: WorkerSocket) -> tuple[Any, tuple[int, Any]]:
    return reuse_port_socket, (sock.family, sock.getsockname())


# multiprocessing hands a worker its sockets by pickling them: this one becomes a new socket
ForkingPickler.register(WorkerSocket, _worker_copy)


class Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        """uvicorn's socket, without Nagle's algorithm. The socket uvicorn binds for several
        workers is opened as `socket(AF_INET)` (protocol 0), so asyncio does not recognise it as
        TCP and never sets TCP_NODELAY on the connections it accepts: a kept-alive response then
        waits ~40 ms for the client's delayed ACK (/healthz fell from 1,255 to 176 per second).
        On Linux an accepted socket inherits TCP_NODELAY from the listening one."""
        if self.workers > 1 and not self.uds and self.fd is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            # SO_REUSEPORT would let a second server on this port share it silently: a plain
            # bind first fails as usual when the port is taken, and finds the port for 0
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((self.host, self.port))
                port = probe.getsockname()[1]
            sock = reuse_port_socket(family, (self.host, port))
            log.info("Uvicorn running on http://%s:%d (%d workers, a socket each)",
                     self.host, sock.getsockname()[1], self.workers)  # fmt: skip
            return sock
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
