"""Independent checks of printed barcodes: an ESC/POS Code128 reader and a PNG bar sampler.

Used by the tests and by bench/bench_barcodes.py. Nothing here comes from kioskd's encoder: the
ESC/POS payload is read by the rules of ``GS k 73`` (code set selections ``{A {B {C``, ``{{``
for a brace), the check symbol is recomputed, the bar patterns come from python-barcode's
table, and the PNG is read by zxing-cpp.
"""

from __future__ import annotations

import datetime as dt
import random

from barcode.charsets.code128 import CODES, STOP
from PIL import Image

from kioskd.counter.scan import barcode_data

GS_K_CODE128 = b"\x1dkI"


def random_tickets(n: int, seed: int) -> list[str]:
    """`n` ticket barcodes (number, PIN, sale day) from a seeded RNG."""
    rng = random.Random(seed)
    first = dt.date(2025, 1, 1)
    return [
        barcode_data(
            rng.randrange(10**8), rng.randrange(10**8), first + dt.timedelta(rng.randrange(3650))
        )
        for _ in range(n)
    ]


def realtime_commands(job: bytes) -> list[bytes]:
    """Real-time commands in ``job``: DLE EOT n, DLE ENQ n, DLE DC4 fn (10 04 / 10 05 / 10 14)
    with a parameter some printer acts on: Epson defines n = 1..4, 7, 8, 18 for DLE EOT,
    0..2 for DLE ENQ, fn = 1..3, 7, 8 for DLE DC4; clones a few more below 21; digits '0'..'9'
    for firmware that reads them as numbers. A prefix at the end of the job counts (its
    parameter would be the next byte sent)."""
    guarded = set(range(0, 21)) | set(range(48, 58))
    return [
        job[i : i + 3]
        for i in range(len(job) - 1)
        if job[i] == 0x10
        and job[i + 1] in (0x04, 0x05, 0x14)
        and (i + 2 == len(job) or job[i + 2] in guarded)
    ]


def escpos_code128_values(job: bytes) -> list[list[int]]:
    """The symbol values (start, data, code changes; no check) of every Code128 in ``job``."""
    out = []
    at = job.find(GS_K_CODE128)
    while at != -1:
        n = job[at + 3]
        payload = job[at + 4 : at + 4 + n]
        out.append(_read_payload(payload))
        at = job.find(GS_K_CODE128, at + 4 + n)
    return out


def _read_payload(payload: bytes) -> list[int]:
    if payload[:1] != b"{" or payload[1:2] not in (b"A", b"B", b"C"):
        raise AssertionError(f"payload must start with a code set: {payload!r}")
    code_set = payload[1:2].decode()
    values = [{"A": 103, "B": 104, "C": 105}[code_set]]
    i = 2
    while i < len(payload):
        b = payload[i]
        if b == ord("{") and payload[i + 1 : i + 2] != b"{":
            target = chr(payload[i + 1])
            change = {"C": {"B": 100, "A": 101}, "B": {"C": 99, "A": 101}, "A": {"C": 99, "B": 100}}
            values.append(change[code_set][target])
            code_set = target
            i += 2
            continue
        if b == ord("{"):
            i += 1  # "{{" is one brace
        if code_set == "C":
            assert b < 100, f"byte {b} is not a digit pair"
            values.append(b)
        elif code_set == "B":
            values.append(b - 32)
        else:
            values.append(b + 64 if b < 32 else b - 32)
        i += 1
    return values


def modules_of(values: list[int]) -> str:
    """Bars of a Code128 symbol from its values: the check symbol and stop appended."""
    check = (values[0] + sum(i * v for i, v in enumerate(values[1:], start=1))) % 103
    return "".join(CODES[v] for v in [*values, check]) + STOP + "11"


def png_row_modules(image: Image.Image, y: int, module: int) -> tuple[str, int, int]:
    """The bar/space modules along row ``y`` of a preview, and the first and last dark x."""
    gray = image.convert("L")
    row = [gray.getpixel((x, y)) < 128 for x in range(gray.width)]
    first = row.index(True)
    last = len(row) - 1 - row[::-1].index(True)
    runs = []
    x = first
    while x <= last:
        start = x
        while x <= last and row[x] == row[start]:
            x += 1
        width = x - start
        assert width % module == 0, f"run of {width} dots at x={start} is not whole modules"
        runs.append(("1" if row[start] else "0") * (width // module))
    return "".join(runs), first, last


def zxing_any(image: Image.Image) -> list[tuple[str, str]]:
    """(format, text) of every Code128 or QR code zxing-cpp finds in ``image``."""
    import zxingcpp

    formats = (zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode)
    return [(r.format.name, r.text) for r in zxingcpp.read_barcodes(image, formats=formats)]


def zxing_code128(image: Image.Image) -> list[str]:
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.Code128)]
