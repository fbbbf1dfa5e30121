"""CPU of the keypad input path per sale, measured in this process (issue 19).

A sale is what the sale benchmarks type: ``sell_text`` ("+1.123.1\\n\\n", 10 keys) turned into
evtest text by the harness's `keypad_events` (MSC_SCAN, EV_KEY, SYN_REPORT per key change: 60
lines) and written into a replay FIFO in one write, as `VirtualKiosk.type` does. The text then
takes the daemon's path up to its `_read_input`: the loop's reader callback
(`InputSource._readable` -> `FifoReplayNode.read_events` -> `evtest.parse_line`), the decode
task (`_decode`, `_feed`, `Decoder.feed`, xkb lookups) and `InputSource.tokens()`, which a task
here consumes as the daemon does (it keeps the keys; the counter session is not part of this).

Prints, for each round, the CPU (``time.thread_time``) per sale from the moment the sale's text
is in the FIFO until its 10th token is out of `tokens()` (the write itself is not counted), and
the median of the rounds; with ``--parts`` also the FIFO read + evtest parse alone and the
decoder alone. Which code runs is the first line (``kioskd`` from PYTHONPATH when it is set,
otherwise this checkout), so the same script compares two trees:

    PYTHONPATH=/tmp/h2 .venv/bin/python bench/bench_input_path.py [--sales 2000] [--rounds 5]
        [--parts]

Run it on an idle core: another process busy on the same core inflates the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
if "PYTHONPATH" not in os.environ:  # otherwise the caller chose which kioskd to measure
    sys.path.insert(0, str(BENCH.parent))

import kioskd  # noqa: E402  (before _common, whose sys.path must not choose it)

KIOSKD = Path(kioskd.__file__).parent

from _common import sell_text  # noqa: E402

from kioskd.input.decoder import Decoder  # noqa: E402
from kioskd.input.evtest import parse_lines  # noqa: E402
from kioskd.input.reader import InputSource, SourceConfig  # noqa: E402
from kioskd.input.replay import FifoReplayNode  # noqa: E402
from kioskd.input.xkb import Layout  # noqa: E402
from kioskd.proving.harness import KEYPAD_HEADER, keypad_events  # noqa: E402

KEYS_PER_SALE = 10


def keypad_config(fifo: str) -> SourceConfig:
    """The keypad's `SourceConfig` as `kioskd.config.input_sources` makes it from the shipped
    defaults, on a replay FIFO (what the harness configures)."""
    return SourceConfig(
        device=f"replay:{fifo}",
        role="keypad",
        layout="us",
        gap_s=None,
        numlock=True,
        keypad_digits=True,
        grab=True,
        label="keypad",
    )


def sale_texts(n: int) -> list[bytes]:
    """`n` different sales, 20 ms between keys and a few seconds between sales (as typed)."""
    t0 = 1_760_000_000.0
    return [keypad_events(sell_text(i), t0 + 3.0 * i).encode() for i in range(n)]


async def _wait_open(source: InputSource, fifo: str) -> None:
    while source.states.get(fifo, "waiting") == "waiting":
        await asyncio.sleep(0.005)


async def full_path(texts: list[bytes], fifo: str) -> tuple[float, list[str]]:
    """CPU seconds for all `texts` through a real `InputSource`, and the keys that came out."""
    keys: list[str] = []
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    want = 0

    async def consume(source: InputSource) -> None:
        nonlocal waiter
        async for token in source.tokens():
            keys.append(token.key or "")
            if len(keys) >= want and not waiter.done():
                waiter.set_result(None)

    spent = 0.0
    async with InputSource(keypad_config(fifo)) as source:
        await _wait_open(source, fifo)
        writer = os.open(fifo, os.O_WRONLY)
        os.write(writer, KEYPAD_HEADER.encode())
        consumer = asyncio.create_task(consume(source))
        for text in texts:
            want += KEYS_PER_SALE
            waiter = loop.create_future()
            os.write(writer, text)
            start = time.thread_time()
            await waiter
            spent += time.thread_time() - start
        os.close(writer)
        consumer.cancel()
    return spent, keys


def read_and_parse(texts: list[bytes], fifo: str) -> float:
    """CPU seconds for `FifoReplayNode.read_events` over each sale's text (FIFO read + parse)."""
    node = FifoReplayNode(fifo)
    writer = os.open(fifo, os.O_WRONLY)
    spent = 0.0
    try:
        for text in texts:
            os.write(writer, text)
            start = time.thread_time()
            events = node.read_events()
            spent += time.thread_time() - start
            assert len(events) == 6 * KEYS_PER_SALE, len(events)
    finally:
        os.close(writer)
        node.close()
    return spent


def decode_only(texts: list[bytes]) -> float:
    """CPU seconds for the keypad `Decoder` over each sale's events (already parsed)."""
    config = keypad_config("unused").decoder_config()
    decoder = Decoder(Layout("us"), config, "keypad")
    sales = [list(parse_lines(text.decode().splitlines())) for text in texts]
    spent = 0.0
    for events in sales:
        start = time.thread_time()
        feed = decoder.feed
        for event in events:
            feed(event)
        spent += time.thread_time() - start
    return spent


def per_sale_us(seconds: float, sales: int) -> float:
    return seconds / sales * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", action="store_true", help="also time parse and decode alone")
    args = parser.parse_args()
    print(f"kioskd from {KIOSKD}, python {sys.version.split()[0]}")
    texts = sale_texts(args.sales)
    lines = texts[0].count(b"\n")
    print(f"a sale: {sell_text(123)!r}, {KEYS_PER_SALE} keys, {lines} evtest lines")
    results: dict[str, list[float]] = {"full": [], "parse": [], "decode": []}
    with tempfile.TemporaryDirectory() as tmp:
        fifo = os.path.join(tmp, "keypad.fifo")
        os.mkfifo(fifo)
        asyncio.run(full_path(texts[:200], fifo))  # warm-up: imports, xkb cache, allocator
        for _ in range(args.rounds):
            spent, keys = asyncio.run(full_path(texts, fifo))
            assert "".join(keys[:10]) == "+1.000.1EnterEnter", keys[:10]
            results["full"].append(per_sale_us(spent, len(texts)))
            if args.parts:
                results["parse"].append(per_sale_us(read_and_parse(texts, fifo), len(texts)))
                results["decode"].append(per_sale_us(decode_only(texts), len(texts)))
    labels = {
        "full": "FIFO -> tokens() (reader, parse, decoder, queues)",
        "parse": "FifoReplayNode.read_events alone (read + parse)",
        "decode": "Decoder.feed alone (60 events)",
    }
    for name, values in results.items():
        if values:
            rounds = " ".join(f"{v:.1f}" for v in values)
            print(f"{labels[name]}: median {statistics.median(values):.1f} us/sale  [{rounds}]")
    print(
        "reproduce: PYTHONPATH=<tree> .venv/bin/python bench/bench_input_path.py "
        f"--sales {args.sales} --rounds {args.rounds}" + (" --parts" if args.parts else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
