"""Ticket barcodes: random and hard tickets through layout, ESC/POS and PNG, read by zxing-cpp.

Prints, per paper width (58 and 80 mm), for 10,000 random tickets and (``--hard``) for every
combination of the ticket numbers / PINs / dates that force subset changes:
- how many previews zxing-cpp decodes to the right 24 digits (ticket + PIN + YYYYMMDD), as a
  Code128 or, where none fits, a QR code; how many previews are dot for dot the ESC/POS job
  executed by the independent emulator (tests/printer/escpos_paper.py); how many jobs contain
  a real-time command prefix (DLE EOT / ENQ / DC4, any parameter: must be 0);
- the barcode widths in dots (min / max / histogram by symbol count) against the print width;
- with ``--worst``: the widest symbol any 24 digits and any ticket-shaped digits (16 free
  digits + 20YYMMDD) can need, found exactly by a search over the encoder's states, with a
  witness (about 30 s);
- with ``--odds``: the probability of each symbol count for random tickets (16 uniform digits,
  a date every 7 days of 2026-2035; exact over the digits, about 5 min).

Reproduce with:

    .venv/bin/python bench/bench_barcodes.py [--tickets 10000] [--seed 1] [--hard] \
        [--worst] [--odds]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kioskd.printer.code128 import DLE, REALTIME_PARAMS, REALTIME_SECOND, encode
from kioskd.printer.escpos_render import render_items
from kioskd.printer.layout import BarcodeLine, layout, paper_for
from kioskd.printer.png_render import glyph, render_image
from kioskd.printer.profiles import load_profile
from kioskd.receipt import Barcode, Receipt
from tests.printer.barcode_check import random_tickets, realtime_commands, zxing_any
from tests.printer.escpos_paper import EscposPaper, codepage_table
from tests.printer.test_barcodes import HARD_DATES, HARD_FIELDS

# The test's hard fields plus more prefixes at every offset and field boundaries.
MORE_FIELDS = (
    "16040000", "00160400", "00001604", "16050000", "01605000", "00160500", "16200000",
    "00162000", "04000016", "05000016", "16041605", "16201620",
)  # fmt: skip
MORE_DATES = ("20250131", "20271216", "20300520")
MARGIN = {58: 38, 80: 30}


def hard_tickets() -> list[str]:
    fields = HARD_FIELDS + MORE_FIELDS
    dates = HARD_DATES + MORE_DATES
    return [t + p + d for t in fields for p in fields for d in dates]


def run_tickets(tickets: list[str], paper: int, label: str) -> None:
    page = load_profile("default").codepage
    sheet = paper_for(paper)
    decoded = same = realtime = as_qr = 0
    widths: list[int] = []
    by_symbols: Counter[tuple[int, int]] = Counter()
    t0 = time.perf_counter()
    for data in tickets:
        items = layout(Receipt("ticket", (Barcode(data, text=data),)), sheet, codepage=page.codec)
        job = render_items(items, sheet, codepage=page, cut=True)
        realtime += bool(realtime_commands(job))
        item = items[0]
        if isinstance(item, BarcodeLine):
            widths.append(item.width_dots)
            by_symbols[(len(item.symbol.values) - 1, item.module)] += 1
        else:
            as_qr += 1
        image = render_image(items, sheet)
        code = image.crop((0, 0, image.width, image.height - 7 * 30))
        decoded += [text for _f, text in zxing_any(code)] == [data]
        emu = EscposPaper(sheet.dots, MARGIN[paper], codepage_table("default"), glyph)
        same += emu.feed(job).image().tobytes() == image.tobytes()
    elapsed = time.perf_counter() - t0
    n = len(tickets)
    print(f"{paper} mm ({sheet.dots} dots printable), {n:,} {label} tickets, {elapsed:.1f} s:")
    print(f"  zxing-cpp decoded to the right 24 digits: {decoded:,}/{n:,}")
    print(f"  preview == the ESC/POS job on the emulator, dot for dot: {same:,}/{n:,}")
    print(f"  jobs with a real-time prefix: {realtime}; QR code (no Code128 fits): {as_qr:,}")
    if widths:
        print(f"  width: min {min(widths)} / max {max(widths)} dots")
    for (symbols, module), count in sorted(by_symbols.items()):
        print(f"    {symbols} data symbols: {count:,} tickets ({encode_width(symbols, module)})")


def encode_width(data_symbols: int, module: int) -> str:
    modules = 11 * (data_symbols + 2) + 13
    return f"{modules} modules, {modules * module} dots at {module} dots/module"


# -- exact search over the encoder's states ------------------------------------------------
# The encoder is a shortest path over (code set, last C bytes); digit by digit its states are
# B, or C with the last two C bytes (only whether they are DLE / a real-time second byte
# matters) and a pending half pair. A
# "profile" is the cheapest cost of each state, minus the smallest; there are few profiles,
# so all digit strings can be covered exactly.


def _abstract(byte: int) -> int:
    return byte if byte == DLE or byte in REALTIME_SECOND else -1


def _open(tail: tuple[int, ...]) -> bool:
    return len(tail) == 2 and tail[0] == DLE and tail[1] in REALTIME_SECOND


def _unsafe(tail: tuple[int, ...], byte: int) -> bool:
    return _open(tail) and byte in REALTIME_PARAMS


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


def _ends(state: tuple) -> bool:
    """May the payload end in ``state`` (no half pair, no open real-time prefix)?"""
    return state[0] == "B" or (state[2] is None and not _open(state[1]))


def _final(profile: tuple) -> int:
    return min(c for s, c in profile if _ends(s))


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
    return any(_ends(s) for s, _ in profile)


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
    ap.add_argument("--hard", action="store_true", help="every hard combination (~4,000)")
    ap.add_argument("--worst", action="store_true", help="exact widest symbol (about 30 s)")
    ap.add_argument("--odds", action="store_true", help="symbol count odds (about 5 min)")
    ap.add_argument("--odds-days", type=int, default=7, help="a date every N days for --odds")
    args = ap.parse_args()
    tickets = random_tickets(args.tickets, args.seed)
    for paper in (58, 80):
        if tickets:
            run_tickets(tickets, paper, "random")
        if args.hard:
            run_tickets(hard_tickets(), paper, "hard")
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
        step = args.odds_days
        dates = [(start + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(0, 3650, step)]
        for symbols, p in odds(dates).items():
            print(f"odds: {symbols - 1} data symbols: {p:.6g}")


if __name__ == "__main__":
    main()
