"""Decode throughput and scan latency of the input path (kioskd.input).

Prints:
- key events per second through one scanner `Decoder` (one core), for realistic scanner traffic
  (MSC_SCAN + EV_KEY + SYN_REPORT per key change, shifted letters, digits, Enter), both from
  ready-made events and from evtest text (parser included);
- the delay from the last key of a scan (the Enter line written into a replay FIFO) to the token
  coming out of `InputSource.tokens()` (median and p99), and the same for gap-terminated scans
  (reported as delay beyond the configured gap);
- a 10 MB flood: time to chew it and the growth of the process's peak memory (it must not grow
  with the flood: the decoder keeps at most max_len characters).

Budget: >= 50,000 events/s per core. Reproduce with:

    .venv/bin/python bench/bench_decode.py [--scans 2000] [--latency-scans 200] [--flood-mb 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evdev import ecodes as e

from kioskd.input.decoder import Decoder, DecoderConfig
from kioskd.input.evtest import EV_KEY, InputEvent, KeyScript, parse_lines
from kioskd.input.reader import InputSource, SourceConfig
from kioskd.input.xkb import Layout

CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def scan_script(n_scans: int, t0: float = 1_700_000_000.0, enter: bool = True) -> KeyScript:
    script = KeyScript(t0, step=0.001)
    for i in range(n_scans):
        for j in range(20):
            char = CHARS[(i * 7 + j) % len(CHARS)]
            if char.isalpha():
                script.tap(getattr(e, f"KEY_{char}"), e.KEY_LEFTSHIFT)
            else:
                script.tap(getattr(e, f"KEY_{char}"))
        if enter:
            script.tap(e.KEY_ENTER)
        script.wait(0.5)
    return script


def throughput(n_scans: int) -> None:
    layout = Layout("us")
    script = scan_script(n_scans)
    events = script.events
    text_lines = script.text().splitlines()
    best = 0.0
    for _ in range(3):
        decoder = Decoder(layout, DecoderConfig())
        start = time.perf_counter()
        tokens = decoder.feed_many(events)
        elapsed = time.perf_counter() - start
        best = max(best, len(events) / elapsed)
    assert len(tokens) == n_scans
    print(f"decoder: {len(events):,} events ({n_scans} scans) -> {best:,.0f} events/s (best of 3)")
    decoder = Decoder(layout, DecoderConfig())
    start = time.perf_counter()
    tokens = decoder.feed_many(parse_lines(text_lines))
    elapsed = time.perf_counter() - start
    print(f"evtest text + decoder: {len(events) / elapsed:,.0f} events/s")
    verdict = "OK" if best >= 50_000 else "BELOW BUDGET"
    print(f"budget >= 50,000 events/s per core: {verdict}")


async def latency(n_scans: int, gap_s: float | None) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, "scanner.fifo")
        os.mkfifo(fifo)
        config = SourceConfig(device=f"replay:{fifo}", gap_s=gap_s if gap_s else None)
        delays = []
        async with InputSource(config) as source:
            while fifo not in source.states or source.states[fifo] == "waiting":
                await asyncio.sleep(0.01)  # the source opens its end first (no blocking open)
            writer = os.open(fifo, os.O_WRONLY)
            stream = source.tokens()
            for i in range(n_scans):
                text = scan_script(1, t0=1_700_000_000.0 + i, enter=gap_s is None).text()
                os.write(writer, text.encode())
                written = time.perf_counter()
                await anext(stream)
                delays.append(time.perf_counter() - written - (gap_s or 0.0))
            os.close(writer)
        return delays


def report(label: str, delays: list[float]) -> None:
    delays = sorted(delays)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"{label}: median {statistics.median(delays) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms over {len(delays)} scans"
    )


def flood(megabytes: int) -> None:
    decoder = Decoder(Layout("us"), DecoderConfig(max_len=512, gap_s=None))
    press = InputEvent(1.0, EV_KEY, e.KEY_X, 1)
    release = InputEvent(1.0, EV_KEY, e.KEY_X, 0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    feed = decoder.feed
    errors = 0
    start = time.perf_counter()
    for _ in range(megabytes * 1_000_000):
        errors += len(feed(press))
        feed(release)
    elapsed = time.perf_counter() - start
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(
        f"flood {megabytes} MB: {elapsed:.1f} s, {errors} error token, "
        f"peak memory grew {grown} KiB, buffer held {len(decoder._buf)} chars"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=2000)
    parser.add_argument("--latency-scans", type=int, default=200)
    parser.add_argument("--flood-mb", type=int, default=10)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.uname().machine}, one core")
    throughput(args.scans)
    report(
        "last key -> token (Enter, via replay FIFO)", asyncio.run(latency(args.latency_scans, None))
    )
    report(
        "last key -> token beyond a 30 ms gap (no terminator)",
        asyncio.run(latency(max(20, args.latency_scans // 4), 0.03)),
    )
    if args.flood_mb:
        flood(args.flood_mb)
    print(
        "reproduce: .venv/bin/python bench/bench_decode.py "
        f"--scans {args.scans} --latency-scans {args.latency_scans} --flood-mb {args.flood_mb}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
