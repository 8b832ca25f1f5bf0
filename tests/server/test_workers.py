"""server/workers.py: `houqin serve --workers N` spreads keep-alive connections over its workers."""

from __future__ import annotations

import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from server.workers import reuse_port_socket
from tests.bot.test_faults import Houqin, servers, signed, wait_for  # noqa: F401  (servers: the fixture)


def test_keep_alive_connections_reach_every_worker(
    db_url: str,
    tmp_path: Path,
    servers: list[Houqin],  # noqa: F811  (the fixture imported above)
) -> None:
    server = Houqin(db_url, tmp_path / "var", workers=2)
    servers.append(server)
    server.start()
    clients = [httpx.Client(base_url=server.url, timeout=10.0) for _ in range(16)]  # opened at once
    try:
        for round_ in range(3):
            for n, client in enumerate(clients):
                params, body = signed(9_000_000 + 100 * round_ + n, sender=f"o_ka{n}")
                assert client.post("/wechat", params=params, content=body).status_code == 200
    finally:
        for client in clients:
            client.close()

    def pids() -> Counter[int]:
        return Counter(line["pid"] for line in server.access_lines() if line["path"] == "/wechat")

    assert wait_for(lambda: sum(pids().values()) == 48, timeout=10)  # access lines are written in bursts
    # one shared socket let the first worker to wake take all 16 connections; a socket per worker in one
    # SO_REUSEPORT group spreads them (all 16 on one of two sockets: 2 in 65,536)
    assert len(pids()) == 2, pids()
    assert set(pids()) == set(server.worker_pids())


def test_a_port_another_program_holds_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError):
            reuse_port_socket("127.0.0.1", port)
