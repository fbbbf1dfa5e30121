"""Slow link (issue 11): the real `kioskd run` reaching the simulator through a loopback TCP
proxy that delays each direction by 75 ms (a 150 ms round trip, like a mobile counter).

The proxy is pipelined (bytes keep flowing, each chunk delivered 75 ms after it was read) and a
new connection costs one more round trip before its first byte passes (the TCP handshake).
Measured, as multiples of the round trip:
- sale: the final Enter on the keypad -> the first byte of the ticket reaching the printer;
- payout: the ticket scan -> the first byte of the payout slip reaching the printer.
Goal (issue 11): at most 1.2 round trips for both.

Reproduce:  .venv/bin/python bench/bench_slow_link.py [--runs 20] [--one-way-ms 75]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import statistics
import tempfile
import threading
import time
from typing import Any

from _common import BenchKiosk, Probe, emit, fix_sim_nagle, is_query_only


class DelayProxy:
    """Loopback TCP proxy: every chunk is delivered `one_way_s` after it was read, in order;
    a new connection waits one round trip before relaying (the handshake)."""

    def __init__(self, upstream: tuple[str, int], one_way_s: float) -> None:
        self.upstream, self.one_way_s = upstream, one_way_s
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="delay-proxy")

    def start(self) -> DelayProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * self.one_way_s)  # SYN, SYN-ACK: one round trip
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.create_task(deliver())
        try:
            while True:
                data = await reader.read(65536)
                queue.put_nowait((loop.time() + self.one_way_s, data))
                if not data:
                    break
        except ConnectionError:
            queue.put_nowait((loop.time(), b""))
        await task

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


class SlowLinkKiosk(BenchKiosk):
    """The harness kiosk whose API base URL goes through the delay proxy."""

    one_way_s = 0.075

    def start(self) -> SlowLinkKiosk:
        super().start()
        host, port = self.server.base_url.split("//", 1)[1].split(":")
        self.proxy = DelayProxy((host, int(port.rstrip("/"))), self.one_way_s).start()
        text = re.sub(
            r'base_url = "[^"]*"',
            f'base_url = "http://127.0.0.1:{self.proxy.port}"',
            self.config_path.read_text(),
        )
        self.config_path.write_text(text)
        return self

    def close(self) -> None:
        super().close()
        self.proxy.close()


def first_print_after(probe: Probe, t0: float) -> float | None:
    with probe.lock:
        for t, data in probe.printer:
            if t >= t0 and not is_query_only(data):
                return t
    return None


def run(runs: int, one_way_s: float, workdir: str) -> dict[str, Any]:
    from kioskd.counter.scan import barcode_data
    from kioskd.proving.harness import keypad_events, scanner_events
    from kioskd.proving.sim import games as catalog

    rtt = 2 * one_way_s
    probe = Probe()
    SlowLinkKiosk.one_way_s = one_way_s
    k = SlowLinkKiosk(workdir, log_level="warning")
    k.start()
    probe.install_printer(k.printer.core)
    k.start_daemon()
    k.wait_catalog()
    sales: list[float] = []
    pays: list[float] = []
    try:
        # All sales play the same number, so that one draw result makes every ticket a winner.
        for i in range(runs + 2):  # 2 warm-up sales (login, first connection)
            k.keypad.write(keypad_events("+1.341.1\n", time.time()))
            time.sleep(0.3)  # the wager line is taken before the final Enter
            enter = keypad_events("\n", time.time())
            t0 = time.monotonic()
            k.keypad.write(enter)
            t = k.wait_for(lambda t0=t0: first_print_after(probe, t0), 20.0, 0.002)
            if i >= 2:
                sales.append(t - t0)
            time.sleep(0.5)  # the slip finishes printing
        ops = [op for op in k.journal_operations() if op["kind"] == "create"][2:]
        event_id = json.loads(ops[0]["result"])["wagers"][0]["event_id"] if ops else None
        ev = catalog.event(int(event_id)) if event_id is not None else None
        assert ev is not None
        k.sim.force_result(ev.id, "341")
        k.sim.clock.set(ev.result_ts + 60)
        for op in ops:
            created = dt.datetime.fromtimestamp(op["created_at"], catalog.ZONE).date()
            text = barcode_data(op["ticket_number"], op["pin_number"], created)
            scan = scanner_events(text, time.time())
            t0 = time.monotonic()
            k.scanner.write(scan)
            t = k.wait_for(lambda t0=t0: first_print_after(probe, t0), 20.0, 0.002)
            pays.append(t - t0)
            time.sleep(0.5)
    finally:
        k.close()

    def ratios(values: list[float]) -> dict[str, float]:
        return {
            "n": len(values),
            "median_rtt": round(statistics.median(values) / rtt, 3),
            "max_rtt": round(max(values) / rtt, 3),
            "median_ms": round(statistics.median(values) * 1000, 1),
        }

    return {"round_trip_ms": rtt * 1000, "sale_enter_to_ticket": ratios(sales),
            "payout_scan_to_slip": ratios(pays)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--one-way-ms", type=float, default=75.0)
    args = ap.parse_args()
    fix_sim_nagle()
    with tempfile.TemporaryDirectory(prefix="kioskd-slow-") as workdir:
        result = run(args.runs, args.one_way_ms / 1000, workdir)
    for key, value in result.items():
        print(f"{key}: {value}")
    emit("slow_link", result)


if __name__ == "__main__":
    main()
