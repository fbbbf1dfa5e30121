"""The JSON the journal keeps for other packages: the shapes of its JSON columns.

Rules:
- The journal stores these columns as JSON text and never reads inside them; the outbox writes
  them, and the outbox, executor, spooler and campaigns read them back. These TypedDicts are the
  contract between writers and readers (mypy checks both sides); at run time they are plain
  dicts, so rows written before a key existed still load.
- Keys are only ever added (old journals must keep loading): a new key is `NotRequired` or in a
  `total=False` shape, and readers use `.get()` for it.
- No PIN anywhere in them: the PIN has its own column (`Journal.add` refuses PIN-like keys).
"""

from __future__ import annotations

from typing import TypedDict

from kioskd.banklot.models import WagerJson


class Payload(TypedDict, total=False):
    """`operations.payload`: what the operation asks the API for (by kind)."""

    wagers: list[WagerJson]  # create: the body of /user/ticket/create
    ticket_number: int  # pay, cancel
    date: str  # pay: the ticket's local sale day (YYYY-MM-DD)
    created_at: float  # cancel: when the ticket was sold (bounds the cancel window)


class TicketWagerJson(TypedDict, total=False):
    """One wager of a sold ticket as `Result` keeps it (None fields left out)."""

    event_id: int
    game_id: int
    wager: str
    amount: int
    current_event_id: int
    list_id: int
    status: str
    event_name: str
    p_event_time: str


class Result(TypedDict, total=False):
    """`operations.result`: what a done operation got (create: the ticket without its PIN,
    enough to print and reprint the slip offline; pay: the prize; cancel: the status)."""

    status: str  # every kind: the ticket's status after the operation
    # create
    ticket_number: int
    created_at: float
    amount: int
    num_wagers: int
    wagers: list[TicketWagerJson]
    entity_id: int
    parent_id: int
    entity_name: str
    parent_name: str
    ticket_uuid: str
    # pay
    prize: int | None
    paid_at: float | None


class Watermark(TypedDict):
    """`operations.watermark`: the account's newest ticket read before a create was sent
    (both None when the account had none)."""

    ticket_number: int | None
    created_at: float | None


class PrintJobPayload(TypedDict, total=False):
    """`print_jobs.payload`: which slip to print; the rest comes from the operation row."""

    kind: str  # the operation's kind (create, pay, cancel)
    ticket_number: int | None
    how: str  # answered, reconciled, operator
    reason: str  # not_done slips: why (expired)
    operator: str  # `kioskctl reprint-last`
