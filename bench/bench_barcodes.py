"""Ticket barcodes: 10,000 random tickets through layout, ESC/POS and PNG, read by zxing-cpp.

Prints, per paper width (58 and 80 mm):
- how many previews zxing-cpp decodes to the right 24 digits (ticket + PIN + YYYYMMDD), how
  many jobs carry exactly the symbols their preview shows (the ESC/POS payload read back by
  the rules of GS k), how many jobs contain a real-time command (must be 0);
- the barcode widths in dots (min / max / histogram by symbol count) against the print width;
- with ``--worst``: the widest symbol any 24 digits and any ticket-shaped digits (16 free
  digits + 20YYMMDD) can need, found exactly by a search over the encoder's states, with a
  witness (about 30 s);
- with ``--odds``: the probability of each symbol count for random tickets (16 uniform digits,
  a date every 7 days of 2026-2035; exact over the digits, about 5 min).

Reproduce with:

    .venv/bin/python bench/bench_barcodes.py [--tickets 10000] [--seed 1] [--worst] [--odds]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kioskd.printer.code128 import DLE, REALTIME, encode
from kioskd.printer.escpos_render import render_items
from kioskd.printer.layout import BARCODE_DOTS, PRINT_DOTS, BarcodeLine, layout
from kioskd.printer.png_render import render_image
from kioskd.printer.profiles import load_profile
from kioskd.receipt import Barcode, Receipt
from tests.printer.barcode_check import (
    escpos_code128_values,
    modules_of,
    png_row_modules,
    random_tickets,
    realtime_commands,
    zxing_code128,
)


def run_tickets(tickets: list[str], paper: int) -> None:
    page = load_profile("default").codepage
    decoded = same = realtime = as_text = 0
    widths: list[int] = []
    by_symbols: Counter[int] = Counter()
    t0 = time.perf_counter()
    for data in tickets:
        items = layout(Receipt("ticket", (Barcode(data, text=data),)), paper, codepage=page.codec)
        job = render_items(items, paper, codepage=page, cut=True)
        realtime += bool(realtime_commands(job))
        item = items[0]
        if not isinstance(item, BarcodeLine):
            as_text += 1
            continue
        widths.append(item.width_dots)
        by_symbols[len(item.symbol.values) - 1] += 1
        image = render_image(items, paper)
        decoded += zxing_code128(image) == [data]
        (values,) = escpos_code128_values(job)
        same += png_row_modules(image, BARCODE_DOTS // 2, item.module)[0] == modules_of(values)
    elapsed = time.perf_counter() - t0
    n = len(tickets)
    print(f"{paper} mm ({PRINT_DOTS[paper]} dots printable), {n:,} tickets, {elapsed:.1f} s:")
    print(f"  zxing-cpp decoded to the right 24 digits: {decoded:,}/{n:,}")
    print(f"  preview bars == symbols of the ESC/POS bytes: {same:,}/{n:,}")
    print(f"  jobs with a real-time command: {realtime}; printed as text (too wide): {as_text}")
    if widths:
        print(f"  width: min {min(widths)} / max {max(widths)} dots")
    for symbols, count in sorted(by_symbols.items()):
        module = 2 if paper == 58 else 3
        print(f"    {symbols} data symbols: {count:,} tickets ({encode_width(symbols, module)})")


def encode_width(data_symbols: int, module: int) -> str:
    modules = 11 * (data_symbols + 2) + 13
    return f"{modules} modules, {modules * module} dots at {module} dots/module"


# -- exact search over the encoder's states ------------------------------------------------
# The encoder is a shortest path over (code set, last C bytes); digit by digit its states are
# B, or C with the last two C bytes (only whether they are DLE / a real-time second byte
# matters) and a pending half pair. A "profile" is the cheapest cost of each state, minus the
# smallest; there are few profiles, so all digit strings can be covered exactly.


def _abstract(byte: int) -> int:
    return byte if byte == DLE or byte in REALTIME else -1


def _unsafe(tail: tuple[int, ...], byte: int) -> bool:
    return len(tail) == 2 and tail[0] == DLE and byte in REALTIME.get(tail[1], ())


def _close(profile: dict) -> dict:
    out = dict(profile)
    for _ in range(2):  # a code change, or two (which breaks a C run)
        for state, cost in list(out.items()):
            if state[0] == "B":
                target: tuple = ("C", (), None)
            elif state[2] is None:
                target = ("B",)
            else:
                continue
            if out.get(target, cost + 2) > cost + 1:
                out[target] = cost + 1
    return out


def _step(profile: dict, digit: int) -> tuple[tuple, int]:
    new: dict = {}
    for state, cost in profile.items():
        if state[0] == "B":
            nxt, c = ("B",), cost + 1
        elif state[2] is None:
            nxt, c = ("C", state[1], digit), cost
        else:
            byte = 10 * state[2] + digit
            if _unsafe(state[1], byte):
                continue
            nxt, c = ("C", tuple(_abstract(b) for b in (*state[1], byte))[-2:], None), cost + 1
        if new.get(nxt, c + 1) > c:
            new[nxt] = c
    new = _close(new)
    low = min(new.values())
    return tuple(sorted(((s, c - low) for s, c in new.items()), key=repr)), low


def _start() -> tuple[tuple, int]:
    profile = _close({("B",): 1, ("C", (), None): 1})
    return tuple(sorted(profile.items(), key=repr)), 0


def _final(profile: tuple) -> int:
    return min(c for s, c in profile if s[0] == "B" or s[2] is None)


def worst(alphabets: list) -> tuple[int, str]:
    """The most symbols (start + data) any string over ``alphabets`` needs, and one such."""
    layer = {_start()[0]: (0, "")}
    for digits in alphabets:
        nxt: dict = {}
        for profile, (base, witness) in layer.items():
            for d in digits:
                p2, low = _step(dict(profile), d)
                if p2 not in nxt or nxt[p2][0] < base + low:
                    nxt[p2] = (base + low, witness + str(d))
        layer = nxt
    return max((base + _final(p), w) for p, (base, w) in layer.items() if _final_ok(p))


def _final_ok(profile: tuple) -> bool:
    return any(s[0] == "B" or s[2] is None for s, _ in profile)


def odds(dates: list[str]) -> dict[int, float]:
    layer: dict = {_start(): 1.0}
    for _ in range(16):
        nxt: dict = defaultdict(float)
        for (profile, base), p in layer.items():
            for d in range(10):
                p2, low = _step(dict(profile), d)
                nxt[(p2, base + low)] += p / 10
        layer = nxt
    out: dict[int, float] = defaultdict(float)
    for (profile, base), p in layer.items():
        for date in dates:
            prof, b = profile, base
            for ch in date:
                prof, low = _step(dict(prof), int(ch))
                b += low
            out[b + _final(prof)] += p / len(dates)
    return dict(sorted(out.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--worst", action="store_true", help="exact widest symbol (about 30 s)")
    ap.add_argument("--odds", action="store_true", help="symbol count odds (about 5 min)")
    args = ap.parse_args()
    tickets = random_tickets(args.tickets, args.seed)
    for paper in (58, 80):
        run_tickets(tickets, paper)
    if args.worst:
        ticket_shape = [range(10)] * 16 + [
            [2], [0], range(2, 10), range(10), [0, 1], range(10), range(4), range(10)
        ]  # fmt: skip
        for label, alphabets in (("any 24 digits", [range(10)] * 24), ("tickets", ticket_shape)):
            symbols, witness = worst(alphabets)
            code = encode(witness)
            assert len(code.values) == symbols, (witness, code.segments)
            print(
                f"widest, {label}: {symbols - 1} data symbols, {code.width_modules} modules"
                f" ({code.width_modules * 2} dots at 2, {code.width_modules * 3} at 3),"
                f" e.g. {witness} -> {code.segments}"
            )
    if args.odds:
        start = dt.date(2026, 1, 1)
        dates = [(start + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(0, 3650, 7)]
        for symbols, p in odds(dates).items():
            print(f"odds: {symbols - 1} data symbols: {p:.6g}")


if __name__ == "__main__":
    main()
