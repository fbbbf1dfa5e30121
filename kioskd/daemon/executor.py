"""Carries out the counter session's commands and turns what happened into session events.

Rules:
- The session decides *what* to do; this module only does it: money-moving commands go to the
  outbox (journaled before the first byte), reads go straight to the client.
- Every command ends in exactly one result event for the session (`Done`, `Failed`), possibly
  after a `Queued` (accepted by the outbox but not confirmed yet). Results arrive through the
  `deliver` callback, from tasks the daemon owns; this module never touches the session.
- Outbox outcomes are matched back to commands by operation id. An outcome for an operation no
  command waits for (one recovered after a restart) is only logged: its slip comes from the
  journal's print job.
- Error classes become the session's reason codes (`REASONS`); no PIN in any text.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date as Date
from typing import Any, ClassVar

from kioskd.banklot import errors
from kioskd.banklot.api import BanklotApi
from kioskd.banklot.days import DEFAULT_TIME_ZONE, local_date, local_day_range, recent_days
from kioskd.banklot.models import CancelResult, PayResult, ReportTotals, Ticket
from kioskd.clock import Clock
from kioskd.counter import session as s
from kioskd.counter import slips
from kioskd.counter.i18n import detail_text, journal_fault_detail, outbox_text, server_text
from kioskd.journal.json_columns import Result
from kioskd.outbox.outbox import (
    JournalUnwritable,
    Outbox,
    OutboxRefused,
    Outcome,
    ServerTimeUnknown,
    stored_ticket,
)

log = logging.getLogger("kioskd.executor")

# Most specific class first: the first isinstance match wins.
REASONS: tuple[tuple[type[BaseException], str], ...] = (
    (errors.NotAWinner, "not_a_winner"),
    (errors.TicketNotFound, "ticket_not_found"),
    (errors.WrongPin, "wrong_pin"),
    (errors.AlreadyPaid, "already_paid"),
    (errors.TicketExpired, "ticket_expired"),
    (errors.CancelWindowPassed, "cancel_window_passed"),
    (errors.AlreadyRejected, "already_canceled"),
    (errors.EventsClosed, "events_closed"),
    (errors.WagerRejected, "wager_rejected"),
    (errors.AuthFailed, "auth_failed"),
    (errors.NotSent, "offline"),
    (errors.InDoubt, "in_doubt"),
    (errors.Rejected, "rejected"),
    (JournalUnwritable, "journal_fault"),
    (ServerTimeUnknown, "offline"),  # never reached the server: its time is not known
    (OutboxRefused, "offline_cap"),
)


def reason_for(exc: BaseException) -> str:
    for cls, reason in REASONS:
        if isinstance(exc, cls):
            return reason
    return "error"


def detail_for(exc: BaseException, lang: str = "es") -> str:
    """A short, PIN-free text for a slip in `lang`: the server's refusal in words
    (`kioskd.counter.i18n.server_text`); a link failure's English text only on English slips
    (the reason line says "offline" in both)."""
    if isinstance(exc, errors.Rejected):
        return server_text(exc.message, lang)
    if isinstance(exc, errors.BanklotError):
        return exc.message if lang == "en" else ""
    if isinstance(exc, OutboxRefused):
        return outbox_text(str(exc), lang)
    return str(exc) if lang == "en" else ""


@dataclass
class Context:
    """What the executor needs to know about the kiosk right now (refreshed by the daemon)."""

    time_zone: str = DEFAULT_TIME_ZONE
    ticket_expiration_days: int = 3
    seconds_to_cancel: float = 180.0
    categories: tuple[str, ...] = ("lottery", "animalitos")  # game categories sold here
    status_info: Callable[[], slips.StatusInfo] | None = None
    lang: str = "es"  # the slips' language (refusal details the executor words itself)


Deliver = Callable[[s.Event], None]


class Executor:
    """Runs commands; results go to `deliver` (the daemon feeds them to the session)."""

    def __init__(
        self,
        client: BanklotApi,
        outbox: Outbox,
        clock: Clock,
        deliver: Deliver,
        context: Callable[[], Context],
    ) -> None:
        self.client = client
        self.outbox = outbox
        self.clock = clock
        self.deliver = deliver
        self.context = context
        self._waiting: dict[int, s.Command] = {}  # op id -> the command waiting for it
        # Outcomes that arrived before `submit_*` returned their op id (in-process transports
        # can answer that fast); claimed right after the submit.
        self._unclaimed: dict[int, list[Outcome]] = {}

    # ----------------------------------------------------------------- commands

    async def execute(self, command: s.Command) -> None:
        """Carry out one command; exactly one terminal result is delivered (maybe later)."""
        handler = self._HANDLERS.get(type(command))
        if handler is None:
            log.error("no handler for %s", type(command).__name__)
            self._fail(command, "error", detail_text("internal", self.context().lang))
            return
        try:
            await handler(self, command)
        except JournalUnwritable as exc:
            # The real reason, in the slip's language (never "offline limit", never English).
            kind = exc.journal_error.kind if exc.journal_error is not None else "io"
            self._fail(command, "journal_fault", journal_fault_detail(kind, self.context().lang))
        except (errors.BanklotError, OutboxRefused) as exc:
            self._fail(command, reason_for(exc), detail_for(exc, self.context().lang))
        except Exception:  # a bug must not leave the clerk waiting forever
            log.exception("command %s failed", type(command).__name__)
            self._fail(command, "error", detail_text("internal", self.context().lang))

    def _done(self, command: s.Command, data: s.ResultData) -> None:
        self.deliver(s.Done(command.command_id, data, now=self.clock.now()))

    def _fail(self, command: s.Command, reason: str, detail: str = "") -> None:
        self.deliver(s.Failed(command.command_id, reason, detail, now=self.clock.now()))

    async def _find_date(self, ticket: int, date: Date | str | None) -> Date | str:
        """The ticket's local creation date: given, or searched over the expiration window."""
        if date is not None:
            return date
        ctx = self.context()
        # Server time, never the kiosk's wall clock; from its upper bound, so that just after
        # the server's midnight the new day is searched too (the lower bound may be yesterday).
        latest = getattr(self.clock, "upper", self.clock.now)()
        latest = latest if math.isfinite(latest) else self.clock.now()
        days = recent_days(latest, ctx.time_zone, max(1, ctx.ticket_expiration_days + 1))
        for day in days:
            try:
                await self.client.ticket(ticket, day)
            except errors.TicketNotFound:
                continue
            return day
        raise errors.TicketNotFound("no rows in result set", endpoint="/user/ticket")

    async def _lookup(self, command: s.Lookup) -> None:
        if command.date is not None:
            ticket = await self.client.ticket(command.ticket, command.date)
        else:
            day = await self._find_date(command.ticket, None)
            ticket = await self.client.ticket(command.ticket, day)
        self._done(command, ticket)

    async def _sell(self, command: s.Sell) -> None:
        closes_at = command.closes_at if command.closes_at is not None else float("inf")
        op_id = await self.outbox.submit_create(list(command.wagers), closes_at)
        self._claim(op_id, command)

    async def _pay(self, command: s.Pay) -> None:
        date = await self._find_date(command.ticket, command.date)
        op_id = await self.outbox.submit_pay(command.ticket, command.pin, _iso(date))
        self._claim(op_id, command)

    async def _cancel(self, command: s.Cancel) -> None:
        if command.created_at is None:
            # The lookup before it failed: the cancel window cannot be bounded.
            self._fail(command, "error", detail_text("cancel_unknown_time", self.context().lang))
            return
        ctx = self.context()
        op_id = await self.outbox.submit_cancel(
            command.ticket, command.created_at, ctx.seconds_to_cancel
        )
        self._claim(op_id, command)

    async def _repeat(self, command: s.Repeat) -> None:
        date = await self._find_date(command.ticket, command.date)
        self._done(command, await self.client.copy(command.ticket, date))

    async def _reprint_last(self, command: s.ReprintLast) -> None:
        self._done(command, await self.client.last())

    async def _results(self, command: s.Results) -> None:
        ctx = self.context()
        today = local_date(self.clock.now(), ctx.time_zone)
        self._done(command, list(await self.client.results(local_day_range(today, ctx.time_zone))))

    async def _shift_report(self, command: s.ShiftReport) -> None:
        ctx = self.context()
        today = local_date(self.clock.now(), ctx.time_zone)
        between = local_day_range(today, ctx.time_zone)
        tickets = await self.client.tickets(between, transaction_type="wager")
        # `/gaming/reports` answers per game category: add up every category we sell.
        parts = [await self.client.reports(between, category=c) for c in ctx.categories]
        totals = ReportTotals(
            sale=sum(p.sale for p in parts),
            prize=sum(p.prize for p in parts),
            balance=sum(p.balance for p in parts),
            agency=sum(p.agency for p in parts),
            parent_balance=sum(p.parent_balance for p in parts),
        )
        self._done(command, slips.ShiftReport.from_api(today, tickets, totals))

    async def _status(self, command: s.StatusSlip | s.TestPrint) -> None:
        ctx = self.context()
        info = ctx.status_info() if ctx.status_info is not None else None
        if isinstance(command, s.StatusSlip) and info is None:
            raise RuntimeError("no status available")
        self._done(command, info)

    _HANDLERS: ClassVar[dict[type, Callable[[Executor, Any], Awaitable[None]]]] = {
        s.Lookup: _lookup,
        s.Sell: _sell,
        s.Pay: _pay,
        s.Cancel: _cancel,
        s.Repeat: _repeat,
        s.ReprintLast: _reprint_last,
        s.Results: _results,
        s.ShiftReport: _shift_report,
        s.StatusSlip: _status,
        s.TestPrint: _status,
    }

    # ----------------------------------------------------------------- outbox outcomes

    def _claim(self, op_id: int, command: s.Command) -> None:
        self._waiting[op_id] = command
        for outcome in self._unclaimed.pop(op_id, []):
            self.on_outcome(outcome)

    def on_outcome(self, outcome: Outcome) -> None:
        """Match an outbox outcome to the command waiting for it (if any)."""
        if outcome.op_id is None:
            return
        command = self._waiting.get(outcome.op_id)
        if command is None:
            early = self._unclaimed.setdefault(outcome.op_id, [])
            early.append(outcome)
            while len(self._unclaimed) > 64:  # recovered ops nobody will claim
                self._unclaimed.pop(next(iter(self._unclaimed)))
            return
        now = self.clock.now()
        if outcome.kind in ("queued", "in_doubt"):
            # Durably queued but not confirmed: the session may print a PENDING slip.
            self.deliver(s.Queued(command.command_id, now=now))
            return
        if outcome.kind == "conflict":
            # Needs a person; the operation stays visible in `kioskctl queue`.
            self.deliver(s.Queued(command.command_id, now=now))
            return
        del self._waiting[outcome.op_id]
        if outcome.kind == "done":
            self.deliver(s.Done(command.command_id, self._result_of(outcome.op_id), now=now))
        elif outcome.kind == "expired":
            self.deliver(s.Failed(command.command_id, "expired", outcome.message, now=now))
        elif outcome.kind == "rejected":
            exc = outcome.error
            reason = reason_for(exc) if exc is not None else "rejected"
            lang = self.context().lang
            message = outcome.message
            detail = detail_for(exc, lang) if exc is not None else server_text(message, lang)
            self.deliver(s.Failed(command.command_id, reason, detail, now=now))
        else:
            self._waiting[outcome.op_id] = command  # alarm and friends: keep waiting

    def _result_of(self, op_id: int) -> Ticket | PayResult | CancelResult:
        op = self.outbox.journal.get(op_id)
        result: Result = op.result or {}
        if op.kind == "create":
            return stored_ticket(op)
        if op.kind == "pay":
            return PayResult(
                ticket_number=int(op.ticket_number or 0),
                status=str(result.get("status", "paid")),
                prize=int(result.get("prize") or 0),
                paid_at=result.get("paid_at"),
            )
        return CancelResult(ticket_number=int(op.ticket_number or 0), status="canceled")


def _iso(date: Date | str) -> str:
    return date.isoformat() if isinstance(date, Date) else str(date)
