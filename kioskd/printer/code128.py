"""Code128 symbols for a barcode: one encoding, drawn the same on paper and in the preview.

Rules:
- Pure: a string in, a ``Code128`` out; no I/O. The ``GS k`` payload sent to the printer and
  the bar modules drawn by the preview are both derived from the same symbol list, so the
  preview shows exactly the symbol the paper carries.
- No real-time command inside the payload. ESC/POS printers act on their real-time commands
  wherever the bytes appear in the stream, barcode data included: DLE EOT n (``10 04 n``,
  status; Epson defines n = 1..4, 7, 8, 18 and clones add their own), DLE ENQ n (``10 05 n``,
  error recovery) and DLE DC4 fn (``10 14 fn``: pulse, power-off, buzzer, status, clear
  buffer). The parameter sets differ by maker and firmware, so the rule does not list them:
  the two bytes ``DLE EOT``, ``DLE ENQ`` and ``DLE DC4`` never appear, whatever would follow
  (``REALTIME_SECOND``). Only code set C data can form them: it sends each digit pair 00..99
  as one byte 0..99, so the pair ``16`` (0x10) followed by ``04``, ``05`` or ``20`` is
  refused; any other byte stream is accepted. A C run may end on 0x10: the next byte is ``{``
  or the ``ESC J`` after the symbol.
- Narrowest first: among the encodings that obey the rule, the one with the fewest symbols is
  chosen (dynamic programming over position, code set and whether the last C byte was 0x10);
  ties go to fewer code set changes. Subset C stays wherever the rule allows, so a 24-digit
  ticket is 12 data symbols, and a dangerous pair costs 2 symbols (a ``Code B`` + ``Code C``
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

from barcode.charsets.code128 import CODES, STOP

START = {"B": 104, "C": 105}
CHANGE_TO = {"B": 100, "C": 99}  # "Code B" in set C, "Code C" in set B
STOP_MODULES: str = STOP + "11"  # 13 modules: python-barcode keeps the final 2-module bar apart
SYMBOL_MODULES = 11
DLE = 0x10
# Second bytes of the real-time commands: DLE EOT (0x04), DLE ENQ (0x05), DLE DC4 (0x14).
# After DLE, any third byte is a parameter on some printer, so the pair itself is refused.
REALTIME_SECOND = frozenset({0x04, 0x05, 0x14})


def realtime_at(data: bytes) -> int | None:
    """Index of the first real-time command prefix (DLE then EOT / ENQ / DC4) in ``data``.

    The parameter is not looked at: it may be any byte, even the first of the next write."""
    i = data.find(DLE)
    while i != -1:
        if i + 1 < len(data) and data[i + 1] in REALTIME_SECOND:
            return i
        i = data.find(DLE, i + 1)
    return None


def _unsafe(after_dle: bool, byte: int) -> bool:
    """Would ``byte`` complete a real-time command prefix after the previous C byte?"""
    return after_dle and byte in REALTIME_SECOND


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
        return SYMBOL_MODULES * (len(self.values) + 1) + len(STOP_MODULES)

    def modules(self) -> str:
        """Bars ``1`` and spaces ``0``, one character per module, start to stop."""
        bars: list[str] = [CODES[v] for v in (*self.values, self.check)]
        return "".join(bars) + STOP_MODULES

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


# DP state: (code set, whether the last C byte of the current run is DLE); cost: (symbols,
# code changes). Back pointers rebuild the segments.
_State = tuple[str, bool]


def encode(data: str) -> Code128:
    """The narrowest Code128 for ``data`` without real-time commands (see module rules)."""
    if not data or any(not (0x20 <= ord(c) < 0x7F) for c in data):
        raise ValueError("Code128 data must be printable ASCII and not empty")
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

    offer(0, ("B", False), (1, 0), None, "")
    offer(0, ("C", False), (1, 0), None, "")
    for i in range(n + 1):
        # code changes at the same position (changing twice is how a C run is broken up)
        for _ in range(2):
            for state, (cost, _back, _step) in list(best[i].items()):
                target = "B" if state[0] == "C" else "C"
                offer(i, (target, False), (cost[0] + 1, cost[1] + 1), (i, state), "change")
        if i == n:
            break
        for state, (cost, _back, _step) in list(best[i].items()):
            code_set, after_dle = state
            if code_set == "B":
                offer(i + 1, ("B", False), (cost[0] + 1, cost[1]), (i, state), data[i])
            elif i + 2 <= n and data[i : i + 2].isdigit():
                byte = int(data[i : i + 2])
                if not _unsafe(after_dle, byte):
                    offer(
                        i + 2,
                        ("C", byte == DLE),
                        (cost[0] + 1, cost[1]),
                        (i, state),
                        data[i : i + 2],
                    )
    end = min(best[n].items(), key=lambda kv: kv[1][0])
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
