"""`BanklotApi`: the Banklot API as the outbox and the executor use it.

Rules:
- A `typing.Protocol`: the outbox and the executor depend on these methods, not on the HTTP
  client, so a test double with the same methods stands in for `BanklotClient` and mypy checks
  both (`BanklotClient` conformance is checked at the bottom of this file; the doubles in
  tests/banklot/test_api.py are checked by mypy too).
- Only what those two call, with the parameters they pass. The daemon builds and owns the real
  client (login, catalog reads, closing) and keeps its concrete type.
- Errors are the `kioskd.banklot.errors` taxonomy whatever the implementation: NotSent,
  Rejected (and its subclasses), InDoubt, AuthFailed. The outbox's exactly-once rules rest on
  that classification, so a double must raise the same classes for the same situations.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Protocol

from kioskd.banklot import models as m


class BanklotApi(Protocol):
    """The endpoints money operations and counter reads go through."""

    async def ticket(self, ticket_number: int, date: date | str) -> m.Ticket:
        """One ticket by number and local sale day (TicketNotFound when there is none)."""

    async def tickets(
        self,
        between: Sequence[str],
        *,
        status: str | None = None,
        transaction_type: str | None = None,
    ) -> Sequence[m.TicketSummary]:
        """The account's ticket rows created in `between` (two ISO times)."""

    async def last(self) -> m.Ticket | None:
        """The account's newest ticket (None when the account never sold)."""

    async def create(self, wagers: Sequence[m.WagerRequest]) -> m.Ticket:
        """Sell. Mutating: never retried once it may have arrived."""

    async def pay(self, ticket_number: int, pin_number: int, date: date | str) -> m.PayResult:
        """Pay a winning ticket."""

    async def cancel(self, ticket_number: int) -> m.CancelResult:
        """Cancel a ticket inside its cancel window."""

    async def copy(self, ticket_number: int, date: date | str) -> m.CopyProposal:
        """A proposal to sell an old ticket's wagers again (sold with `create`)."""

    async def results(self, between: Sequence[str]) -> Sequence[m.DrawResult]:
        """Draw results in `between`, newest first."""

    async def reports(self, between: Sequence[str], *, category: str = "lottery") -> m.ReportTotals:
        """Sale, prize and balance totals of one game category in `between`."""


if TYPE_CHECKING:
    from kioskd.banklot.client import BanklotClient

    def _client_conforms(client: BanklotClient) -> BanklotApi:
        return client  # mypy proves the real client has every method above, with these types
