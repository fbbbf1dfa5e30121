"""Read and write the text that the `evtest` tool prints.

Rules:
- Only lines starting with ``Event: time`` carry events; every other line (the header with the
  driver version, device id and name, the supported-events list, ``Testing ...``) is skipped,
  except that `parse_header` reads the device name and ids from it.
- An event line is ``Event: time T, type N (EV_X), code N (NAME), value V``; synchronisation
  lines are ``Event: time T, -------------- SYN_REPORT ------------`` (or ``SYN_DROPPED``, or the
  older ``Report Sync`` spelling). Numbers are what count; the names in brackets are decoration.
- A line that starts like an event but cannot be read raises `EvtestSyntaxError` naming the line
  number: a capture from the field is evidence, so it must not be silently misread.
- `format_event` writes exactly the format `parse_line` reads, so captures can be produced from
  kernel key codes (tests, the demo, the bench) and read back by the same parser.

No files or devices here: callers hand in lines and get `InputEvent` tuples.

Fast path (issue 19: a sale typed into the replay FIFO is 60 lines, and `parse_line` per line was
most of the input path's CPU): `parse_block` reads a whole newline-terminated chunk with one
`findall` of a stricter pattern, the exact shape `format_event` and evtest write (no strip, no
named groups, no per-line decode). It is only a shortcut: it is taken when *every* line of the
chunk (or of the chunk after its header) has that shape, and then gives what `parse_line` gives
for each of them (the pattern accepts a subset of what `parse_line` reads, and values go through
the same rule). Any other chunk (blank or indented lines, ``\r``, odd spacing, a bad line) is read
line by line by `parse_line`, so its results and errors are exactly the full parser's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

EV_SYN = 0
EV_KEY = 1
EV_MSC = 4
EV_LED = 17
LED_NUML = 0
LED_CAPSL = 1
SYN_REPORT = 0
SYN_DROPPED = 3
MSC_SCAN = 4

_TYPE_NAMES = {0: "EV_SYN", 1: "EV_KEY", 2: "EV_REL", 3: "EV_ABS", 4: "EV_MSC", 17: "EV_LED"}
_SYN_NAMES = {
    SYN_REPORT: "SYN_REPORT",
    1: "SYN_CONFIG",
    2: "SYN_MT_REPORT",
    SYN_DROPPED: "SYN_DROPPED",
}

_EVENT = re.compile(
    r"Event: time (?P<time>\d+(?:\.\d+)?), type (?P<type>\d+)(?: \([^)]*\))?, "
    r"code (?P<code>\d+)(?: \([^)]*\))?, value (?P<value>-?(?:0x)?[0-9a-fA-F]+)"
)
_SYNC = re.compile(r"Event: time (?P<time>\d+(?:\.\d+)?), -+ (?P<what>[A-Za-z_ ]+?) -+")
# The fast path's line (see the module docstring): a subset of _EVENT | _SYNC (names as the
# kernel spells them, or "?" as `format_event` writes an unknown one; no "0x" values), ASCII
# classes only and nothing that matches a newline, so under MULTILINE each match is a whole line.
_CANONICAL = re.compile(
    r"^Event: time ([0-9]+\.[0-9]+), (?:"
    r"type ([0-9]+) \([A-Z_?]+\), code ([0-9]+) \([A-Za-z0-9_?]+\), value (-?[0-9a-fA-F]+)"
    r"|-+ (SYN_REPORT|SYN_DROPPED|Report Sync) -+)$",
    re.MULTILINE,
)
_SYNC_CODES = {"SYN_REPORT": SYN_REPORT, "Report Sync": SYN_REPORT, "SYN_DROPPED": SYN_DROPPED}
_HEADER_ID = re.compile(
    r"Input device ID: bus 0x(?P<bus>[0-9a-fA-F]+) vendor 0x(?P<vendor>[0-9a-fA-F]+) "
    r"product 0x(?P<product>[0-9a-fA-F]+) version 0x(?P<version>[0-9a-fA-F]+)"
)
_HEADER_NAME = re.compile(r'Input device name: "(?P<name>.*)"')
_HEADER_TYPE = re.compile(r"^\s*Event type (?P<type>\d+)")
_HEADER_CODE = re.compile(r"^\s*Event code (?P<code>\d+)")


class InputEvent(NamedTuple):
    """One kernel input event: unix time in seconds, type, code, value."""

    time: float
    type: int
    code: int
    value: int


class EvtestSyntaxError(ValueError):
    """An ``Event:`` line that does not have the evtest shape."""


@dataclass(frozen=True)
class EvtestHeader:
    """What the evtest header says about the device (all optional)."""

    name: str | None = None
    bus: int | None = None
    vendor: int | None = None
    product: int | None = None
    version: int | None = None
    keys: frozenset[int] = frozenset()  # EV_KEY codes listed under "Supported events"


def parse_line(line: str, lineno: int = 0) -> InputEvent | None:
    """Return the event on `line`, or None for a header or blank line."""
    line = line.strip()
    if not line.startswith("Event: time"):
        return None
    m = _EVENT.fullmatch(line)
    if m:
        type_ = int(m["type"])
        return InputEvent(float(m["time"]), type_, int(m["code"]), _value(type_, m["value"]))
    m = _SYNC.fullmatch(line)
    if m and m["what"] in _SYNC_CODES:
        return InputEvent(float(m["time"]), EV_SYN, _SYNC_CODES[m["what"]], 0)
    raise EvtestSyntaxError(f"line {lineno}: not an evtest event line: {line[:80]!r}")


def _value(type_: int, value: str) -> int:
    """The number in an event's value field. evtest prints EV_MSC values (scan codes) in hex
    without a prefix; other values are decimal unless they say otherwise."""
    hex_value = type_ == EV_MSC or "0x" in value or not value.lstrip("-").isdigit()
    return int(value, 16) if hex_value else int(value)


# `InputEvent`'s own constructor is a Python function around this call; the fast path builds
# 60 events a sale and calls it directly (same tuple, same class).
_new_event = tuple.__new__


def _canonical_events(text: str) -> list[InputEvent] | None:
    """The events of `text` if every line has the fast path's shape, else None.

    Each match is one whole line (see `_CANONICAL`), so as many matches as newlines means that
    every line matched; a line that did not match makes the counts differ. The loop is the
    per-line cost that is left, so it takes the common lines first: a key change is three lines
    with one time (its float is made once), EV_KEY with a decimal value, EV_MSC with a hex one
    (`_value`'s rule, inline), the SYN line; anything else goes through `_value` itself."""
    if text[-1:] != "\n":
        return None  # a last line without its newline is not checked by the count
    rows = _CANONICAL.findall(text)
    if len(rows) != text.count("\n"):
        return None
    events: list[InputEvent] = []
    append = events.append
    last_time, when = "", 0.0
    for time_, type_text, code, value, sync in rows:
        if time_ != last_time:
            last_time, when = time_, float(time_)
        if type_text == "1" and value.isdigit():
            append(_new_event(InputEvent, (when, EV_KEY, int(code), int(value))))
        elif type_text == "4":
            append(_new_event(InputEvent, (when, EV_MSC, int(code), int(value, 16))))
        elif sync:
            append(_new_event(InputEvent, (when, EV_SYN, _SYNC_CODES[sync], 0)))
        else:
            type_ = int(type_text)
            append(_new_event(InputEvent, (when, type_, int(code), _value(type_, value))))
    return events


def parse_block(text: str, first_lineno: int = 1, *, skip_bad: bool = False) -> list[InputEvent]:
    """The events in `text`, whole lines each ended by ``\\n`` (header lines skipped): what
    `parse_line` gives for each line, read in one go when every line is an event line as evtest
    writes it. A bad line raises `EvtestSyntaxError` with its number (`first_lineno` for the
    first line), or is left out with `skip_bad` (a live stream goes on)."""
    events = _canonical_events(text)
    if events is not None:
        return events
    # A capture's header (or a replay FIFO's first read) comes before the event lines: the lines
    # up to the first event line are read one by one, the rest in one go if it can be.
    head_end = text.find("\nEvent: time") + 1
    if head_end:
        rest = _canonical_events(text[head_end:])
        if rest is not None:
            return _line_by_line(text[:head_end], first_lineno, skip_bad) + rest
    return _line_by_line(text, first_lineno, skip_bad)


def _line_by_line(text: str, first_lineno: int, skip_bad: bool) -> list[InputEvent]:
    """`parse_block` without the fast path: `parse_line` on each line."""
    events = []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the end of the last line, not a line
    for lineno, line in enumerate(lines, first_lineno):
        try:
            event = parse_line(line, lineno)
        except EvtestSyntaxError:
            if skip_bad:
                continue
            raise
        if event is not None:
            events.append(event)
    return events


def parse_lines(lines: Iterable[str]) -> Iterator[InputEvent]:
    """Yield the events in evtest text, skipping header lines."""
    for lineno, line in enumerate(lines, 1):
        event = parse_line(line, lineno)
        if event is not None:
            yield event


def parse_header(lines: Iterable[str]) -> EvtestHeader:
    """Read the device name, ids and key capabilities from the header (stops at the first
    event line)."""
    fields: dict[str, object] = {}
    keys: set[int] = set()
    section = -1  # the "Event type N" block the header is in
    for line in lines:
        if line.startswith("Event: time"):
            break
        if m := _HEADER_ID.search(line):
            for key in ("bus", "vendor", "product", "version"):
                fields[key] = int(m[key], 16)
        elif m := _HEADER_NAME.search(line):
            fields["name"] = m["name"]
        elif m := _HEADER_TYPE.match(line):
            section = int(m["type"])
        elif (m := _HEADER_CODE.match(line)) and section == EV_KEY:
            keys.add(int(m["code"]))
        elif not line.startswith(" "):
            section = -1
    fields["keys"] = frozenset(keys)
    return EvtestHeader(**fields)  # type: ignore[arg-type]


def _code_name(type_: int, code: int) -> str:
    if type_ == EV_KEY:
        from evdev import ecodes  # the kernel's names; only needed for writing

        name = ecodes.KEY.get(code) or ecodes.BTN.get(code) or "?"
        return name if isinstance(name, str) else name[0]  # aliases come as a list or tuple
    if type_ == EV_MSC and code == MSC_SCAN:
        return "MSC_SCAN"
    if type_ == EV_LED:
        return {LED_NUML: "LED_NUML", LED_CAPSL: "LED_CAPSL", 2: "LED_SCROLLL"}.get(code, "?")
    return "?"


def format_event(event: InputEvent) -> str:
    """The evtest line for `event` (no newline)."""
    time = f"{event.time:.6f}"
    if event.type == EV_SYN and event.code in (SYN_REPORT, SYN_DROPPED):
        return f"Event: time {time}, -------------- {_SYN_NAMES[event.code]} ------------"
    type_name = _TYPE_NAMES.get(event.type, "?")
    value = f"{event.value:x}" if event.type == EV_MSC else str(event.value)
    return (
        f"Event: time {time}, type {event.type} ({type_name}), "
        f"code {event.code} ({_code_name(event.type, event.code)}), value {value}"
    )


def format_header(header: EvtestHeader) -> str:
    """A minimal evtest header (ends with the ``Testing`` line and a newline)."""
    return (
        "Input driver version is 1.0.1\n"
        f"Input device ID: bus 0x{header.bus or 3:x} vendor 0x{header.vendor or 0:x} "
        f"product 0x{header.product or 0:x} version 0x{header.version or 0x110:x}\n"
        f'Input device name: "{header.name or "unknown"}"\n'
        "Supported events:\n"
        "  Event type 0 (EV_SYN)\n"
        "  Event type 1 (EV_KEY)\n"
        + "".join(
            f"    Event code {code} ({_code_name(EV_KEY, code)})\n" for code in sorted(header.keys)
        )
        + "Properties:\n"
        "Testing ... (interrupt to exit)\n"
    )


def format_events(events: Iterable[InputEvent]) -> str:
    """Evtest lines for `events`, one per line, newline-terminated."""
    return "".join(format_event(e) + "\n" for e in events)


class _Keystrokes(Protocol):
    def keystrokes_for(self, char: str) -> tuple[int, tuple[int, ...]]: ...


class KeyScript:
    """Build key events from kernel key codes, the way a USB keyboard reports them.

    Each key change is an ``MSC_SCAN`` (HID usage, decoration), the ``EV_KEY`` event and a
    ``SYN_REPORT``, `step` seconds after the previous one. Used to write captures, by the demo to
    type into a replay FIFO, and by the bench.
    """

    def __init__(self, t0: float = 1_729_587_036.0, step: float = 0.004) -> None:
        self._us = round(t0 * 1_000_000)  # whole microseconds, as the kernel reports
        self.step = step
        self.events: list[InputEvent] = []

    @property
    def t(self) -> float:
        return self._us / 1_000_000

    def _advance(self, seconds: float) -> float:
        self._us += round(seconds * 1_000_000)
        return self._us / 1_000_000

    def key(self, code: int, value: int) -> KeyScript:
        t = self._advance(self.step)
        self.events += [
            InputEvent(t, EV_MSC, MSC_SCAN, 0x70000 + code),
            InputEvent(t, EV_KEY, code, value),
            InputEvent(t, EV_SYN, SYN_REPORT, 0),
        ]
        return self

    def tap(self, code: int, *modifiers: int) -> KeyScript:
        """Press modifiers, press and release `code`, release modifiers (reverse order)."""
        for mod in modifiers:
            self.key(mod, 1)
        self.key(code, 1).key(code, 0)
        for mod in reversed(modifiers):
            self.key(mod, 0)
        return self

    def taps(self, codes: Iterable[int]) -> KeyScript:
        for code in codes:
            self.tap(code)
        return self

    def type_text(self, text: str, layout: _Keystrokes) -> KeyScript:
        """Type `text` on `layout` (an `xkb.Layout`); '\\n' is Enter."""
        for char in text:
            code, modifiers = layout.keystrokes_for(char)
            self.tap(code, *modifiers)
        return self

    def wait(self, seconds: float) -> KeyScript:
        self._advance(seconds)
        return self

    def dropped(self) -> KeyScript:
        """The kernel's buffer overflowed: ``SYN_DROPPED`` then a ``SYN_REPORT``."""
        t = self._advance(self.step)
        self.events += [InputEvent(t, EV_SYN, SYN_DROPPED, 0), InputEvent(t, EV_SYN, SYN_REPORT, 0)]
        return self

    def text(self) -> str:
        return format_events(self.events)
