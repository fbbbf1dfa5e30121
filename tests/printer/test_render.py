"""Rendering: code page bytes, widths, Code128 subset C, QR, copies, PNG preview."""

from __future__ import annotations

import pytest
from PIL import Image

from kioskd.printer import render_escpos, render_png
from kioskd.printer.escpos_render import code128_data
from kioskd.printer.layout import Line, layout, printable_text
from kioskd.receipt import QR, Barcode, Feed, Receipt, Row, Rule, Text, Title

TICKET = "123456788765432120250131"


def slip(copy: bool = False) -> Receipt:
    return Receipt(
        "ticket",
        (
            Title("LOTERÍA DEL ZÚLIA"),
            Text("ZODÍACO Año ¿Ganó? 5 €"),
            Row("Total", "Bs. 1.234,00", bold=True),
            Rule(),
            Barcode(TICKET, "12345678 87654321 20250131"),
            QR("K1:1.341.20"),
            Feed(1),
        ),
        copy=copy,
    )


def test_spanish_text_in_cp858():
    out = render_escpos(slip(), 80)
    assert out.startswith(b"\x1b@")  # initialise
    assert b"\x1bt\x13" in out  # ESC t 19 = CP858
    assert "LOTERÍA DEL ZÚLIA".encode("cp858") in out
    assert "ZODÍACO Año ¿Ganó? 5 €".encode("cp858") in out
    assert b"LOTER\xd6A" in out and b"\xa4" in out and b"\xa8" in out and b"\xd5" in out


def test_cp850_has_no_euro_and_says_eur():
    out = render_escpos(slip(), 80, codepage="cp850")
    assert b"\x1bt\x02" in out
    assert b"5 EUR" in out


def test_unprintable_characters_are_substituted_not_dropped():
    assert printable_text("ő → a\x10\x04\x01") == "o ? a   "


@pytest.mark.parametrize(("paper", "cols"), [(58, 32), (80, 48)])
def test_width_rows_and_rules(paper, cols):
    items = layout(slip(), paper)
    lines = [i for i in items if isinstance(i, Line)]
    assert any(line.text == "-" * cols for line in lines)
    row = next(line for line in lines if line.text.startswith("Total"))
    assert len(row.text) == cols and row.text.endswith("Bs. 1.234,00")
    assert all(len(line.text) <= (cols // 2 if line.double else cols) for line in lines)


def test_long_row_splits_onto_two_lines():
    items = layout(Receipt("x", (Row("A" * 30, "B" * 10),)), 58)
    assert [(i.text, i.align) for i in items] == [("A" * 30, "left"), ("B" * 10, "right")]


def test_bad_paper_width():
    with pytest.raises(ValueError, match="58 or 80"):
        render_escpos(slip(), 76)


def test_code128_numeric_uses_subset_c_pairs():
    assert code128_data("12345678") == b"{C\x0c\x22\x38\x4e"
    out = render_escpos(slip(), 58)
    payload = b"{C" + bytes(int(TICKET[i : i + 2]) for i in range(0, 24, 2))
    assert b"\x1dkI" + bytes([len(payload)]) + payload in out
    assert b"12345678 87654321 20250131\n" in out  # text under it


def test_code128_avoids_bytes_that_look_like_dle_eot():
    # pairs 16 04 01 would be 0x10 0x04 0x01, a status query inside the barcode
    assert code128_data("20160401") == b"{B20160401"
    assert code128_data("123") == b"{B123"  # odd length
    assert code128_data("AB{1") == b"{BAB{{1"


def test_qr_native_and_cut():
    out = render_escpos(slip(), 80)
    assert b"\x1d(k\x0e\x001P0K1:1.341.20" in out
    assert out.endswith(b"\x1dV\x00")
    assert not render_escpos(Receipt("x", (Text("a"),), cut=False), 80).endswith(b"\x1dV\x00")


def test_copy_marked_top_and_bottom():
    out = render_escpos(slip(copy=True), 80)
    assert out.count(b"*** COPIA ***") == 2
    assert b"COPIA" not in render_escpos(slip(), 80)


@pytest.mark.parametrize(("paper", "dots"), [(58, 384), (80, 576)])
def test_png_preview(tmp_path, paper, dots):
    path = render_png(slip(copy=True), paper, tmp_path / "slip.png")
    with Image.open(path) as im:
        assert im.width == dots + 32
        assert im.height > 300
        gray = im.convert("L")
        # the barcode band is dark somewhere in the middle of the slip
        assert gray.getextrema()[0] == 0
    assert not list(tmp_path.glob(".*.tmp"))
