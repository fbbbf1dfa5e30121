"""Wager grammar: the text a clerk types after `+`, and the play-slip codes that carry it.

Rules:
- One wager is ``product . number . amount`` (``1.341.20``): product id (digits), the number as
  typed on the keypad (digits, leading zeros kept: ``000`` is not ``0``; it is the inventory
  *code*, mapped to the API's wager by the catalog), and the amount in whole currency units.
- A play slip is ``K1:`` followed by wagers separated by ``;`` (``K1:1.341.20;1.000.20``);
  scanning it is equivalent to typing each wager and pressing Enter.
- Parsing only checks shape. Whether the product exists, the event is open and the amount fits
  the limits is the catalog's job (`kioskd.counter.catalog`).
- Errors are `GrammarError` with a stable ``reason`` code (for slips and tests) and a detail.
"""

from __future__ import annotations

from dataclasses import dataclass

SLIP_PREFIX = "K1:"
MAX_PRODUCT_DIGITS = 6
MAX_NUMBER_DIGITS = 8
MAX_AMOUNT_DIGITS = 9
MAX_SLIP_WAGERS = 200


@dataclass(frozen=True)
class DraftWager:
    """One typed wager before validation."""

    product: int
    number: str
    amount: int

    def text(self) -> str:
        return f"{self.product}.{self.number}.{self.amount}"


class GrammarError(ValueError):
    """`reason`: empty, parts, product, number, amount, slip_prefix, slip_empty, slip_too_long."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _digits(part: str, reason: str, what: str, max_len: int) -> str:
    if not part:
        raise GrammarError(reason, f"{what} is missing")
    if not part.isascii() or not part.isdigit():
        raise GrammarError(reason, f"{what} must be digits")
    if len(part) > max_len:
        raise GrammarError(reason, f"{what} has more than {max_len} digits")
    return part


def parse_wager(text: str) -> DraftWager:
    """Parse ``product.number.amount``; raise `GrammarError` on a malformed line."""
    line = text.strip()
    if not line:
        raise GrammarError("empty", "no wager typed")
    parts = line.split(".")
    if len(parts) != 3:
        raise GrammarError("parts", f"expected product.number.amount, got {len(parts)} part(s)")
    product = int(_digits(parts[0], "product", "product", MAX_PRODUCT_DIGITS))
    number = _digits(parts[1], "number", "number", MAX_NUMBER_DIGITS)
    amount = int(_digits(parts[2], "amount", "amount", MAX_AMOUNT_DIGITS))
    if amount <= 0:
        raise GrammarError("amount", "amount must be above zero")
    return DraftWager(product, number, amount)


def is_play_slip(text: str) -> bool:
    return text.strip().upper().startswith(SLIP_PREFIX)


def parse_play_slip(text: str) -> list[DraftWager]:
    """Parse ``K1:w;w;...`` into wagers; an empty trailing ``;`` is allowed."""
    body = text.strip()
    if not body.upper().startswith(SLIP_PREFIX):
        raise GrammarError("slip_prefix", f"a play slip starts with {SLIP_PREFIX}")
    items = [item for item in body[len(SLIP_PREFIX) :].split(";")]
    if items and items[-1].strip() == "":
        items.pop()
    if not items:
        raise GrammarError("slip_empty", "the play slip has no wagers")
    if len(items) > MAX_SLIP_WAGERS:
        raise GrammarError("slip_too_long", f"more than {MAX_SLIP_WAGERS} wagers")
    wagers = []
    for index, item in enumerate(items, start=1):
        try:
            wagers.append(parse_wager(item))
        except GrammarError as exc:
            raise GrammarError(exc.reason, f"wager {index}: {exc.detail}") from None
    return wagers
