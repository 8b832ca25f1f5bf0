"""Several uvicorn workers that share out connections evenly: each listens on its own SO_REUSEPORT socket.

Why: with `uvicorn --workers N` every worker accepts from one shared socket, and the worker that wakes
first takes every connection waiting (asyncio accepts up to the backlog per wake-up). Keep-alive clients,
such as nginx's upstream pool or a load generator, then all land on one worker while the others idle:
measured, 6,380 of 6,500 messages went to one of two workers. With a socket per worker in one
SO_REUSEPORT group the kernel spreads new connections over the workers (what nginx's `reuse_port` does).

uvicorn's own supervisor (start, restart of dead workers, signals) is kept; only the per-worker process
class is swapped for one that opens its own socket in the child.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors import multiprocess


def reuse_port_socket(host: str, port: int, *, backlog: int = 2048, listen: bool = True) -> socket.socket:
    """A TCP socket bound to host:port in the SO_REUSEPORT group of that address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
        sock.listen(backlog)
        sock.set_inheritable(True)
    return sock


class ReusePortProcess(multiprocess.Process):
    """A uvicorn worker process that listens on a socket of its own (in the child, after spawn)."""

    def target(self, sockets: list[socket.socket] | None = None) -> None:  # pragma: no cover - in the child
        """Serve on this worker's own socket instead of the shared one."""
        sock = reuse_port_socket(self.config.host, self.config.port, backlog=self.config.backlog)
        super().target([sock])


def run(config: uvicorn.Config) -> None:
    """Run `config.workers` workers, each on its own SO_REUSEPORT socket, under uvicorn's supervisor."""
    # held, not listening: refuses to start when another program has the port, and keeps it meanwhile
    # (a socket that does not listen receives no connections from the group)
    try:
        guard = reuse_port_socket(config.host, config.port, listen=False)
    except OSError as exc:
        sys.exit(f"cannot listen on {config.host}:{config.port}: {exc.strerror}")
    multiprocess.Process = ReusePortProcess  # type: ignore[misc]  # the supervisor makes its workers with it
    try:
        multiprocess.Multiprocess(config, sockets=[]).run()
    finally:
        guard.close()
