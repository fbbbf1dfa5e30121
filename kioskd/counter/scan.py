"""Scanned text -> what it is: a ticket (to pay, cancel or repeat), a play slip, or junk.

Rules:
- kioskd prints ticket barcodes as Code128 of 24 digits: 8-digit ticket number, 8-digit PIN,
  local date YYYYMMDD (`barcode_data`). The same digits are printed under the bars.
- Other Banklot terminals print other layouts, so the parser takes a configurable regular
  expression with named groups: ``ticket`` (required), ``pin`` and ``date`` (optional, date as
  YYYYMMDD or YYYY-MM-DD). The whole scan must match (``fullmatch``).
- A ticket scan without a PIN is still a ticket: the session then asks for the PIN on the keypad.
- Text starting with ``K1:`` is a play slip (see `kioskd.counter.grammar`).
- The PIN never appears in a repr or an error message.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from kioskd.counter.grammar import DraftWager, GrammarError, is_play_slip, parse_play_slip

#: kioskd's own layout, also accepting a ticket alone (typed into a scanner-less setup) or
#: ticket + PIN without a date.
DEFAULT_PATTERN = r"(?P<ticket>\d{8})(?:(?P<pin>\d{8})(?P<date>\d{8})?)?"


def barcode_data(ticket: int, pin: int, date: dt.date) -> str:
    """The 24 digits kioskd prints: ticket (8) + PIN (8) + YYYYMMDD."""
    if not 0 <= ticket <= 99_999_999 or not 0 <= pin <= 99_999_999:
        raise ValueError("ticket and PIN must have at most 8 digits")
    return f"{ticket:08d}{pin:08d}{date:%Y%m%d}"


@dataclass(frozen=True)
class TicketScan:
    """A scanned ticket: its number, PIN and sale date (as the barcode has them)."""

    ticket: int
    pin: int | None = field(default=None, repr=False)
    date: dt.date | None = None

    def __repr__(self) -> str:
        pin = "None" if self.pin is None else "'****'"
        return f"TicketScan(ticket={self.ticket}, pin={pin}, date={self.date})"


@dataclass(frozen=True)
class SlipScan:
    """A scanned play slip: the wagers it asks for."""

    wagers: tuple[DraftWager, ...]


@dataclass(frozen=True)
class BadScan:
    """Unreadable scan; `reason` is a stable code (no_match, bad_date, slip: ...)."""

    reason: str
    detail: str = ""


Scanned = TicketScan | SlipScan | BadScan


class ScanPatternError(ValueError):
    """The configured pattern cannot work (bad regex or no ``ticket`` group)."""


def _parse_date(text: str) -> dt.date:
    text = text.replace("-", "")
    if len(text) != 8 or not text.isdigit():
        raise ValueError("date must be YYYYMMDD")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def _can_blow_up(pattern: str) -> bool:
    """True when a group repeated more than once holds a variable repeat, an alternation of
    longer branches or a back-reference: the shapes that backtrack exponentially on a long scan
    (the scan is matched on the event loop, so it must be linear)."""
    from re import _constants as c  # type: ignore[attr-defined]
    from re import _parser as p  # type: ignore[attr-defined]

    repeats = {c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", c.MAX_REPEAT)}

    def walk(node: object, inside: bool) -> bool:
        if isinstance(node, p.SubPattern):
            for op, av in node:
                if op in repeats:
                    lo, hi, body = av
                    many = hi > 1
                    if inside and lo != hi:  # a fixed count such as \d{2} cannot backtrack
                        return True
                    if walk(body, inside or many):
                        return True
                elif (op in (c.BRANCH, c.GROUPREF) and inside) or walk(av, inside):
                    return True
            return False
        if isinstance(node, list | tuple):
            return any(walk(child, inside) for child in node)
        return False

    return bool(walk(p.parse(pattern), False))


class ScanParser:
    """Parse scanner text with a configured pattern (config ``input.ticket_pattern``)."""

    def __init__(self, pattern: str = DEFAULT_PATTERN) -> None:
        try:
            self._re = re.compile(pattern)
        except re.error as exc:
            raise ScanPatternError(f"not a valid regular expression: {exc}") from None
        if _can_blow_up(self._re.pattern):
            raise ScanPatternError(
                "ticket pattern has a repeated group that itself repeats or alternates (as in "
                "(\\d+)+ or (a|ab)*): matching can take exponential time; write it flat"
            )
        groups = set(self._re.groupindex)
        if "ticket" not in groups:
            raise ScanPatternError("ticket pattern needs a named group (?P<ticket>...)")
        unknown = groups - {"ticket", "pin", "date"}
        if unknown:
            raise ScanPatternError(f"ticket pattern has unknown named groups: {sorted(unknown)}")
        self.pattern = pattern

    def parse(self, text: str) -> Scanned:
        text = text.strip()
        if is_play_slip(text):
            try:
                return SlipScan(tuple(parse_play_slip(text)))
            except GrammarError as exc:
                return BadScan("slip", f"{exc.reason}: {exc.detail}")
        match = self._re.fullmatch(text)
        if match is None:
            return BadScan("no_match", f"{len(text)} characters do not match the ticket pattern")
        groups = match.groupdict()
        ticket_text = groups.get("ticket") or ""
        if not ticket_text.isdigit():
            return BadScan("no_match", "ticket group is not numeric")
        pin_text = groups.get("pin")
        if pin_text is not None and not pin_text.isdigit():
            return BadScan("no_match", "pin group is not numeric")
        date = None
        if groups.get("date"):
            try:
                date = _parse_date(groups["date"])
            except ValueError:
                return BadScan("bad_date", "the date in the scan is not a calendar date")
        pin = int(pin_text) if pin_text else None
        return TicketScan(int(ticket_text), pin, date)
