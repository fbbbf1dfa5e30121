"""Rendering: code page bytes, widths, Code128 subset C, QR, copies, PNG preview = paper."""

from __future__ import annotations

import pytest
from PIL import Image

from kioskd.printer import render_escpos, render_png
from kioskd.printer.code128 import encode
from kioskd.printer.layout import (
    BARCODE_DOTS,
    CODE_GAP_DOTS,
    CUT_FEED_LINES,
    DOUBLE_LINE_DOTS,
    LINE_DOTS,
    BarcodeLine,
    Line,
    QRLine,
    layout,
    printable_text,
)
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
    assert out.count(b"\x1bt") == 1
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
    assert encode("12345678").escpos_payload() == b"{C\x0c\x22\x38\x4e"
    out = render_escpos(slip(), 58)
    payload = b"{C" + bytes(int(TICKET[i : i + 2]) for i in range(0, 24, 2))
    assert b"\x1dkI" + bytes([len(payload)]) + payload in out
    assert b"12345678 87654321 20250131\n" in out  # text under it


def test_code128_avoids_bytes_that_look_like_dle_eot():
    # pairs 16 04 01 would be 0x10 0x04 0x01, a status query inside the barcode: the C run
    # is broken (here the last digits go to subset B; 10 04 then "{" (123) is no command)
    assert encode("20160401").escpos_payload() == b"{C\x14\x10\x04{B01"
    assert encode("2016040199").escpos_payload() == b"{C\x14\x10{B{C\x04\x01\x63"
    assert encode("123").escpos_payload() == b"{B123"  # odd length
    assert encode("AB{1").escpos_payload() == b"{BAB{{1"


def test_qr_native_and_cut():
    out = render_escpos(slip(), 80)
    assert b"\x1d(k\x0e\x001P0K1:1.341.20" in out
    assert out.endswith(b"\x1dV\x00")
    assert not render_escpos(Receipt("x", (Text("a"),), cut=False), 80).endswith(b"\x1dV\x00")


def test_copy_marked_top_and_bottom():
    out = render_escpos(slip(copy=True), 80)
    assert out.count(b"*** COPIA ***") == 2
    assert b"COPIA" not in render_escpos(slip(), 80)


@pytest.mark.parametrize(("paper", "dots"), [(58, 384 + 2 * 38), (80, 576 + 2 * 30)])
def test_png_preview(tmp_path, paper, dots):
    path = render_png(slip(copy=True), paper, tmp_path / "slip.png")
    with Image.open(path) as im:
        assert im.width == dots  # the roll: print width + unprinted margins
        assert im.height > 300
        gray = im.convert("L")
        # the barcode band is dark somewhere in the middle of the slip
        assert gray.getextrema()[0] == 0
    assert not list(tmp_path.glob(".*.tmp"))


def _escpos_feed_dots(job: bytes) -> int:
    """Paper fed by a job, read by ESC/POS rules from the bytes alone: LF feeds the current
    line spacing (ESC 3 n, 1 dot units), ESC J n feeds n, ESC d n feeds n lines, GS k
    (Code128) feeds the GS h height, GS ( k print feeds the QR symbol's height (given)."""
    import re

    spacing, fed, height, i = None, 0, None, 0
    qr_heights = iter(_qr_heights)
    while i < len(job):
        b = job[i]
        if job.startswith(b"\x1b3", i):
            spacing, i = job[i + 2], i + 3
        elif job.startswith(b"\x1bJ", i):
            fed, i = fed + job[i + 2], i + 3
        elif job.startswith(b"\x1bd", i):
            fed, i = fed + spacing * job[i + 2], i + 3
        elif job.startswith(b"\x1dh", i):
            height, i = job[i + 2], i + 3
        elif job.startswith(b"\x1dkI", i):
            fed, i = fed + height, i + 4 + job[i + 3]
        elif job.startswith(b"\x1d(k", i):
            n = job[i + 3] + 256 * job[i + 4]
            if job[i + 6] == 81:  # fn 81: print the stored symbol
                fed += next(qr_heights)
            i += 5 + n
        elif b in (0x1B, 0x1D):
            m = re.match(rb"(\x1b[@]|\x1b[tEaM!-]|\x1d[!BHwLV]|\x1b[-])", job[i : i + 2])
            assert m, f"unexpected command {job[i : i + 3]!r}"
            i += 2 if job[i + 1 : i + 2] == b"@" else 3
        elif b == 0x0A:
            fed, i = fed + spacing, i + 1
        else:
            i += 1
    return fed


_qr_heights: list[int] = []


@pytest.mark.parametrize("paper", [58, 80])
def test_preview_height_is_the_paper_fed(tmp_path, paper):
    """Preview = paper: the PNG is exactly as tall as the paper the ESC/POS job feeds."""
    from kioskd.printer.png_render import _qr_matrix

    receipt = slip(copy=True)
    items = layout(receipt, paper)
    _qr_heights[:] = [len(_qr_matrix(i.data)) * i.size for i in items if isinstance(i, QRLine)]
    job = render_escpos(receipt, paper)
    fed = _escpos_feed_dots(job)
    with Image.open(render_png(receipt, paper, tmp_path / "s.png")) as im:
        assert im.height == fed
    # the parts: 30-dot lines, 60 for the double-size title, no blank line after codes
    assert b"\x1b3\x1e" in job and b"\x1b3<" in job
    assert b"\x1dkI" in job and b"\n\x1dkI" not in job
    barcode_end = job.index(b"\x1dkI") + 4 + job[job.index(b"\x1dkI") + 3]
    assert job[barcode_end : barcode_end + 3] == b"\x1bJ" + bytes([CODE_GAP_DOTS])
    lines = [i for i in items if isinstance(i, Line)]
    doubles = sum(1 for i in lines if i.double)
    expected = (
        LINE_DOTS * (len(lines) - doubles + 1 + CUT_FEED_LINES)  # + Feed(1) (the barcode's
        # text is one of the lines)
        + DOUBLE_LINE_DOTS * doubles
        + BARCODE_DOTS + CODE_GAP_DOTS
        + sum(_qr_heights) + CODE_GAP_DOTS
    )  # fmt: skip
    assert fed == expected
    assert any(isinstance(i, BarcodeLine) for i in items)


def _busy_slip() -> Receipt:
    """Every kind of line the renderer has: titles (double size), rows, rules, a Code128
    barcode, a QR code, feeds, a copy mark, text the page cannot print."""
    return Receipt(
        "ticket",
        (
            Title("LOTERÍA DEL ZÚLIA"),
            Text("ZODÍACO Año ¿Ganó? 5 € ő → a", align="right"),
            Row("Total", "Bs. 1.234,00", bold=True),
            Rule(),
            Barcode(TICKET, "12345678 87654321 20250131"),
            QR("K1:1.341.20"),
            Feed(3),
            Title("COPIA"),
        ),
        copy=True,
    )


@pytest.mark.parametrize("paper", [58, 80])
@pytest.mark.parametrize("codepage", [None, "cp850"])
def test_the_job_builder_writes_what_python_escpos_dummy_printer_wrote(
    monkeypatch, paper, codepage
):
    """Issue 19: the renderer builds jobs on python-escpos's `Escpos` directly, not on its
    `Dummy` printer (whose import loads every device backend): the bytes are the same."""
    from escpos.printer import Dummy

    from kioskd.printer import escpos_render

    for receipt in (slip(), slip(copy=True), _busy_slip()):
        ours = render_escpos(receipt, paper, codepage=codepage)
        with monkeypatch.context() as m:
            m.setattr(escpos_render, "Job", lambda: Dummy(profile="default"))
            dummy = render_escpos(receipt, paper, codepage=codepage)
        assert ours == dummy
        assert len(ours) > 200


def test_loading_the_renderer_loads_no_printer_device_backend(tmp_path):
    """The renderer needs python-escpos's commands, not its devices (serial, USB, CUPS...):
    a fresh interpreter that renders a slip has not imported `escpos.printer` or pyserial."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kioskd.printer.printer import _render\n"
        "from kioskd.receipt import Receipt, Text\n"
        "assert _render(Receipt('test', (Text('x'),)), 80)\n"
        "devices = ('escpos.printer', 'serial', 'usb', 'cups')\n"
        "print(sorted(m for m in sys.modules if m.startswith(devices)))\n"
    )
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_printable_ascii_passes_whole_and_agrees_with_the_character_path():
    """Issue 19 (CPU per sale): a printable line passes whole where the code page encodes it
    (ASCII, or an accented word on a Latin page); it is what the character by character path
    gives, on every code page a profile may choose; a line with a control character or one
    the page lacks still goes character by character."""
    import random
    import string

    from kioskd.printer import layout

    samples = [string.printable.strip(), "TOTAL (1)        Bs. 20,00", "Lotto 10AM 10:00", ""]
    samples += ["línea", "Número de ticket", "LOTERÍA — ñ\t€", "¿Ganó? ¡Sí!"]
    samples += ["a\u00a0b", "x\u200by"]
    rng = random.Random(19)
    alphabet = string.printable + "áéíóúñÑÁÉÍÓÚüÜ¿¡€°ºª—–…·•\u00a0\u200b\u202főłЖ中\x00\x1b\x7f"
    samples += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
                for _ in range(400)]  # fmt: skip
    for codepage in ("cp437", "cp850", "cp858", "cp852", "cp1252", "cp866", "iso8859_15"):
        for text in samples:
            assert layout.printable_text(text, codepage) == layout.by_character(text, codepage)
    calls: list[str] = []
    real = layout.by_character
    try:
        layout.by_character = lambda t, c: calls.append(t) or real(t, c)  # type: ignore[assignment]
        layout.printable_text("plain ASCII line", "cp858")
        layout.printable_text("línea", "cp858")
        layout.printable_text("tab\there", "cp858")
        layout.printable_text("ő", "cp858")
    finally:
        layout.by_character = real  # type: ignore[assignment]
    assert calls == ["tab\there", "ő"]


def test_a_line_that_fits_is_wrapped_as_textwrap_wraps_it():
    """Issue 19: `_wrap`'s shortcut for a line that fits (no textwrap) gives textwrap's lines:
    trailing spaces dropped, leading ones kept, a blank line one empty line; a line that does
    not fit, or holds a tab or a newline, goes through textwrap."""
    import random
    import string

    from kioskd.printer import layout

    rng = random.Random(7)
    alphabet = "ab c  -ñ" + string.digits + "\t\n\r\x0b\x0c\u00a0"
    texts = ["", " ", "   ", "   abc", "  a  ", "a b", "x" * 32, "x" * 33, "a-b-c " * 6, "tab\tx"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 50)))
              for _ in range(2000)]  # fmt: skip
    for width in (1, 5, 32, 42, 48):
        for text in texts:
            assert layout._wrap(text, width) == layout._wrapped(text, width), (text, width)
