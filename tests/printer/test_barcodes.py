"""Ticket barcodes: no real-time command in the bytes, fit the paper, decode with a real reader.

Each ticket is laid out once per paper width; the ESC/POS job and the PNG preview are made
from that layout. Checked for every ticket: the job has no DLE EOT/ENQ/DC4 command; the
symbol fits the print width; zxing-cpp reads the preview as the 24 digits; the bars of the
preview are exactly the symbols the ESC/POS payload encodes (read back by the rules of
``GS k``, check symbol recomputed). bench/bench_barcodes.py runs the same over 10,000 tickets.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.counter.scan import barcode_data
from kioskd.printer import render_escpos, render_png
from kioskd.printer.code128 import encode, realtime_at
from kioskd.printer.escpos_render import render_items
from kioskd.printer.layout import (
    BARCODE_DOTS,
    PRINT_DOTS,
    SIDE_MARGIN_DOTS,
    BarcodeLine,
    Line,
    layout,
)
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

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev extra) decodes the previews")

PAGE = load_profile("default").codepage


def dangerous_patterns() -> list[str]:
    """Every real-time command (16 then 04/05/20 then 00..08) at every position of a ticket,
    the issue's ticket 32160401, the pair 16 at the very end (the byte after the payload),
    and ticket/PIN boundaries."""
    base = "123456788765432120260131"
    out = {"321604018765432120250131", "123456788765432120260416", "000000160000001620260416"}
    for pos in range(0, 23):
        for follower in ("04", "05", "20"):
            for param in [f"{k:02d}" for k in range(9)]:
                s = (base[:pos] + "16" + follower + param + base[pos + 6 :])[:24]
                out.add(s)
    return sorted(out)


# Two commands in both digit alignments: no encoding without them fits 384 dots at 2 dots a
# module (15 data symbols; found by bench/bench_barcodes.py --worst). Random tickets hit this about
# 4 times in 10^9 (same bench). On 58 mm such a ticket prints its digits as text.
TOO_WIDE_FOR_58 = ["160401604016040020200000", "160401160401160401160401"]


def check_ticket(data: str, paper_mm: int) -> None:
    receipt = Receipt("ticket", (Barcode(data, text=data),))
    items = layout(receipt, paper_mm, codepage=PAGE.codec)
    job = render_items(items, paper_mm, codepage=PAGE, cut=True)
    assert realtime_commands(job) == []
    item = items[0]
    if not isinstance(item, BarcodeLine):
        assert paper_mm == 58 and len(encode(data).values) > 15, data
        assert isinstance(item, Line) and item.text == data
        assert b"\x1dk" not in job
        return
    assert item.width_dots <= PRINT_DOTS[paper_mm]
    image = render_image(items, paper_mm)
    assert zxing_code128(image) == [data]
    (values,) = escpos_code128_values(job)
    bars, first, last = png_row_modules(image, BARCODE_DOTS // 2, item.module)
    assert bars == modules_of(values)
    assert last - first + 1 == item.width_dots
    quiet = min(first, image.width - 1 - last)
    assert quiet >= 10 * item.module
    assert first >= SIDE_MARGIN_DOTS[paper_mm]  # inside the print area


@pytest.mark.parametrize("paper", [58, 80])
def test_random_tickets_decode_and_match_the_bytes(paper):
    for data in random_tickets(300, seed=paper):
        check_ticket(data, paper)


@pytest.mark.parametrize("paper", [58, 80])
def test_every_dangerous_pattern_decodes_and_match_the_bytes(paper):
    for data in dangerous_patterns():
        check_ticket(data, paper)


@pytest.mark.parametrize("paper", [58, 80])
def test_the_widest_tickets(paper):
    for data in TOO_WIDE_FOR_58:
        check_ticket(data, paper)


def test_subset_c_stays_and_the_issue_ticket_is_narrow():
    plain = encode("123456788765432120250131")
    assert [cs for cs, _ in plain.segments] == ["C"] and len(plain.values) == 13
    assert plain.width_modules == 167  # 334 dots on 58 mm, 501 on 80 mm
    issue = encode("321604018765432120250131")
    assert issue.escpos_payload() == b"{C\x20\x10{B{C\x04\x01WA+\x15\x14\x19\x01\x1f"
    assert issue.width_modules == 189  # 378 of 384 dots on 58 mm; was 299 modules in subset B
    assert encode("123").escpos_payload() == b"{B123"
    assert encode("AB{1").escpos_payload() == b"{BAB{{1"


def test_realtime_commands_are_found_with_their_parameter():
    assert realtime_at(b"ab\x10\x04\x01") == 2
    assert realtime_at(b"\x10\x05\x02") == 0
    assert realtime_at(b"\x10\x14\x08") == 0
    assert realtime_at(b"\x10\x04\x50\x10\x14") is None  # no command with that parameter
    assert realtime_at(b"\x10\x04") is None


def test_a_job_with_a_realtime_command_is_refused():
    from kioskd.receipt import QR

    # GS ( k length bytes 0x10 0x04 then cn '1' (0x31): not a command; craft a QR whose
    # data carries the bytes instead (control characters reach QR data unchanged).
    with pytest.raises(ValueError, match="real-time command"):
        render_escpos(Receipt("x", (QR("a\x10\x04\x01b"),)), 80)


def test_ticket_slip_preview_decodes(tmp_path):
    import datetime as dt

    data = barcode_data(32160401, 87654321, dt.date(2025, 1, 31))
    receipt = Receipt("ticket", (Barcode(data, text=data),))
    for paper in (58, 80):
        from PIL import Image

        path = render_png(receipt, paper, tmp_path / f"t{paper}.png")
        with Image.open(path) as im:
            assert zxing_code128(im) == [data]


def _text_of(values: list[int]) -> str:
    """The characters a reader gets from Code128 values (sets B and C; independent of kioskd)."""
    code_set = {104: "B", 105: "C"}[values[0]]
    out = []
    for v in values[1:]:
        if code_set == "C" and v == 100:
            code_set = "B"
        elif code_set == "B" and v == 99:
            code_set = "C"
        elif code_set == "C":
            out.append(f"{v:02d}")
        else:
            out.append(chr(v + 32))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=1, max_size=40)
    | st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=30
    )
)
def test_any_printable_data_round_trips_without_realtime_commands(data):
    symbol = encode(data)
    payload = symbol.escpos_payload()
    assert realtime_commands(payload + b"\x1b") == []
    (values,) = escpos_code128_values(b"\x1dkI" + bytes([len(payload)]) + payload)
    assert values == list(symbol.values)
    assert _text_of(values) == data
    assert symbol.modules() == modules_of(values)
    # never wider than plain subset B (one symbol per character)
    assert len(values) - 1 <= len(data)
