"""Code128 symbols for a barcode: one encoding, drawn the same on paper and in the preview.

Rules:
- Pure: a string in, a ``Code128`` out; no I/O. The ``GS k`` payload sent to the printer and
  the bar modules drawn by the preview are both derived from the same symbol list, so the
  preview shows exactly the symbol the paper carries.
- No real-time command inside the payload. ESC/POS printers act on their real-time commands
  wherever the bytes appear in the stream, barcode data included: DLE EOT n (``10 04 n``,
  status), DLE ENQ n (``10 05 n``, error recovery) and DLE DC4 fn (``10 14 fn``: pulse,
  power-off, buzzer, status, clear buffers). The parameters the manuals define are small:
  Epson's DLE EOT 1..4, 7, 8 and 18 (the issue's tickets 32160418, 16041801), DLE ENQ 0..2,
  DLE DC4 1..3, 7, 8; the common clones (Xprinter, Rongta, Zijiang) define a subset or add
  DLE EOT 5, 6. So the guarded parameters (``REALTIME_PARAMS``) are 0..20 (all of those, with
  room), and the ASCII digits 48..57 for firmware that takes a parameter as a digit
  character. Not more: a PIN ending in 16 before a date's "20" and its year "26" is a
  ``DLE DC4 26`` no printer defines, and guarding it would cost 2 symbols on 1 ticket in 100.
  Only code set C data can form such a triple: it sends each digit pair 00..99 as one byte
  0..99, so the pair ``16`` (0x10), then ``04``, ``05`` or ``20``, then a guarded pair, is
  never emitted; nor is a payload that ends in ``16 04`` / ``16 05`` / ``16 20`` (the next
  byte sent is the ``ESC`` of ``ESC J``; a prefix at the end is closed by an empty
  ``Code B``). A triple whose third byte is not
  guarded (``16 20 26``: a date's year) is plain data: every symbol it would cost is width
  the 58 mm roll does not have.
- Narrowest first: among the encodings that obey the rule, the one with the fewest symbols is
  chosen (dynamic programming over position, code set and the last two C bytes of the run);
  ties go to fewer code set changes. Subset C stays wherever the rule allows, so a 24-digit
  ticket is 12 data symbols, and a dangerous triple costs 2 symbols (a ``Code B`` + ``Code C``
  pair between the 0x10 and the next byte) or a digit moved to subset B, whichever is shorter.
  A symbol too wide for the paper is the layout's business (it prints a QR code instead).
- Code sets B and C only: the data is printable ASCII (no control characters, which set A
  would carry); ``{`` is doubled in the payload (ESC/POS's escape for a literal brace).

Theory of operation: a Code128 symbol is a start symbol (103 A, 104 B, 105 C), data and
code-change symbols, a check symbol ((start + sum of position x value) mod 103) and a stop
pattern. Each symbol is 11 modules; the stop is 13. ``GS k 73 n d1..dn`` (Code128, format B
of the ESC/POS command) takes ``{B`` or ``{C`` first to pick the start symbol, then data bytes
of that set; ``{B`` / ``{C`` inside change the set (symbol 100 "Code B" in set C, 99 "Code C"
in set B). The printer adds the check symbol and the stop itself. ``values`` are the symbols
the printer will draw from ``escpos_payload``; ``modules`` draws them with the check and stop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

START = {"B": 104, "C": 105}
CHANGE_TO = {"B": 100, "C": 99}  # "Code B" in set C, "Code C" in set B
STOP_WIDTH = 13  # modules of the stop pattern: python-barcode's 11, and its final 2-module bar
SYMBOL_MODULES = 11
DLE = 0x10
# Second bytes of the real-time commands: DLE EOT (0x04), DLE ENQ (0x05), DLE DC4 (0x14),
# and the third bytes (parameters) at which some printer acts on them (see module rules).
REALTIME_SECOND = frozenset({0x04, 0x05, 0x14})
REALTIME_PARAMS = frozenset(range(0, 21)) | frozenset(range(48, 58))


def realtime_at(data: bytes) -> int | None:
    """Index of the first real-time command (DLE EOT / ENQ / DC4 and a guarded parameter) in
    ``data``; a prefix at the very end counts (its parameter would be the next byte sent)."""
    i = data.find(DLE)
    while i != -1:
        if (
            i + 1 < len(data)
            and data[i + 1] in REALTIME_SECOND
            and (i + 2 == len(data) or data[i + 2] in REALTIME_PARAMS)
        ):
            return i
        i = data.find(DLE, i + 1)
    return None


def _unsafe(tail: tuple[int, ...], byte: int) -> bool:
    """Would ``byte`` complete a real-time command after the C bytes ``tail`` (last 2)?"""
    return _open_prefix(tail) and byte in REALTIME_PARAMS


def _open_prefix(tail: tuple[int, ...]) -> bool:
    """Do the C bytes ``tail`` end in DLE EOT / ENQ / DC4 (a parameter still to come)?"""
    return len(tail) == 2 and tail[0] == DLE and tail[1] in REALTIME_SECOND


@dataclass(frozen=True)
class Code128:
    """One Code128 symbol: ``segments`` are (code set, characters) runs in order."""

    data: str
    segments: tuple[tuple[str, str], ...]

    @cached_property
    def values(self) -> tuple[int, ...]:
        """Start symbol, then data and code-change symbols (no check, no stop)."""
        out = [START[self.segments[0][0]]]
        for k, (code_set, chars) in enumerate(self.segments):
            if k:
                out.append(CHANGE_TO[code_set])
            if code_set == "C":
                out += [int(chars[i : i + 2]) for i in range(0, len(chars), 2)]
            else:
                out += [ord(c) - 32 for c in chars]
        return tuple(out)

    @property
    def check(self) -> int:
        v = self.values
        return (v[0] + sum(i * x for i, x in enumerate(v[1:], start=1))) % 103

    @property
    def width_modules(self) -> int:
        """Width without quiet zones: symbols (start, data, check) x 11 + the 13-module stop."""
        return SYMBOL_MODULES * (len(self.values) + 1) + STOP_WIDTH

    def modules(self) -> str:
        """Bars ``1`` and spaces ``0``, one character per module, start to stop."""
        # python-barcode's tables load here, when a symbol is drawn (a preview, a check): its
        # package imports Pillow, which the daemon needs for no ESC/POS slip.
        from barcode.charsets.code128 import CODES, STOP

        bars: list[str] = [CODES[v] for v in (*self.values, self.check)]
        stop: str = STOP + "11"  # python-barcode keeps the final 2-module bar apart
        return "".join(bars) + stop

    def escpos_payload(self) -> bytes:
        """The ``d1..dn`` of ``GS k 73 n``: code set selections and data bytes."""
        out = bytearray()
        for code_set, chars in self.segments:
            out += b"{" + code_set.encode()
            if code_set == "C":
                out += bytes(int(chars[i : i + 2]) for i in range(0, len(chars), 2))
            else:
                out += chars.replace("{", "{{").encode("ascii")
        return bytes(out)


# DP state: (code set, the last C bytes of the current run, at most 2); cost: (symbols,
# code changes). Back pointers rebuild the segments.
_State = tuple[str, tuple[int, ...]]


def encode(data: str) -> Code128:
    """The narrowest Code128 for ``data`` without real-time commands (see module rules).

    An even number of digits whose pairs, sent as code set C bytes, hold no real-time command
    (nearly every ticket's 24 digits) is one code set C run: nothing has fewer symbols (each
    carries at most two digits) or fewer code changes (none), so the search below would find
    it; it is taken at once (issue 19: the search was a third of a ticket's rendering)."""
    if not data or any(not (0x20 <= ord(c) < 0x7F) for c in data):
        raise ValueError("Code128 data must be printable ASCII and not empty")
    if len(data) % 2 == 0 and data.isdigit():
        pairs = bytes(int(data[i : i + 2]) for i in range(0, len(data), 2))
        if realtime_at(pairs) is None:
            return Code128(data, (("C", data),))
    return narrowest(data)


def narrowest(data: str) -> Code128:
    """`encode` by the search over every encoding (what the shortcut above must agree with)."""
    n = len(data)
    best: list[dict[_State, tuple[tuple[int, int], tuple[int, _State] | None, str]]] = [
        {} for _ in range(n + 1)
    ]

    def offer(
        i: int, state: _State, cost: tuple[int, int], back: tuple[int, _State] | None, step: str
    ) -> None:
        old = best[i].get(state)
        if old is None or cost < old[0]:
            best[i][state] = (cost, back, step)

    offer(0, ("B", ()), (1, 0), None, "")
    offer(0, ("C", ()), (1, 0), None, "")
    for i in range(n + 1):
        # code changes at the same position (changing twice is how a C run is broken up)
        for _ in range(2):
            for state, (cost, _back, _step) in list(best[i].items()):
                target = "B" if state[0] == "C" else "C"
                offer(i, (target, ()), (cost[0] + 1, cost[1] + 1), (i, state), "change")
        if i == n:
            break
        for state, (cost, _back, _step) in list(best[i].items()):
            code_set, tail = state
            if code_set == "B":
                offer(i + 1, ("B", ()), (cost[0] + 1, cost[1]), (i, state), data[i])
            elif i + 2 <= n and data[i : i + 2].isdigit():
                byte = int(data[i : i + 2])
                if not _unsafe(tail, byte):
                    offer(
                        i + 2,
                        ("C", (*tail, byte)[-2:]),
                        (cost[0] + 1, cost[1]),
                        (i, state),
                        data[i : i + 2],
                    )
    # a payload may not end on an open prefix: its parameter would be the next byte sent
    finals = {k: v for k, v in best[n].items() if not _open_prefix(k[1])}
    end = min(finals.items(), key=lambda kv: kv[1][0])
    # walk back: collect (code set, chars) steps, then merge runs
    steps: list[tuple[str, str]] = []
    i, state = n, end[0]
    while True:
        _cost, back, step = best[i][state]
        if back is None:
            steps.append((state[0], ""))
            break
        steps.append((state[0], step))
        i, state = back
    segments: list[tuple[str, str]] = []
    for code_set, step in reversed(steps):
        if step == "change" or not segments:
            segments.append((code_set, ""))
        else:
            segments[-1] = (code_set, segments[-1][1] + step)
    return Code128(data, tuple(segments))
