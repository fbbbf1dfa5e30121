"""Issue 19 (CPU per sale): the CPU of one API exchange, httpx's default transport against ours.

In this process: the Banklot simulator over real loopback HTTP (`SimServer`: uvicorn in a
thread of its own) and, on this thread's event loop, a `BanklotClient` with either
- `httpx`: httpx's `AsyncHTTPTransport(retries=0)` (httpcore's pool on anyio), what
  `BanklotClient.prepare` built before, or
- `h11`: `kioskd.banklot.transport.H11Transport` (h11 on an asyncio Protocol), what it builds now.
The client hands each request to its transport itself (since 2026-12-07, 19:20 UTC; before,
through `AsyncClient.send`). CPU is `time.thread_time()` of this thread only (the loop: the
client, httpx, the transport; the server's thread is not counted). Each round makes
`--exchanges` exchanges per way, the two ways in turn (their order alternates), after a
warm-up on the same kept-alive connection; an exchange is `time()` (GET /gaming/time) or
`tickets(...)` (POST /user/ticket/ with a JSON filter), one then the other.
The same for a POST read whole and closed through `httpx.AsyncClient.send(stream=True)` (the
client's own work left out), and through the transport's `handle_async_request` alone (httpx's
client left out too).
Also, in a fresh interpreter per way (`--starts`) that imported only the client: the thread's
CPU from building the client to its first answer (a login), imports included (httpx, the
transport, and what the first connection imports: anyio's modules for httpcore).

Reproduce:  .venv/bin/python bench/bench_http.py [--exchanges 300] [--rounds 5] [--starts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, machine, report

from kioskd.banklot.client import BanklotClient
from kioskd.proving.sim import simulator as sim_state
from kioskd.proving.sim.server import SimServer

EMAIL = "username@banklot.net"
PASSWORD = "pw-bench-0001"
DAY = ("2024-10-23T04:00:00.000Z", "2024-10-24T03:59:59.999Z")
WAYS = ("httpx", "h11")
PARTS = {
    "client": "BanklotClient exchange",
    "send": "AsyncClient.send",
    "transport": "the transport alone",
}


def _transport(way: str) -> Any:
    """The transport a way's client is given (None: the client builds its own, H11Transport)."""
    import httpx

    return httpx.AsyncHTTPTransport(retries=0, verify=False) if way == "httpx" else None


async def client_round(url: str, way: str, n: int) -> float:
    """CPU ms of one BanklotClient exchange, mean of `n`."""
    api = BanklotClient(url, EMAIL, PASSWORD, transport=_transport(way))
    api.prepare()
    async with api:
        for i in range(20):  # login, connection, the client's per-path URLs
            await (api.time() if i % 2 else api.tickets(DAY))
        started = time.thread_time()
        for i in range(n):
            await (api.time() if i % 2 else api.tickets(DAY))
        return (time.thread_time() - started) / n * 1000


async def send_round(url: str, way: str, n: int, direct: bool) -> float:
    """CPU ms of one POST /auth/login, its body read and closed, mean of `n`: through
    `httpx.AsyncClient.send(stream=True)`, or (`direct`) the transport's own
    `handle_async_request` with one request built once."""
    import httpx

    from kioskd.banklot.transport import H11Transport

    transport = _transport(way) or H11Transport(verify=False)
    body = json.dumps({"email": EMAIL, "password": PASSWORD}).encode()
    async with httpx.AsyncClient(transport=transport, base_url=url) as http:
        built = http.build_request("POST", "/auth/login", content=body)

        async def once() -> None:
            if direct:
                response = await transport.handle_async_request(built)
            else:
                request = http.build_request("POST", "/auth/login", content=body)
                response = await http.send(request, stream=True)
            try:
                async for _chunk in response.aiter_raw():
                    pass
            finally:
                await response.aclose()

        for _ in range(20):
            await once()
        started = time.thread_time()
        for _ in range(n):
            await once()
        return (time.thread_time() - started) / n * 1000


FIRST = """
import asyncio, sys, time
sys.path.insert(0, sys.argv[3])
from kioskd.banklot.client import BanklotClient

way, url = sys.argv[1], sys.argv[2]
before = set(sys.modules)


async def first():
    started = time.thread_time()
    if way == "httpx":
        import httpx

        transport = httpx.AsyncHTTPTransport(retries=0, verify=False)
    else:
        transport = None
    api = BanklotClient(url, "username@banklot.net", "pw-bench-0001", transport=transport)
    api.prepare()
    async with api:
        await api.login()
    return (time.thread_time() - started) * 1000


ms = asyncio.run(first())
new = {name.split(".")[0] for name in set(sys.modules) - before}
print(round(ms, 2), ",".join(sorted(new & {"httpx", "h11", "httpcore", "anyio"})))
"""


def first_exchange(url: str, starts: int) -> dict[str, Any]:
    """Median CPU ms of a fresh interpreter's client, from construction to the first answer
    (the simulator answers from this process: the fresh one imports only the client first)."""
    seen: dict[str, list[float]] = {way: [] for way in WAYS}
    stacks: dict[str, str] = {}
    for _ in range(starts):
        for way in WAYS:  # alternated: the same minutes of this shared machine
            out = subprocess.run(
                [sys.executable, "-c", FIRST, way, url, str(ROOT)],
                cwd=ROOT, check=True, capture_output=True, text=True,
            ).stdout.split()  # fmt: skip
            seen[way].append(float(out[0]))
            stacks[way] = out[1]
    return {
        way: {"median_ms": round(statistics.median(v), 1), "runs": v, "imported": stacks[way]}
        for way, v in seen.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=300, help="exchanges a way a round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=5, help="fresh interpreters a way")
    args = parser.parse_args()
    rounds: dict[str, dict[str, list[float]]] = {part: {way: [] for way in WAYS} for part in PARTS}
    with SimServer(sim_state.Simulator(seed=7, password=PASSWORD)) as server:
        url, n = server.base_url, args.exchanges
        for r in range(args.rounds):
            for way in WAYS if r % 2 == 0 else WAYS[::-1]:
                for part, ms in (
                    ("client", asyncio.run(client_round(url, way, n))),
                    ("send", asyncio.run(send_round(url, way, n, direct=False))),
                    ("transport", asyncio.run(send_round(url, way, n, direct=True))),
                ):
                    rounds[part][way].append(round(ms, 3))
            print(f"round {r + 1}: {json.dumps(rounds)}", flush=True)
        first = first_exchange(server.base_url, args.starts)
    med = {
        part: {way: round(statistics.median(v), 3) for way, v in ways.items()}
        for part, ways in rounds.items()
    }
    for part, label in PARTS.items():
        ratio = med[part]["httpx"] / med[part]["h11"]
        print(
            f"{label:>22}: httpx {med[part]['httpx']} ms, h11 {med[part]['h11']} ms of CPU "
            f"(medians of {args.rounds} rounds of {args.exchanges}); {ratio:.1f}x less"
        )
    print(
        f"{'first answer, imports':>22}: httpx {first['httpx']['median_ms']} ms "
        f"(imported {first['httpx']['imported']}), h11 {first['h11']['median_ms']} ms "
        f"(imported {first['h11']['imported']}); medians of {args.starts} fresh interpreters"
    )
    command = (
        f".venv/bin/python bench/bench_http.py --exchanges {args.exchanges} "
        f"--rounds {args.rounds} --starts {args.starts}"
    )
    print(f"reproduce: {command}")
    data = {
        "cpu_ms_per_exchange": med,
        "ratio_client": round(med["client"]["httpx"] / med["client"]["h11"], 2),
        "rounds": rounds,
        "first_answer": first,
        "command": command,
        "machine": machine(),
    }
    line = (
        f"CPU per API exchange: httpx {med['client']['httpx']} ms, "
        f"H11Transport {med['client']['h11']} ms ({data['ratio_client']}x)"
    )
    return report("http", data, line)


if __name__ == "__main__":
    raise SystemExit(main())
