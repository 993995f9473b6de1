"""Load generation and result keeping shared by every benchmark.

Figures are reported as ratios against a baseline measured in the same run, on the
same server stack: these machines are shared and noisy, absolute numbers are not.
"""

from __future__ import annotations

import asyncio
import json
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

RESULTS = Path(".bench")


@dataclass
class Load:
    """What a closed-loop load run measured."""

    name: str
    requests: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    errors: int = 0
    items_per_request: int = 1

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    @property
    def item_rate(self) -> float:
        """Items (events, records) per second."""
        return self.rate * self.items_per_request

    def percentile(self, q: float) -> float:
        """Latency percentile in milliseconds."""
        ordered = sorted(self.latencies_ms)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)]

    def summary(self) -> dict[str, float | int | str]:
        """The figures kept in the JSON results."""
        return {
            "name": self.name,
            "requests": self.requests,
            "errors": self.errors,
            "rate_per_s": round(self.rate, 1),
            "items_per_s": round(self.item_rate, 1),
            "p50_ms": round(statistics.median(self.latencies_ms), 2),
            "p99_ms": round(self.percentile(0.99), 2),
        }


@dataclass
class Throughput:
    """What working through a fixed amount of items measured: how many, in how long, in how
    many batches."""

    name: str
    items: int
    seconds: float
    batches: int | None = None

    @property
    def item_rate(self) -> float:
        """Items (records, rows, decisions) per second."""
        return self.items / self.seconds

    def summary(self) -> dict[str, float | int | str]:
        """The figures kept in the JSON results; batch figures only where they were seen."""
        row: dict[str, float | int | str] = {
            "name": self.name,
            "items": self.items,
            "seconds": round(self.seconds, 3),
            "items_per_s": round(self.item_rate, 1),
        }
        if self.batches:
            row["batches"] = self.batches
            row["ms_per_batch"] = round(self.seconds * 1000 / self.batches, 2)
        return row


async def closed_loop(
    name: str,
    request: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]],
    *,
    base_url: str,
    concurrency: int,
    seconds: float,
    expect: set[int],
    items_per_request: int = 1,
) -> Load:
    """`concurrency` clients each sending one request after the other for `seconds`."""
    latencies: list[float] = []
    errors = 0
    counter = 0
    deadline = time.perf_counter() + seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal errors, counter
        while time.perf_counter() < deadline:
            counter += 1
            started = time.perf_counter()
            response = await request(client, counter)
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code not in expect:
                errors += 1

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Load(name, len(latencies), elapsed, latencies, errors, items_per_request)


def save(results: dict[str, object]) -> Path:
    """Write the run's results as JSON under .bench/ and return the file."""
    RESULTS.mkdir(exist_ok=True)
    results = {
        "at": datetime.now(UTC).isoformat(),
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        **results,
    }
    path = RESULTS / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=lambda o: asdict(o)))
    (RESULTS / "latest.json").write_text(path.read_text())
    return path


def table(rows: list[dict[str, float | int | str]]) -> str:
    """A plain text table of result rows."""
    if not rows:
        return ""
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns)]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
