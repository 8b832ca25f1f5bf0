"""A small closed-loop HTTP/1.1 load generator (asyncio + uvloop, keep-alive), fast enough not to be the limit.

Requests are built beforehand; each connection sends one, waits for the whole response, records the
latency, and sends the next. Results: requests/s, p50/p99 latency, status counts.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: Counter[int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        data = sorted(self.latencies_ms)
        return data[min(len(data) - 1, round(p / 100 * (len(data) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def build_request(host: str, port: int, path: str, params: dict[str, str], body: bytes) -> bytes:
    target = f"{path}?{urlencode(params)}" if params else path
    head = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: text/xml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:].strip())
    if length:
        await reader.readexactly(length)
    return status


async def _run(host: str, port: int, requests: list[bytes], concurrency: int) -> LoadResult:
    queue_index = 0
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def worker() -> None:
        nonlocal queue_index
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                i = queue_index
                if i >= len(requests):
                    return
                queue_index += 1
                t0 = time.perf_counter()
                writer.write(requests[i])
                status = await _read_response(reader)
                latencies.append((time.perf_counter() - t0) * 1000)
                statuses[status] += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(len(latencies), time.perf_counter() - start, latencies, statuses)


def run_load(host: str, port: int, requests: list[bytes], concurrency: int) -> LoadResult:
    """Send every request once over `concurrency` keep-alive connections."""
    try:
        import uvloop

        return uvloop.run(_run(host, port, requests, concurrency))
    except ImportError:  # pragma: no cover
        return asyncio.run(_run(host, port, requests, concurrency))
