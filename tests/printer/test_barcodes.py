"""Ticket barcodes: no real-time command in the bytes, fit both papers, always scan.

Each ticket is laid out once per paper width; the ESC/POS job and the PNG preview are made
from that layout. Checked for every ticket: the job has no DLE EOT/ENQ/DC4 prefix (any
parameter); zxing-cpp reads the preview as the 24 digits, as a Code128 when one fits the paper
and else as a QR code (never digits alone); the job executed by the independent emulator
(tests/printer/escpos_paper.py, which reads the ``GS k`` payload by its own rules) draws the
very same dots as the preview. bench/bench_barcodes.py runs the same over more tickets.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageChops

from kioskd.counter.scan import barcode_data
from kioskd.printer import render_escpos, render_png
from kioskd.printer.code128 import encode, realtime_at
from kioskd.printer.escpos_render import render_items
from kioskd.printer.layout import (
    BARCODE_DOTS,
    BarcodeLine,
    QRLine,
    barcode_fit,
    layout,
    paper_for,
)
from kioskd.printer.png_render import _qr_matrix, glyph, render_image
from kioskd.printer.profiles import load_profile
from kioskd.receipt import Barcode, Receipt
from tests.printer.barcode_check import (
    escpos_code128_values,
    modules_of,
    png_row_modules,
    random_tickets,
    realtime_commands,
    zxing_any,
)
from tests.printer.escpos_paper import EscposPaper, codepage_table

zxingcpp = pytest.importorskip("zxingcpp", reason="zxing-cpp (dev extra) decodes the previews")

PAGE = load_profile("default").codepage
TABLE = codepage_table("default")
MARGIN = {58: 38, 80: 30}  # (57.5 / 79.5 mm rolls - 48 / 72 mm heads) / 2 at 8 dots/mm


def dangerous_patterns() -> list[str]:
    """Every real-time prefix (16 then 04/05/20) with a sample of parameters (1, 8, the
    issue's 18, 20; and 21, which is data) at every position of a ticket, the pair 16 at
    the very end, and ticket/PIN/date boundaries."""
    base = "123456788765432120260131"
    out = {"321604018765432120250131", "123456788765432120260416", "000000160000001620260416"}
    for pos in range(0, 23):
        for follower in ("04", "05", "20"):
            for param in ("01", "08", "18", "20", "21"):
                s = (base[:pos] + "16" + follower + param + base[pos + 6 :])[:24]
                out.add(s)
    return sorted(out)


# 8-digit ticket numbers and PINs that force subset changes: the issue's, a prefix at several
# offsets, a field ending in 16 (the next field or the date's "20" completes a prefix) and
# two prefixes in one field. With the dates below, every combination is tried.
HARD_FIELDS = (
    "32160401", "16040112", "16041604", "03160402", "32160418", "16041801",
    "01604000", "00016050", "00001620", "00000016", "20000016", "16201605",
)  # fmt: skip
HARD_DATES = ("20260416", "20160405", "20200516")


def hard_tickets() -> list[str]:
    return [t + p + d for t, p, d in itertools.product(HARD_FIELDS, HARD_FIELDS, HARD_DATES)]


def preview_qr(data: bytes, level: str) -> tuple[tuple[bool, ...], ...]:
    """The preview's cached QR modules (qrcode's mask choice is slow); the data and level are
    the ones the emulator read from the job's GS ( k."""
    assert level == "M"
    return _qr_matrix(data.decode("ascii"))


def check_ticket(data: str, paper_mm: int) -> str:
    """Lay out, print and preview one ticket; return how it scans ("Code128" / "QRCode")."""
    receipt = Receipt("ticket", (Barcode(data, text=data),))
    paper = paper_for(paper_mm)
    items = layout(receipt, paper, codepage=PAGE.codec)
    job = render_items(items, paper, codepage=PAGE, cut=True)
    assert realtime_commands(job) == [], data
    image = render_image(items, paper)
    code = image.crop((0, 0, image.width, image.height - 6 * 30 - 30))  # the code, its text
    found = zxing_any(code)
    assert [text for _fmt, text in found] == [data], (data, paper_mm, found)
    sheet = EscposPaper(paper.dots, MARGIN[paper_mm], TABLE, glyph, qr=preview_qr).feed(job)
    assert ImageChops.difference(sheet.image(), image).getbbox() is None, data
    item = items[0]
    if isinstance(item, BarcodeLine):
        (values,) = escpos_code128_values(job)
        bars, first, last = png_row_modules(image, BARCODE_DOTS // 2, item.module)
        assert bars == modules_of(values)
        assert min(first, image.width - 1 - last) >= 10 * item.module  # quiet zones
        assert first >= MARGIN[paper_mm]  # inside the print area
    else:
        assert isinstance(item, QRLine) and item.data == data
        assert b"\x1d(k\x1b\x001P0" + data.encode() in job
    return found[0][0]


def test_every_hard_combination_scans_on_both_papers():
    """432 ticket x PIN x date combinations that force subset changes, on 58 and 80 mm."""
    tickets = hard_tickets()
    assert len(tickets) == 432
    how = {58: [], 80: []}
    for paper in (58, 80):
        for data in tickets:
            how[paper].append(check_ticket(data, paper))
    assert set(how[80]) == {"Code128"}  # 80 mm: always a Code128
    # 58 mm: a QR code exactly where no Code128 fits (2 symbols over a plain ticket's 13)
    for data, kind in zip(tickets, how[58], strict=True):
        fits = barcode_fit(encode(data), paper_for(58)) is not None
        assert kind == ("Code128" if fits else "QRCode"), data
    assert "Code128" in how[58] and "QRCode" in how[58]


@pytest.mark.parametrize("paper", [58, 80])
def test_random_tickets_decode_and_match_the_bytes(paper):
    for data in random_tickets(150, seed=paper):
        assert check_ticket(data, paper) == "Code128"


@pytest.mark.parametrize("paper", [58, 80])
def test_every_dangerous_pattern_decodes_and_match_the_bytes(paper):
    for data in dangerous_patterns():
        check_ticket(data, paper)


# Prefixes in both digit alignments: no Code128 without them fits 384 dots at 2 dots a module
# (15 or more data symbols). On 58 mm such a ticket prints a QR code (and its digits).
TOO_WIDE_FOR_58 = ["160401604016040020200000", "160401160401160401160401"]


@pytest.mark.parametrize("paper", [58, 80])
def test_the_widest_tickets(paper):
    for data in TOO_WIDE_FOR_58:
        assert check_ticket(data, paper) == ("QRCode" if paper == 58 else "Code128")


@settings(max_examples=150, deadline=None)
@given(
    fields=st.lists(
        st.sampled_from(["16", "04", "05", "20", "18", "01", "00", "99"]), min_size=8, max_size=8
    ),
    day=st.dates(min_value=__import__("datetime").date(2016, 1, 1)),
    paper=st.sampled_from([58, 80]),
)
def test_tickets_made_of_prefix_pairs_always_scan(fields, day, paper):
    """Property: ticket and PIN built from the digit pairs that make prefixes, any date."""
    data = "".join(fields) + f"{day:%Y%m%d}"
    check_ticket(data, paper)


def test_subset_c_stays_and_the_issue_ticket_is_narrow():
    plain = encode("123456788765432120250131")
    assert [cs for cs, _ in plain.segments] == ["C"] and len(plain.values) == 13
    assert plain.width_modules == 167  # 334 dots on 58 mm, 501 on 80 mm
    issue = encode("321604018765432120250131")
    assert issue.escpos_payload() == b"{C\x20\x10{B{C\x04\x01WA+\x15\x14\x19\x01\x1f"
    assert issue.width_modules == 189  # 378 of 384 dots on 58 mm; was 299 modules in subset B
    # DLE EOT 18 (the issue's tickets 32160418, 16041801): the prefix is refused, any parameter
    for data in ("32160418", "16041801", "12160520", "16201600", "121604"):
        assert realtime_at(encode(data).escpos_payload() + b"\x1b") is None
    # not a defined parameter: the pairs stay in subset C (no width spent on them)
    payload = encode("1620261604991605").escpos_payload()
    assert payload == b"{C\x10\x14\x1a\x10\x04c\x10\x05{B"  # a prefix never ends the data
    assert encode("123").escpos_payload() == b"{B123"
    assert encode("AB{1").escpos_payload() == b"{BAB{{1"


def test_realtime_commands_are_found_with_their_parameter():
    assert realtime_at(b"ab\x10\x04\x01") == 2
    assert realtime_at(b"\x10\x05\x02") == 0
    assert realtime_at(b"\x10\x14\x08") == 0
    assert realtime_at(b"\x10\x04\x12") == 0  # DLE EOT 18 (Epson)
    assert realtime_at(b"\x10\x14\x31") == 0  # "1" as a digit character
    assert realtime_at(b"ab\x10\x14") == 2  # the parameter would be the next write's byte
    assert realtime_at(b"\x10\x10\x03\x10{\x04\x10\x14\x1a\x10\x04c") is None


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
            assert [t for _f, t in zxing_any(im)] == [data]


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


@settings(max_examples=400, deadline=None)
@given(
    st.text(alphabet="0123456789", min_size=2, max_size=40).filter(lambda d: len(d) % 2 == 0)
    | st.lists(
        st.sampled_from(["16", "04", "05", "20", "01", "18", "48", "57", "99", "00", "7"]),
        min_size=1,
        max_size=14,
    ).map("".join)
)
def test_the_all_digit_shortcut_is_what_the_search_finds(data):
    """Issue 19 (CPU per sale): `encode` takes an even run of digits as one code set C run
    at once when its bytes hold no real-time command; the search over every encoding finds
    the very same symbol, and a run that holds one still goes through the search."""
    from kioskd.printer.code128 import narrowest

    assert encode(data) == narrowest(data)


def test_the_all_digit_shortcut_is_taken_for_a_ticket(monkeypatch):
    from kioskd.printer import code128

    searched: list[str] = []
    real = code128.narrowest
    monkeypatch.setattr(code128, "narrowest", lambda d: searched.append(d) or real(d))
    assert code128.encode("326412168765432120261207").segments == (
        ("C", "326412168765432120261207"),
    )
    assert searched == []
    code128.encode("321604188765432120261207")  # DLE EOT 18 in its C bytes: searched
    assert searched == ["321604188765432120261207"]
