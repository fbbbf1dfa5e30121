"""`BanklotApi`: the real client and a test double both satisfy it, and the outbox and the
executor work through either. mypy checks this file too (pyproject `[tool.mypy] files`): the
annotated `api: BanklotApi = ...` assignments below are the static proof for the double; the
real client's is at the bottom of kioskd/banklot/api.py."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from kioskd.banklot import errors
from kioskd.banklot import models as m
from kioskd.banklot.api import BanklotApi
from kioskd.banklot.client import BanklotClient
from kioskd.banklot.days import local_date
from kioskd.clock import VirtualClock
from kioskd.config import outbox_policy
from kioskd.counter import session as s
from kioskd.daemon.executor import Context, Executor
from kioskd.journal import Journal
from kioskd.journal.states import DONE
from kioskd.outbox import Outbox

START = 1729612800.0  # 2024-10-22 16:00 UTC
ZONE = "America/Caracas"


def _members(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in vars(cls).items()
        if inspect.iscoroutinefunction(fn) and not name.startswith("_")
    }


def test_the_real_client_has_every_method_with_compatible_parameters() -> None:
    """At run time too (mypy aside): every protocol method exists on BanklotClient, is async,
    and takes every parameter the protocol names, the same way (positional or keyword)."""
    client = _members(BanklotClient)
    wanted = _members(BanklotApi)
    assert set(wanted) == {
        "ticket", "tickets", "last", "create", "pay", "cancel", "copy", "results", "reports"
    }  # fmt: skip
    for name, sig in wanted.items():
        assert name in client, f"BanklotClient has no async {name}()"
        have = client[name].parameters
        for param in sig.parameters.values():
            assert param.name in have, f"BanklotClient.{name}() takes no {param.name}"
            got = have[param.name]
            if param.kind is inspect.Parameter.KEYWORD_ONLY:
                assert got.kind in (got.KEYWORD_ONLY, got.POSITIONAL_OR_KEYWORD), (name, param)
            else:
                assert got.kind is param.kind, (name, param)
            if param.default is not inspect.Parameter.empty:
                assert got.default is not inspect.Parameter.empty, (name, param)


class ShelfApi:
    """A BanklotApi double: an in-memory account. Sells, looks up by number and local sale day,
    and records the days it was asked for; whatever else is called raises NotSent."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.sold: dict[int, m.Ticket] = {}
        self.days_asked: list[str] = []

    async def ticket(self, ticket_number: int, date: date | str) -> m.Ticket:
        day = date if isinstance(date, str) else date.isoformat()
        self.days_asked.append(day)
        t = self.sold.get(ticket_number)
        if t is None or local_date(t.created_at, ZONE).isoformat() != day:
            raise errors.TicketNotFound("no rows in result set", endpoint="/user/ticket")
        return t

    async def tickets(
        self,
        between: Sequence[str],
        *,
        status: str | None = None,
        transaction_type: str | None = None,
    ) -> Sequence[m.TicketSummary]:
        raise errors.NotSent("not on this shelf", endpoint="/user/ticket/")

    async def last(self) -> m.Ticket | None:
        return self.sold[max(self.sold)] if self.sold else None

    async def create(self, wagers: Sequence[m.WagerRequest]) -> m.Ticket:
        number = 1000 + len(self.sold)
        ticket = m.Ticket(
            ticket_number=number,
            pin_number=4321,
            created_at=self.clock.now(),
            wagers=tuple(m.Wager(w.amount, w.event_id, w.game_id, w.wager) for w in wagers),
            amount=sum(w.amount for w in wagers),
            num_wagers=len(wagers),
            status="active",
        )
        self.sold[number] = ticket
        return ticket

    async def pay(self, ticket_number: int, pin_number: int, date: date | str) -> m.PayResult:
        raise errors.NotSent("not on this shelf", endpoint="/user/ticket/pay")

    async def cancel(self, ticket_number: int) -> m.CancelResult:
        raise errors.NotSent("not on this shelf", endpoint="/user/ticket/cancel")

    async def copy(self, ticket_number: int, date: date | str) -> m.CopyProposal:
        raise errors.NotSent("not on this shelf", endpoint="/user/ticket/copy")

    async def results(self, between: Sequence[str]) -> Sequence[m.DrawResult]:
        raise errors.NotSent("not on this shelf", endpoint="/gaming/result/0")

    async def reports(self, between: Sequence[str], *, category: str = "lottery") -> m.ReportTotals:
        raise errors.NotSent("not on this shelf", endpoint="/gaming/reports")


async def test_the_outbox_sells_through_a_double(tmp_path: Path) -> None:
    clock = VirtualClock(START)
    api: BanklotApi = ShelfApi(clock)
    with Journal(tmp_path / "journal.sqlite") as journal:
        outbox = Outbox(journal, api, clock, outbox_policy(time_zone=ZONE))
        await outbox.recover()
        wager = m.WagerRequest(amount=5, event_id=77, game_id=3, wager="12")
        op_id = await outbox.submit_create([wager], closes_at=START + 3600)
        while await outbox.step():
            pass
        op = journal.get(op_id)
        assert op.state == DONE
        assert op.ticket_number == 1000 and op.pin_number == 4321
        assert op.result is not None and op.result["wagers"] == [
            {"event_id": 77, "game_id": 3, "wager": "12", "amount": 5}
        ]


async def test_the_executor_finds_a_ticket_s_day_through_a_double(tmp_path: Path) -> None:
    """A lookup without a date searches the recent local days, newest first."""
    clock = VirtualClock(START)
    shelf = ShelfApi(clock)
    api: BanklotApi = shelf
    await api.create([m.WagerRequest(amount=5, event_id=77, game_id=3, wager="12")])
    clock.advance(2 * 86400.0)  # the sale was two days ago
    delivered: list[s.Event] = []
    with Journal(tmp_path / "journal.sqlite") as journal:
        outbox = Outbox(journal, api, clock, outbox_policy(time_zone=ZONE))
        executor = Executor(api, outbox, clock, delivered.append, lambda: Context(time_zone=ZONE))
        await executor.execute(s.Lookup(1, 1000))
    (done,) = delivered
    assert isinstance(done, s.Done) and done.data is shelf.sold[1000]
    # Newest day first until found, then read once more with that day.
    assert shelf.days_asked == ["2024-10-24", "2024-10-23", "2024-10-22", "2024-10-22"]
