"""An ESC/POS paper emulator for the tests: job bytes in, the sheet the printer would print out.

Independent of kioskd's layout: nothing here reads kioskd's items or its ``Paper``. It knows
the printer (print width in dots, unprinted margin, character cell, code-page table by
``ESC t`` number, as python-escpos's database gives it) and executes the job as an Epson-type
printer does, in standard mode:

- characters go into a line buffer with the attributes in force (``ESC !``, ``ESC E``,
  ``GS !``); LF, ``ESC J n`` and ``ESC d n`` print the buffer and feed (line spacing
  ``ESC 3 n`` in 1-dot units, ``n`` dots, ``n`` lines); a character that does not fit the
  print width makes the printer print the buffer first and go on on a new line (counted in
  ``wrapped``: a line the layout made too long);
- ``ESC a n`` places each printed line, barcode and QR code in dots: left, ``(width - w) // 2``
  or ``width - w``;
- ``GS k 73`` (Code128, HRI off) prints bars from the payload read by the rules of ``GS k``
  (``barcode_check``: code sets ``{B``/``{C``, ``{{``, check symbol recomputed) at ``GS w``
  dots per module, ``GS h`` high; ``GS ( k`` stores QR data and prints it at the ``fn 67``
  module size, error level of ``fn 69`` (the symbol itself from qrcode, as a printer picks the
  smallest version);
- anything else is an AssertionError naming the bytes: a job may hold only what we mean.

Glyphs: the caller gives ``glyph(ch, bold, double)`` (a 1-bit cell bitmap); the emulator only
decides *where* each character goes, which is what the comparison with the preview is about.
QR modules come from qrcode, as the printer's own encoder would pick them (cached here), or
from the caller's ``qr(data, level)`` (a test reusing the preview's cache: qrcode is slow).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from PIL import Image

from tests.printer.barcode_check import _read_payload, modules_of

Glyph = Callable[[str, bool, bool], Image.Image]


@lru_cache(maxsize=512)
def _qr_modules(data: bytes, level: str) -> list[list[bool]]:
    import qrcode

    qr = qrcode.QRCode(
        border=0, error_correction=getattr(qrcode.constants, f"ERROR_CORRECT_{level}")
    )
    qr.add_data(data.decode("latin-1"))
    qr.make(fit=True)
    return qr.get_matrix()


def codepage_table(profile: str) -> dict[int, str]:
    """``ESC t`` number -> Python codec of a profile, from python-escpos's own database."""
    from escpos.capabilities import CAPABILITIES

    out = {}
    for n, name in CAPABILITIES["profiles"][profile].get("codePages", {}).items():
        codec = CAPABILITIES["encodings"].get(name, {}).get("python_encode")
        if codec:
            out[int(n)] = codec
    return out


@dataclass
class Mark:
    """Something printed: ``kind`` text / barcode / qr, where (dots in the print area)."""

    kind: str
    x: int
    y: int
    width: int
    text: str = ""


@dataclass
class EscposPaper:
    dots: int  # print width
    margin: int  # unprinted paper each side
    table: dict[int, str]  # ESC t n -> codec
    glyph: Glyph | None = None
    cell: int = 12  # Font A character width in dots
    qr: Callable[[bytes, str], Sequence[Sequence[bool]]] | None = None
    marks: list[Mark] = field(default_factory=list)
    wrapped: int = 0
    widest: int = 0  # the widest printed line, dots

    def __post_init__(self) -> None:
        self._reset()
        self.y = 0
        self._ops: list[tuple[int, int, Image.Image]] = []  # (x, y, 1-bit mask)
        self._bars: list[tuple[int, int, int, int]] = []  # filled rectangles

    def _reset(self) -> None:
        self.align = 0
        self.bold = False
        self.dw = self.dh = False
        self.spacing = 30
        self.codec = self.table.get(0, "cp437")
        self.bar_h, self.bar_w = 162, 3
        self.qr_size, self.qr_ec, self.qr_data = 3, "M", b""
        self.buf: list[tuple[str, bool, bool, bool]] = []

    # -- placing ---------------------------------------------------------------------------
    def _x(self, width: int) -> int:
        return {0: 0, 1: max(0, (self.dots - width) // 2), 2: max(0, self.dots - width)}[self.align]

    def _char_w(self, dw: bool) -> int:
        return self.cell * (2 if dw else 1)

    def _print_buffer(self) -> int:
        """Print the buffered line at ``y``; return the height it needs (0 if empty)."""
        if not self.buf:
            return 0
        width = sum(self._char_w(dw) for _, _, dw, _ in self.buf)
        self.widest = max(self.widest, width)
        x = self._x(width)
        self.marks.append(Mark("text", x, self.y, width, "".join(c for c, *_ in self.buf)))
        for ch, bold, dw, dh in self.buf:
            assert dw == dh, "the emulator draws 1x1 and 2x2 characters only"
            if ch != " " and self.glyph is not None:
                self._ops.append((self.margin + x, self.y, self.glyph(ch, bold, dw)))
            x += self._char_w(dw)
        self.buf = []
        return 1

    def _take_char(self, ch: str) -> None:
        width = sum(self._char_w(dw) for _, _, dw, _ in self.buf)
        if width + self._char_w(self.dw) > self.dots:
            self._print_buffer()  # the printer's own line break
            self.wrapped += 1
            self.y += self.spacing
        self.buf.append((ch, self.bold, self.dw, self.dh))

    # -- the byte stream -------------------------------------------------------------------
    def feed(self, job: bytes) -> EscposPaper:
        i = 0
        while i < len(job):
            b = job[i]
            two = job[i : i + 2]
            if b == 0x0A:
                self._print_buffer()
                self.y += self.spacing
                i += 1
            elif two == b"\x1b@":
                assert not self.buf
                self._reset()
                i += 2
            elif two == b"\x1bt":
                self.codec = self.table[job[i + 2]]
                i += 3
            elif two == b"\x1b3":
                self.spacing = job[i + 2]
                i += 3
            elif two == b"\x1ba":
                self.align = job[i + 2] % 48 if job[i + 2] >= 48 else job[i + 2]
                i += 3
            elif two == b"\x1bE":
                self.bold = bool(job[i + 2] & 1)
                i += 3
            elif two == b"\x1b!":
                n = job[i + 2]
                self.bold, self.dh, self.dw = bool(n & 8), bool(n & 16), bool(n & 32)
                assert not n & 1, "font B is not used"
                i += 3
            elif two == b"\x1d!":
                n = job[i + 2]
                self.dw, self.dh = (n >> 4) == 1, (n & 15) == 1
                assert (n >> 4) <= 1 and (n & 15) <= 1, "sizes above 2x are not used"
                i += 3
            elif two in (b"\x1b-", b"\x1bM", b"\x1dB"):
                assert job[i + 2] in (0, 48), f"{two!r} {job[i + 2]} is not used"
                i += 3
            elif two == b"\x1bJ":
                self._print_buffer()
                self.y += job[i + 2]
                i += 3
            elif two == b"\x1bd":
                self._print_buffer()
                self.y += self.spacing * job[i + 2]
                i += 3
            elif two == b"\x1dh":
                self.bar_h = job[i + 2]
                i += 3
            elif two == b"\x1dw":
                self.bar_w = job[i + 2]
                i += 3
            elif two == b"\x1dH":
                assert job[i + 2] in (0, 48), "HRI is printed by kioskd itself"
                i += 3
            elif job.startswith(b"\x1dkI", i):
                n = job[i + 3]
                self._barcode(job[i + 4 : i + 4 + n])
                i += 4 + n
            elif job.startswith(b"\x1d(k", i):
                n = job[i + 3] + 256 * job[i + 4]
                self._qr(job[i + 5 : i + 5 + n])
                i += 5 + n
            elif two == b"\x1dV":
                assert not self.buf, "cut with text in the buffer"
                i += 3
            elif b < 0x20 or b == 0x7F:
                raise AssertionError(f"unexpected command at {i}: {job[i : i + 4]!r}")
            else:
                self._take_char(bytes([b]).decode(self.codec))
                i += 1
        assert not self.buf, "text left unprinted at the end of the job"
        return self

    def _barcode(self, payload: bytes) -> None:
        assert not self.buf, "a barcode starts a line"
        values = _read_payload(payload)
        bars = modules_of(values)
        width = len(bars) * self.bar_w
        x = self._x(width)
        self.marks.append(Mark("barcode", x, self.y, width, payload.hex()))
        for k, bit in enumerate(bars):
            if bit == "1":
                left = self.margin + x + k * self.bar_w
                self._bars.append((left, self.y, left + self.bar_w - 1, self.y + self.bar_h - 1))
        self.y += self.bar_h

    def _qr(self, body: bytes) -> None:
        cn, fn, rest = body[0], body[1], body[2:]
        assert cn == 0x31, f"GS ( k cn {cn} is not QR"
        if fn == 65:  # model
            assert rest[0] == 50, "model 2"
        elif fn == 67:
            self.qr_size = rest[0]
        elif fn == 69:
            self.qr_ec = {48: "L", 49: "M", 50: "Q", 51: "H"}[rest[0]]
        elif fn == 80:
            self.qr_data = rest[1:]
        elif fn == 81:
            assert not self.buf, "a QR code starts a line"
            make = self.qr or _qr_modules
            matrix = make(self.qr_data, self.qr_ec)
            width = len(matrix) * self.qr_size
            x = self._x(width)
            self.marks.append(Mark("qr", x, self.y, width, self.qr_data.decode("latin-1")))
            s = self.qr_size
            for r, row in enumerate(matrix):
                for c, dark in enumerate(row):
                    if dark:
                        left, top = self.margin + x + c * s, self.y + r * s
                        self._bars.append((left, top, left + s - 1, top + s - 1))
            self.y += width
        else:
            raise AssertionError(f"GS ( k fn {fn} is not used")

    def image(self) -> Image.Image:
        """The sheet: as wide as the roll, as tall as the paper fed."""
        from PIL import ImageDraw

        image = Image.new("L", (self.dots + 2 * self.margin, self.y), 255)
        draw = ImageDraw.Draw(image)
        for rect in self._bars:
            draw.rectangle(rect, fill=0)
        for x, y, mask in self._ops:
            image.paste(0, (x, y), mask)
        return image
