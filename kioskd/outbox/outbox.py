"""The outbox: sends journaled money operations exactly once, and reconciles the doubtful.

Rules:
- Durable before the first byte: an operation is committed in state `sending` before the
  request is written. After a crash `recover()` turns `sending` into `in_doubt`, never back
  into `queued`.
- Outcome classes come from the client's error taxonomy: NotSent / AuthFailed -> queued again
  (with backoff); Rejected -> rejected; InDoubt (and anything unexpected) -> in_doubt. An
  in-doubt operation is never resent before reconciliation proved it was not applied.
- Holds, not single-flight: a create is held back only while another create with the same
  fingerprint (wagers multiset + total) is in the air; a pay or cancel only while another of
  the same kind on the same ticket is. Everything else is sent at once, in journal order
  (`reconcile.py` says why this keeps every doubt decidable).
- Decide as soon as the evidence allows: an ambiguous outcome is probed at once; "applied" on
  the first probe that proves it; "not applied" at once when the API answered with its own
  error envelope (the request is over), after the quiet period otherwise.
- Time: the outbox's `Clock` is the server-time estimate (`clock.ServerTimeClock`: its `now()`
  is the lower bound of the server's clock, never the kiosk's wall clock), so deadlines, stamps
  and brackets are server time; the quiet period is a duration on the monotonic clock
  (`_since_send`). Each send is bracketed: `sent_at` (lower bound before the first byte) and
  `sent_hi` (upper bound once it ended), journaled with the operation. While the server time is
  unknown (a journal that never reached the server) new money is refused.
- All time comes from the `Clock`; randomness (jitter) from a seeded RNG. `step()` does one
  unit of work and returns whether it did anything, so tests and the chaos campaign drive the
  outbox deterministically; `run()` loops over `step()` for the daemon.
- In `run()` (the daemon) a send is a task of its own, up to `MAX_IN_FLIGHT` at once: a request
  hanging until its read timeout never holds up the next sale. The holds are what make this
  safe: operations in the air at the same time can always be told apart. A sale born
  `sending` becomes its task in its own submit (when fewer than `MAX_IN_FLIGHT` are in the
  air; else `run()` sends it when one ends).
- Outcomes (sending, queued, done, rejected, expired, in_doubt, conflict, alarm) go to
  `on_outcome`; the light state (online, offline, login_refused, in_doubt, attention) to
  `on_signal`. A refused login is its own signal, never "offline". PINs never appear in either's
  text, in history details or in errors.
- Happy path cost: when nothing holds it and the outbox is online, a new operation is born
  `sending`, so a sale costs three commits (intent, outcome with its print job, printed) and
  one round trip (`/create`: no watermark read; reconciliation lists the send window instead).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, cast

from kioskd.banklot import errors
from kioskd.banklot.api import BanklotApi
from kioskd.banklot.days import local_date, utc_iso
from kioskd.banklot.models import (
    CancelResult,
    PayResult,
    Ticket,
    TicketSummary,
    WagerJson,
    WagerRequest,
)
from kioskd.clock import Clock, ServerTimeClock, wait_event
from kioskd.journal import states
from kioskd.journal.json_columns import Payload, PrintJobPayload, Result
from kioskd.journal.store import (
    CANCEL,
    CREATE,
    HOUSEKEEPING_CHECKPOINT_BYTES,
    PAY,
    Journal,
    JournalError,
    Operation,
    digest,
)
from kioskd.outbox import reconcile
from kioskd.outbox.policy import Policy
from kioskd.servertime import UNKNOWN

ONLINE = "online"
OFFLINE = "offline"
IN_DOUBT = "in_doubt"
ATTENTION = "attention"

# Print job kinds the daemon renders.
PRINT_TICKET = "ticket"
PRINT_PAYOUT = "payout"
PRINT_CANCEL = "cancel"
PRINT_NOT_DONE = "not_done"
# An operation born `sending` and still not sent after this long is re-queued first, so that
# its send time (which frames the send window of reconciliation) is the real one.
READY_STALE_S = 5.0
# Sends in the air at once in `run()` (each its own task); more wait for one to finish.
MAX_IN_FLIGHT = 4
PRINT_FOR_DONE = {CREATE: PRINT_TICKET, PAY: PRINT_PAYOUT, CANCEL: PRINT_CANCEL}
# Signal while the API refuses our login (bad credentials): named as such, never "offline".
LOGIN_REFUSED = "login_refused"
# The journal's key-value row that remembers a sale on this account that the kiosk did not
# make (reconcile, ambiguity 5): from then on the account is known to be shared.
SHARED_ACCOUNT_KEY = "account.foreign_sale_seen"
# The server instant up to which the account's sales were searched and held no other
# terminal's (reconcile, ambiguity 5): the next search starts there, so each span is listed once.
EXCLUSIVE_THROUGH_KEY = "account.exclusive_through"


class OutboxRefused(Exception):
    """A new operation was refused (caps reached, journal in attention, bad request)."""


class ServerTimeUnknown(OutboxRefused):
    """Refused because the server's time is not known at all (never reached on this journal):
    no deadline could be set without the kiosk's wall clock (kioskd/servertime.py)."""


class JournalUnwritable(OutboxRefused):
    """Refused because the journal cannot be written (`journal_error` says why)."""

    def __init__(self, message: str, journal_error: JournalError | None = None) -> None:
        super().__init__(message)
        self.journal_error = journal_error


@dataclass(frozen=True)
class Outcome:
    """Something the daemon (and the person at the counter) must learn about."""

    kind: str  # done, rejected, expired, in_doubt, conflict, alarm, queued, attention
    op_id: int | None
    op_kind: str | None = None
    ticket_number: int | None = None
    message: str = ""
    error: BaseException | None = field(default=None, repr=False)


def _wagers_json(wagers: Sequence[WagerRequest | WagerJson]) -> list[WagerJson]:
    out = []
    for w in wagers:
        if isinstance(w, dict):
            w = WagerRequest(
                int(w["amount"]), int(w["event_id"]), int(w["game_id"]), str(w["wager"])
            )
        out.append(w.to_json())
    return out


def _ticket_result(ticket: Ticket) -> Result:
    """The ticket as the journal row keeps it (the PIN has its own column): enough to print
    and reprint the slip without the network (`Ticket.from_json` reads it back)."""
    out: dict[str, Any] = {
        "ticket_number": ticket.ticket_number,
        "created_at": ticket.created_at,
        "amount": ticket.amount,
        "num_wagers": ticket.num_wagers,
        "status": ticket.status,
        "wagers": [
            {
                k: v
                for k, v in (
                    ("event_id", w.event_id), ("game_id", w.game_id), ("wager", w.wager),
                    ("amount", w.amount), ("current_event_id", w.current_event_id),
                    ("list_id", w.list_id), ("status", w.status), ("event_name", w.event_name),
                    ("p_event_time", w.p_event_time),
                )
                if v is not None
            }
            for w in ticket.wagers
        ],
    }  # fmt: skip
    for key in ("entity_id", "parent_id", "entity_name", "parent_name", "uuid"):
        value = getattr(ticket, key)
        if value is not None:
            out["ticket_uuid" if key == "uuid" else key] = value
    return cast(Result, out)  # the keys above are Result's


# The last few sales read back by `stored_ticket`, each with the Operation it was read from.
_STORED_TICKETS: dict[int, tuple[Operation, Ticket]] = {}
_STORED_KEPT = 8


def stored_ticket(op: Operation) -> Ticket:
    """The ticket a done sale's journal row keeps (`_ticket_result`, with its PIN column), read
    back through the API model's checks. The executor's answer to the counter and the slip
    read the same row one after the other: the second reading of the same Operation object
    (frozen, so the same content) gets the first one's Ticket, frozen too (issue 19: CPU a
    sale); another object (a row read again, changed or not) is read again."""
    kept = _STORED_TICKETS.get(op.id)
    if kept is not None and kept[0] is op:
        return kept[1]
    ticket = Ticket.from_json({**(op.result or {}), "pin_number": op.pin_number})
    _STORED_TICKETS[op.id] = (op, ticket)
    while len(_STORED_TICKETS) > _STORED_KEPT:
        del _STORED_TICKETS[next(iter(_STORED_TICKETS))]
    return ticket


class Outbox:
    """Sends the journal's operations through a `BanklotClient`, one unit of work per step."""

    def __init__(
        self,
        journal: Journal,
        client: BanklotApi,
        clock: Clock,
        policy: Policy,
        *,
        on_outcome: Callable[[Outcome], None] | None = None,
        on_signal: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
        crash_hook: Callable[[str], None] | None = None,
    ) -> None:
        self.journal = journal
        self.client = client
        self.clock = clock
        self.policy = policy
        self.on_outcome = on_outcome
        self.on_signal = on_signal
        self.rng = rng or random.Random(0)
        self.crash_hook = crash_hook
        self.signal = ONLINE
        self.outcomes: deque[Outcome] = deque(maxlen=256)  # recent ones, for tests and ctl
        self._ready: list[int] = []  # born `sending` by a submit: send these first
        self._failures = 0
        self._offline_until = 0.0
        self.login_refused: str | None = None  # why the API refused our login, while it does
        self._shared_seen: bool | None = None  # read from the journal at first use
        self._unreadable_rounds: dict[int, int] = {}  # op id -> probes that met one
        self._alarmed: set[int] = set()
        self._queued_told: set[int] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._stopping = False
        self.concurrent = False  # set by `run()`: sends become tasks
        # Retention in `housekeeping()`; the daemon turns it off and purges in a worker after
        # READY=1 instead (kioskd.daemon.daemon `_retention_loop`, issue 19).
        self.purges = True
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        boot = getattr(clock, "boot_id", None)
        self._boot: str = boot() if callable(boot) else "unknown"

    # ----------------------------------------------------------------- server time

    def _upper_now(self) -> float:
        """The upper bound of the server's clock known now (a plain clock: its `now()`)."""
        if isinstance(self.clock, ServerTimeClock):
            return self.clock.upper()
        return self.clock.now()

    def _sent_stamp(self) -> dict[str, Any]:
        """What a send records besides `sent_at`: its monotonic instant and boot."""
        return {"sent_mono": self.clock.monotonic(), "sent_boot": self._boot}

    def _ended(self) -> dict[str, Any]:
        """What a send's outcome records: the upper bound of its bracket (if known)."""
        hi = self._upper_now()
        return {"sent_hi": hi} if hi != float("inf") else {}

    def _since_send(self, op: Operation) -> float:
        """Seconds since `op` was sent, a duration: the monotonic clock on the same boot; after
        a reboot (or for a row from before schema version 4) the server-time lower bound now
        minus the latest the send may have been, less the Date resolution twice: never more
        than really passed."""
        if op.sent_mono is not None and op.sent_boot == self._boot and self._boot != "unknown":
            return max(0.0, self.clock.monotonic() - op.sent_mono)
        sent = op.sent_hi if op.sent_hi is not None else (op.sent_at or op.created_at)
        return max(0.0, self.clock.now() - sent - 2.0)

    def _bracket(self, op: Operation, *, over: bool) -> reconcile.Bracket:
        return reconcile.send_window(
            op.sent_at or op.created_at,
            op.sent_hi,
            over=over,
            now_hi=self._upper_now(),
            policy=self.policy,
        )

    def server_time_state(self) -> str:
        if isinstance(self.clock, ServerTimeClock):
            return self.clock.state()
        return "known"

    # ----------------------------------------------------------------- signals and outcomes

    def _emit(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)

    def _emit_queued(self, op_id: int, kind: str, message: str) -> None:
        """Tell once per operation that it is durably queued but not confirmed (a queued
        payment prints "PENDING - DO NOT PAY CASH" at the counter)."""
        if op_id in self._queued_told:
            return
        self._queued_told.add(op_id)
        self._emit(Outcome("queued", op_id, kind, message=message))

    def _set_signal(self) -> None:
        # One look at the unfinished operations for both questions (issue 19: CPU per sale);
        # none while the journal is faulted (it may not even be readable).
        faulted = self.journal.attention is not None
        held = set() if faulted else {op.state for op in self.journal.unfinished()}
        if faulted or states.CONFLICT in held:
            new = ATTENTION  # the journal cannot be written, or a conflict needs a person
        elif not held.isdisjoint(states.DOUBTFUL):
            new = IN_DOUBT
        elif self._failures and self.login_refused is not None:
            new = LOGIN_REFUSED
        elif self._failures:
            new = OFFLINE
        else:
            new = ONLINE
        if new != self.signal:
            self.signal = new
            if self.on_signal is not None:
                self.on_signal(new)

    def _crash_point(self, point: str) -> None:
        if self.crash_hook is not None:
            self.crash_hook(point)

    def _went_offline(self, now: float) -> float:
        self._failures += 1
        self._offline_until = now + self.policy.backoff(self._failures, self.rng)
        return self._offline_until

    def _came_online(self) -> None:
        self._failures = 0
        self._offline_until = 0.0
        self.login_refused = None

    # ----------------------------------------------------------------- start-up

    def _recovered(self, op: Operation, now: float, when: str) -> None:
        """`op` was found `sending` or `reconciling` (`when`): bytes may have reached the
        server, so it is in doubt, due for reconciliation now."""
        self.journal.transition(
            op.id, states.RECOVERED, now=now, reason=f"found in {op.state} {when}",
            next_attempt_at=now,
        )  # fmt: skip

    async def recover(self) -> list[int]:
        """Start-up: whatever may have been sent is in doubt; unprinted jobs become reprints."""
        now = self.clock.now()
        moved = []
        for op in self.journal.operations((states.SENDING, states.RECONCILING)):
            self._recovered(op, now, "at start-up")
            moved.append(op.id)
            self._emit(Outcome("in_doubt", op.id, op.kind, message="found in flight at start-up"))
        self.journal.mark_unprinted_as_reprints(now=now)
        self._set_signal()
        return moved

    # ----------------------------------------------------------------- submit

    def _check_caps(self, amount: int) -> None:
        if self.journal.attention is not None and not self._heal_now():
            raise JournalUnwritable(
                f"journal needs attention: {self.journal.attention}", self.journal.attention
            )
        # Born `sending` counts too: it becomes queued if the network is down.
        queued = self.journal.operations((states.QUEUED, states.SENDING))
        if len(queued) >= self.policy.max_queued:
            raise OutboxRefused(f"queue full ({len(queued)} operations waiting)")
        total = sum(op.amount for op in queued) + amount
        if queued and total > self.policy.max_queued_amount:
            raise OutboxRefused(
                f"queued amount would reach {total}, cap is {self.policy.max_queued_amount}"
            )

    def _lane_free(self, kind: str, payload: Payload, amount: int,
                   ticket_number: int | None) -> bool:  # fmt: skip
        """May a new operation be sent at once (born `sending`)? Not while offline, not while
        a due, unheld operation waits before it (journal order), not while it is held."""
        if self._failures:
            return False
        now = self.clock.now()
        for op in self.journal.operations((states.QUEUED,)):
            if op.next_attempt_at <= now and not self._held(op):
                return False
        if kind == CREATE:
            return not self._create_held(reconcile.fingerprint(payload["wagers"], amount), None)
        return not self._ticket_busy(kind, ticket_number, None)

    def _held(self, op: Operation) -> bool:
        """Must `op` (queued) wait because an operation it could be mistaken for is in the air?"""
        if op.kind == CREATE:
            return self._create_held(reconcile.fingerprint(op.payload["wagers"], op.amount), op.id)
        return self._ticket_busy(op.kind, op.ticket_number, op.id)

    def _create_held(self, fp: reconcile.Fingerprint, exclude: int | None) -> bool:
        """Is another create with this fingerprint possibly applied but not yet decided? Two of
        them in the air could not be told apart by any evidence: one at a time per fingerprint."""
        return any(
            op.kind == CREATE
            and op.id != exclude
            and reconcile.fingerprint(op.payload["wagers"], op.amount) == fp
            for op in self.journal.operations(states.MAYBE_APPLIED)
        )

    def _ticket_busy(self, kind: str, ticket_number: int | None, exclude: int | None) -> bool:
        """Is another pay (or cancel) of this ticket possibly applied but not yet decided?
        Two of them in flight could not be told apart by a lookup: one at a time per ticket."""
        return any(
            op.kind == kind and op.ticket_number == ticket_number and op.id != exclude
            for op in self.journal.operations(states.MAYBE_APPLIED)
        )

    def _pending_creates(
        self, exclude: int | None = None
    ) -> list[tuple[list[WagerJson], int, reconcile.Bracket]]:
        """(wagers, amount, bracket) of our creates that may be on the server, undecided."""
        return [
            (op.payload["wagers"], op.amount, self._bracket(op, over=False))
            for op in self.journal.operations(states.MAYBE_APPLIED)
            if op.kind == CREATE and op.id != exclude
        ]

    def _check_foreign(self, tickets: Sequence[Ticket], journaled: AbstractSet[int]) -> None:
        """Alarm once for each ticket that no operation of ours owns or may own."""
        pending = self._pending_creates()
        for t in reconcile.foreign(tickets, journaled, pending):
            self._foreign_sale(t.ticket_number)

    def _foreign_sale(self, number: int) -> None:
        """Another terminal sold `number` on this account: alarm once, and remember durably
        that the account is shared (ambiguity 5 of reconcile.py)."""
        self._alarm(f"ticket {number} was never journaled by this kiosk", number)
        self._mark_shared(None, number)

    def _mark_shared(self, alarm: str | None, number: int | None = None) -> None:
        """Remember durably that other terminals sell on this account (with an alarm saying
        how it was seen, unless the caller raised one)."""
        if self.shared_account():
            return
        if alarm is not None:
            self._alarm(alarm, None)
        now = self.clock.now()
        seen = {"ticket_number": number, "seen_at": now}
        self.journal.save_catalog(SHARED_ACCOUNT_KEY, seen, fetched_at=now)
        self._shared_seen = True

    def shared_account(self) -> bool:
        """Do other terminals sell on this account (config, or a foreign sale seen once)?"""
        if self._shared_seen is None:
            self._shared_seen = self.journal.load_catalog(SHARED_ACCOUNT_KEY) is not None
        return self.policy.shared_account or self._shared_seen

    def _alarm(self, text: str, number: int | None) -> None:
        if number is not None:
            if number in self._alarmed:
                return
            self._alarmed.add(number)
        self.journal.alarm(self.clock.now(), {"alarm": text, "ticket_number": number})
        self._emit(Outcome("alarm", None, ticket_number=number, message=text))

    def _date_of(self, unix: float) -> str:
        """The API's ticket date: the local day of the entity's time zone."""
        return local_date(unix, self.policy.time_zone).isoformat()

    def _journaled_numbers(self, exclude: int | None = None) -> AbstractSet[int]:
        """Our sales' ticket numbers, asked by index (`in`), never read in full."""
        return self.journal.owned_tickets(CREATE, exclude=exclude)

    async def _submit(
        self,
        kind: str,
        payload: Payload,
        amount: int,
        deadline: float,
        *,
        pin_number: int | None = None,
        ticket_number: int | None = None,
    ) -> int:
        async with self._lock:
            self._check_caps(amount)
            if self.server_time_state() == UNKNOWN:
                raise ServerTimeUnknown(
                    "server time unknown: the kiosk has not reached the server yet"
                )
            now = self.clock.now()
            if deadline <= now:
                raise OutboxRefused(f"{kind} deadline already passed")
            state = states.QUEUED
            if self._lane_free(kind, payload, amount, ticket_number):
                state = states.SENDING
            try:
                op_id = self._add(kind, payload, amount, deadline, state, pin_number,
                                  ticket_number)  # fmt: skip
            except JournalError as exc:
                self._set_signal()
                raise JournalUnwritable(f"journal needs attention: {exc}", exc) from exc
            if state == states.SENDING:
                # Not an outcome yet: the daemon starts the PENDING slip's clock on it.
                self._emit(Outcome("sending", op_id, kind, message="sent at once"))
                if self.concurrent and len(self.in_flight) < MAX_IN_FLIGHT:
                    # `run()`'s own way (a task of its own), started here rather than after
                    # the loop's next wake-up: one wake-up of `run()` a sale fewer (issue 19:
                    # CPU a sale), and not a moment later than it would have been.
                    await self._dispatch(self.journal.get(op_id))
                else:
                    self._ready.append(op_id)
            else:
                why = "offline" if self._failures else "waiting for an earlier operation"
                self._emit_queued(op_id, kind, why)
            self._set_signal()
            if state != states.SENDING or op_id in self._ready:
                self._wake.set()  # for `run()` (a send dispatched here wakes it as it ends)
            return op_id

    def _add(self, kind: str, payload: Payload, amount: int, deadline: float, state: str,
             pin_number: int | None, ticket_number: int | None) -> int:  # fmt: skip
        return self.journal.add(
            kind,
            payload,
            amount=amount,
            deadline=deadline,
            now=self.clock.now(),
            state=state,
            pin_number=pin_number,
            ticket_number=ticket_number,
            **(self._sent_stamp() if state == states.SENDING else {}),
        )

    async def submit_create(self, wagers: Sequence[WagerRequest], closes_at: float) -> int:
        """Journal a sale. Its deadline is the earlier of the events' close and max age."""
        body = _wagers_json(wagers)
        if not body:
            raise OutboxRefused("a sale needs at least one wager")
        amount = sum(w["amount"] for w in body)
        deadline = min(closes_at, self.clock.now() + self.policy.create_max_age_s)
        return await self._submit(CREATE, {"wagers": body}, amount, deadline)

    async def submit_pay(self, ticket_number: int, pin_number: int, date: str) -> int:
        """Journal a payout. The PIN goes in its column, never in the payload or history."""
        deadline = self.clock.now() + self.policy.pay_max_age_s
        return await self._submit(
            PAY,
            {"ticket_number": int(ticket_number), "date": str(date)},
            0,
            deadline,
            pin_number=int(pin_number),
            ticket_number=int(ticket_number),
        )

    async def submit_cancel(
        self, ticket_number: int, created_at: float, seconds_to_cancel: float
    ) -> int:
        """Journal a cancel; it never outlives the ticket's cancel window."""
        deadline = created_at + seconds_to_cancel
        return await self._submit(
            CANCEL,
            {"ticket_number": int(ticket_number), "created_at": created_at},
            0,
            deadline,
            ticket_number=int(ticket_number),
        )

    # ----------------------------------------------------------------- the loop

    def next_due(self) -> float | None:
        """Earliest time at which `step()` will have something to do (None: nothing)."""
        times = []
        if self._ready:
            return self.clock.now()
        for op in self.journal.operations((states.QUEUED, states.IN_DOUBT)):
            if op.state == states.IN_DOUBT:
                times.append(op.next_attempt_at)
            elif self._held(op):
                times.append(op.deadline)  # waits for its look-alike's doubt
            else:
                times.append(min(op.deadline, max(op.next_attempt_at, self._offline_until)))
        return min(times) if times else None

    async def step(self) -> bool:
        """Do one unit of work: expire, send, or probe. Returns False when nothing was due."""
        if self.journal.attention is not None:
            self._set_signal()
            return False
        async with self._lock:
            try:
                did = await self._step()
            except JournalError as exc:
                # The file refuses writes: stop moving money, say so, lose nothing (whatever
                # was in flight is `sending` on disk and becomes in doubt at the next start).
                self._ready.clear()
                self._set_signal()
                self._emit(Outcome("attention", None, message=str(exc), error=exc))
                return False
            if self.journal.attention is None:
                self._set_signal()
            return did

    async def _step(self) -> bool:
        now = self.clock.now()
        may_send = len(self.in_flight) < MAX_IN_FLIGHT
        if self._ready and may_send:
            op = self.journal.get(self._ready.pop(0))
            if op.state == states.SENDING and now - (op.sent_at or now) > READY_STALE_S:
                # Born `sending` but not sent promptly: its recorded send time would no longer
                # frame the ticket the server creates. Nothing left the machine; it goes through
                # the queue, whose `send` records the real time.
                self.journal.transition(
                    op.id,
                    states.NOT_SENT,
                    now=now,
                    reason=f"not sent within {READY_STALE_S:g} s of its intent",
                    next_attempt_at=now,
                )
                return True
            if op.state == states.SENDING:
                await self._dispatch(op)
                return True
        unfinished = self.journal.unfinished()  # one look for the two lists below (issue 19)
        queued = [op for op in unfinished if op.state == states.QUEUED]
        for op in queued:
            if op.deadline <= now:
                self.journal.transition(
                    op.id,
                    states.EXPIRE,
                    now=now,
                    reason="deadline passed before it could be sent",
                    print_job=(PRINT_NOT_DONE, {"kind": op.kind, "reason": "expired"}),
                )
                self._emit(Outcome("expired", op.id, op.kind, message="did not happen: expired"))
                return True
        for op in unfinished:  # nothing was written since the look
            if op.state != states.IN_DOUBT:
                continue
            if op.next_attempt_at <= now and op.id not in self.in_flight:
                await self._dispatch(op, self._reconcile)
                return True
        if now < self._offline_until or not may_send:
            return False
        for op in queued:
            if op.next_attempt_at > now or self._held(op):
                continue
            op = self.journal.transition(
                op.id, states.SEND, now=self.clock.now(), **self._sent_stamp()
            )
            await self._dispatch(op)
            return True
        return False

    async def _dispatch(
        self, op: Operation, work: Callable[[Operation], Awaitable[None]] | None = None
    ) -> None:
        """Send `op` (or probe it: `work=self._reconcile`): inline (`step()` driven by tests and
        campaigns) or, in `run()`, as a task of its own, outside the lock, so that the loop goes
        on at once and no sale at the counter waits for another operation's network calls."""
        work = work or self._send
        if not self.concurrent:
            await work(op)
            return
        task = asyncio.ensure_future(self._work_task(op, work))
        self.in_flight[op.id] = task

    async def _work_task(self, op: Operation, work: Callable[[Operation], Awaitable[None]]) -> None:
        try:
            await work(op)
        except JournalError as exc:
            # As in `step()`: stop moving money, say so, lose nothing (`sending` on disk).
            self._ready.clear()
            self._emit(Outcome("attention", None, message=str(exc), error=exc))
        except Exception as exc:  # a bug must be seen, and never leave the op stuck
            self._unexpected(op, exc)
        finally:
            self.in_flight.pop(op.id, None)
            self._set_signal()
            self._wake.set()

    def _unexpected(self, op: Operation, exc: Exception) -> None:
        """An exception nobody foresaw in an operation's work (a send or a probe): the
        operation must not stay `sending`/`reconciling` until a restart. It goes in doubt (a
        send: the server may hold it; reconciliation decides, the PENDING slip prints) or to
        a person (a probe that breaks would break again), with an alarm naming the error."""
        what = f"{type(exc).__name__}"
        try:
            current = self.journal.get(op.id)
            now = self.clock.now()
            if current.state == states.SENDING:
                self.journal.transition(
                    op.id, states.AMBIGUOUS, now=now, history_kind="attempt",
                    reason=f"unexpected {what} while sending", next_attempt_at=now,
                    detail={"error": what, "request_over": False},
                )  # fmt: skip
                kind = "in_doubt"
            elif current.state == states.RECONCILING:
                self.journal.transition(
                    op.id, states.MISMATCH, now=now, history_kind="decision",
                    reason=f"unexpected {what} while reconciling",
                )  # fmt: skip
                kind = "conflict"
            else:
                kind = "attention"
            self._alarm(f"operation {op.id} ({op.kind}): unexpected {what}; {kind}", None)
        except JournalError as journal_exc:
            self._emit(Outcome("attention", None, message=str(journal_exc), error=journal_exc))
            return
        self._emit(Outcome(kind, op.id, op.kind, message=f"unexpected {what}", error=exc))

    def housekeeping(self) -> None:
        """Retention and a WAL checkpoint once the WAL has grown (bounded files, few writes
        idle: `HOUSEKEEPING_CHECKPOINT_BYTES`); run by `run()` periodically."""
        if self.journal.attention is None:
            try:
                if self.purges:
                    self.journal.purge(now=self.clock.now())
                self.journal.checkpoint(unless_under=HOUSEKEEPING_CHECKPOINT_BYTES)
            except JournalError:
                self._set_signal()

    async def run(self) -> None:
        """Work until `stop()`: step while there is work, else sleep until the next due time.
        Sends run as tasks of their own (see the module rules)."""
        self.concurrent = True
        next_housekeeping = self.clock.monotonic()
        while not self._stopping:
            if self.clock.monotonic() >= next_housekeeping:
                self.housekeeping()
                next_housekeeping = self.clock.monotonic() + self.policy.housekeeping_interval_s
            if await self.step():
                continue
            self._wake.clear()
            due = self.next_due()
            timeout = 60.0 if due is None else max(0.05, due - self.clock.now())
            await wait_event(self.clock, self._wake, timeout)
        await self._finish_in_flight()

    async def _finish_in_flight(self, timeout_s: float = 5.0) -> None:
        """At stop: let sends in the air finish briefly; the rest are cancelled and stay
        `sending` in the journal, which a restart turns into in doubt (nothing is lost)."""
        tasks = list(self.in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def cancel_in_flight(self) -> None:
        """At the daemon's stop, once its drain has waited for them: the sends and probes
        still in the air are cancelled and have unwound (each stays `sending` or
        `reconciling` in the journal: in doubt at the next start) before the journal closes."""
        await self._finish_in_flight(timeout_s=0.0)

    async def resume(self) -> list[int]:
        """The journal is writable again (the daemon healed it without a restart): what the
        fault left `sending` or `reconciling` out of hand may have reached the server, so it is
        in doubt, exactly as after a restart. Then the signal is recomputed and work resumes."""
        async with self._lock:
            return self._resume_locked()

    def _resume_locked(self) -> list[int]:
        moved = []
        now = self.clock.now()
        for op in self.journal.operations((states.SENDING, states.RECONCILING)):
            if op.id in self._ready or op.id in self.in_flight:
                continue
            self._recovered(op, now, "after a journal fault")
            moved.append(op.id)
        self._set_signal()
        self._wake.set()
        return moved

    def _heal_now(self) -> bool:
        """A new operation finds the journal in attention: its own write is the probe (the
        journal's `heal`, a real commit), so a fault cleared since the daemon's last retry does
        not refuse a sale. Healed: what the fault left in flight is in doubt first (`resume`),
        then the operation goes on; the daemon notices the cleared fault at its next look."""
        try:
            if not self.journal.heal(now=self.clock.now()):
                return False
            self._resume_locked()
        except JournalError:
            return False  # failed again: the journal is back in attention, with the cause
        return True

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    # ----------------------------------------------------------------- sending

    async def _call(self, op: Operation) -> Ticket | PayResult | CancelResult:
        p = op.payload
        if op.kind == CREATE:
            return await self.client.create([WagerRequest(**w) for w in p["wagers"]])
        if op.kind == PAY:
            if op.pin_number is None:  # submit_pay always stores it
                raise ValueError("pin_number must be a non-negative int")
            return await self.client.pay(p["ticket_number"], op.pin_number, p["date"])
        return await self.client.cancel(p["ticket_number"])

    def _maybe_our_earlier_attempt(self, op: Operation, exc: errors.Rejected) -> bool:
        """Is `exc` what our own earlier, in-doubt attempt of `op` would cause on a resend?"""
        already = (op.kind == PAY and isinstance(exc, errors.AlreadyPaid)) or (
            op.kind == CANCEL and isinstance(exc, errors.AlreadyRejected)
        )
        if not already or self._claimed_by_other(op):
            return False  # another of our operations did it: a definitive refusal
        return any(h.to_state == states.IN_DOUBT for h in self.journal.history(op.id))

    def _claimed_by_other(self, op: Operation) -> bool:
        """Is another operation of ours of the same kind on this ticket already done?"""
        return self.journal.done_on_ticket(op.kind, op.ticket_number, exclude=op.id)

    async def _send(self, op: Operation) -> None:
        request = digest(op.payload)
        try:
            result = await self._call(op)
        except (errors.NotSent, errors.AuthFailed) as exc:
            self._crash_point("send:answered")
            now = self.clock.now()
            retry_at = self._went_offline(now)
            refused = isinstance(exc, errors.AuthFailed)
            self.login_refused = str(exc) if refused else None
            self.journal.transition(
                op.id,
                states.NOT_SENT,
                now=now,
                history_kind="attempt",
                detail={"error": type(exc).__name__, "message": str(exc)},
                next_attempt_at=retry_at,
                request_digest=request,
                **self._ended(),
            )
            why = "login refused" if refused else "offline"
            self._emit_queued(op.id, op.kind, f"{why}: {type(exc).__name__}")
            return
        except errors.Rejected as exc:
            self._crash_point("send:answered")
            self._came_online()
            if self._maybe_our_earlier_attempt(op, exc):
                # A resend of an operation that was in doubt, answered "already paid" /
                # "already rejected": an earlier attempt of ours may be what applied it.
                # Back to in doubt: the lookup decides (and never resends again).
                now = self.clock.now()
                self.journal.transition(
                    op.id,
                    states.AMBIGUOUS,
                    now=now,
                    history_kind="attempt",
                    reason=f"resend answered {type(exc).__name__}: an earlier attempt may "
                    "have been applied",
                    detail={"error": type(exc).__name__, "request_over": True},
                    next_attempt_at=now,
                    request_digest=request,
                    **self._ended(),
                )
                return
            self.journal.transition(
                op.id,
                states.ANSWERED_REJECTED,
                now=self.clock.now(),
                history_kind="attempt",
                reason=f"{type(exc).__name__}: {exc}",
                detail={"error": type(exc).__name__},
                request_digest=request,
                **self._ended(),
            )
            self._emit(Outcome("rejected", op.id, op.kind, op.ticket_number, str(exc), exc))
            return
        except Exception as exc:  # InDoubt, BadResponse, or anything the client let through
            self._crash_point("send:answered")
            now = self.clock.now()
            # The API's own error envelope ends the request at the server; anything else
            # (timeout, drop, a proxy's page) may still be running there. Probe at once.
            over = isinstance(exc, errors.ServerError)
            self.journal.transition(
                op.id,
                states.AMBIGUOUS,
                now=now,
                history_kind="attempt",
                reason=f"{type(exc).__name__}: {exc}",
                detail={"error": type(exc).__name__, "request_over": over},
                next_attempt_at=now,
                request_digest=request,
                **self._ended(),
            )
            self._emit(Outcome("in_doubt", op.id, op.kind, op.ticket_number, str(exc), exc))
            return
        self._crash_point("send:answered")
        self._came_online()
        mismatch = self._answer_mismatch(op, result)
        if mismatch is not None:
            # Not the answer to what we asked: it counts as no answer (never journaled or
            # printed as ours). In doubt, not over (a cache or proxy may have answered while
            # the request runs on); reconciliation decides, a person where it cannot.
            now = self.clock.now()
            self.journal.transition(
                op.id, states.AMBIGUOUS, now=now, history_kind="attempt",
                reason=f"answer does not match the request: {mismatch}",
                detail={"error": "AnswerMismatch", "request_over": False},
                next_attempt_at=now, request_digest=request, **self._ended(),
            )  # fmt: skip
            self._alarm(f"operation {op.id}: {mismatch}", None)
            self._emit(Outcome("in_doubt", op.id, op.kind, op.ticket_number, mismatch))
            return
        self._finish_done(
            op, result, event=states.ANSWERED_OK, how="answered", request=request, **self._ended()
        )

    def _answer_mismatch(self, op: Operation, result: Any) -> str | None:
        """What of `result` does not answer `op` (reconcile.answer_mismatch), None if all does.
        The bracket ends at the upper bound known now: the answer ended the request."""
        hi = self._upper_now()
        bracket = reconcile.send_window(
            op.sent_at or op.created_at,
            hi if math.isfinite(hi) else None,
            over=True,
            now_hi=hi,
            policy=self.policy,
        )
        return reconcile.answer_mismatch(
            kind=op.kind,
            result=result,
            asked_ticket=op.payload.get("ticket_number"),
            wagers=op.payload.get("wagers", []),
            amount=op.amount,
            bracket=bracket,
            owned=self._journaled_numbers(exclude=op.id),
            claimed_by_other=op.kind != CREATE and self._claimed_by_other(op),
        )

    def _finish_done(
        self,
        op: Operation,
        result: Any,
        *,
        event: str,
        how: str,
        request: str | None = None,
        history_kind: str = "attempt",
        sent_hi: float | None = None,
    ) -> None:
        """Journal a proven success together with the print job it needs."""
        ticket_number = op.ticket_number
        pin = None
        if op.kind == CREATE:
            ticket_number, pin = result.ticket_number, result.pin_number
            stored: Result = _ticket_result(result)
        elif op.kind == PAY:
            # A PayResult when answered; the looked-up Ticket (status paid) when reconciled.
            prize = getattr(result, "prize", None)
            stored = {"status": "paid", "prize": prize, "paid_at": getattr(result, "paid_at", None)}
        else:
            stored = {"status": "canceled"}
        job: tuple[str, PrintJobPayload] = (
            PRINT_FOR_DONE[op.kind],
            {"kind": op.kind, "ticket_number": ticket_number, "how": how},
        )
        self.journal.transition(
            op.id,
            event,
            now=self.clock.now(),
            history_kind=history_kind,
            reason=how,
            ticket_number=ticket_number,
            pin_number=pin,
            result=stored,
            print_job=job,
            request_digest=request,
            response_digest=digest(stored),
            sent_hi=sent_hi,
        )
        self._emit(Outcome("done", op.id, op.kind, ticket_number, how))

    # ----------------------------------------------------------------- reconciliation

    async def _reconcile(self, op: Operation) -> None:
        op = self.journal.transition(
            op.id, states.PROBE, now=self.clock.now(), history_kind="probe"
        )
        try:
            if op.kind == CREATE:
                decision = await self._probe_create(op)
            else:
                decision = await self._probe_lookup(op)
        except (errors.NotSent, errors.InDoubt, errors.AuthFailed, errors.Rejected) as exc:
            # One fault, one lane: a failing read probe delays this decision only; it never
            # marks the outbox offline (new sales are still sent at once).
            now = self.clock.now()
            self.journal.transition(
                op.id,
                states.UNDECIDED,
                now=now,
                history_kind="probe",
                reason=f"probe failed: {type(exc).__name__}",
                next_attempt_at=now + max(self.policy.probe_interval_s, self._offline_until - now),
            )
            return
        self._crash_point("reconcile:decided")
        self._came_online()
        if decision.alarm:
            number = decision.ticket.ticket_number if decision.ticket else None
            self._alarm(decision.alarm, number)
        self._apply(op, decision)

    def _request_over(self, op: Operation) -> bool:
        """Did the API itself end the request that put `op` in doubt (its error envelope)?
        Read from the history entry that entered the doubt: a recovery after a crash carries
        no such mark, so the quiet period applies to it."""
        for h in reversed(self.journal.history(op.id)):
            if h.to_state == states.IN_DOUBT and h.from_state != states.RECONCILING:
                return bool(h.detail.get("request_over"))
        return False

    async def _probe_create(self, op: Operation) -> reconcile.Decision:
        try:
            last = await self.client.last()
        except errors.TicketNotFound:
            last = None
        journaled = self._journaled_numbers(exclude=op.id)
        owned = self._journaled_numbers()  # by index; `op` itself owns no ticket yet
        if last is not None:
            self._check_foreign([last], owned)
        # /last is a cheap first read only: an account with no ticket at all has nothing of
        # ours; otherwise the whole send window decides (one candidate, ambiguity 5).
        over = self._request_over(op)
        # The bracket is taken after /last answered: its Date bounds the server's clock now.
        bracket = self._bracket(op, over=over)
        window: list[Ticket] = []
        unreadable: list[int] = []
        listed: list[TicketSummary] = []
        if last is not None:
            window, unreadable, listed = await self._window_tickets(
                op, journaled, owned, last, bracket
            )
        rounds = self._unreadable_rounds.get(op.id, 0) + (1 if unreadable else 0)
        if unreadable:
            self._unreadable_rounds[op.id] = rounds
        def decide(history_checked: bool) -> reconcile.Decision:
            return reconcile.decide_create(
                wagers=op.payload["wagers"],
                amount=op.amount,
                bracket=bracket,
                elapsed=self._since_send(op),
                deadline=op.deadline,
                probes=op.probes,
                over=over,
                journaled=journaled,
                now=self.clock.now(),
                policy=self.policy,
                window=window,
                shared=self.shared_account(),
                unreadable=unreadable,
                unreadable_rounds=rounds,
                history_checked=history_checked,
            )

        decision = decide(history_checked=False)
        if decision.verdict == reconcile.NEED_HISTORY:
            # A lone candidate: first look for another terminal on the account (ambiguity 5).
            await self._search_history(op, bracket[0], owned, listed)
            decision = decide(history_checked=True)
        if decision.verdict != reconcile.UNDECIDED:
            self._unreadable_rounds.pop(op.id, None)
        return decision

    async def _window_tickets(
        self,
        op: Operation,
        journaled: AbstractSet[int],
        owned: AbstractSet[int],
        last: Ticket,
        bracket: reconcile.Bracket,
    ) -> tuple[list[Ticket], list[int], list[TicketSummary]]:
        """The unowned tickets of the send window whose total is ours, looked up (the list has
        no wagers; the one `/last` showed needs no lookup), the numbers of those whose lookup
        failed, and the rows listed. A listed row whose total none of our unresolved sales has
        is another terminal's sale (no lookup needed to know)."""
        start, end = bracket
        rows = await self.client.tickets((utc_iso(start), utc_iso(end)), transaction_type="wager")
        missed = reconcile.list_misses(
            {r.ticket_number for r in rows}, [(last.ticket_number, last.created_at)], bracket
        )
        if missed:
            # Not an answer to this window (an earlier list repeated): it proves nothing. The
            # ticket it lacks counts as unread, so a list that never shows it ends with a
            # person before the deadline (ambiguity 8), never a doubt left for ever.
            return [], missed, list(rows)
        totals = {amount for _, amount, _ in self._pending_creates()}
        found: list[Ticket] = []
        unreadable: list[int] = []
        for row in rows:
            if row.ticket_number in owned:
                continue
            if row.total not in totals:
                self._foreign_sale(row.ticket_number)
                continue
            if row.ticket_number in journaled or row.total != op.amount:
                continue
            if not reconcile.in_send_window(row.created_at, bracket):
                continue
            if row.ticket_number == last.ticket_number and not reconcile.lookup_mismatch(
                last, row.ticket_number, row.total
            ):
                found.append(last)
                continue
            ticket = await self._read_ticket(row)
            if ticket is None:
                unreadable.append(row.ticket_number)
            else:
                found.append(ticket)
        self._check_foreign(found, owned)
        return found, unreadable, list(rows)

    async def _read_ticket(self, row: TicketSummary) -> Ticket | None:
        """Look up a listed row; None when the lookup cannot read it or answers something
        else than the row (another ticket, another total: `reconcile.lookup_mismatch`)."""
        try:
            ticket = await self.client.ticket(row.ticket_number, self._date_of(row.created_at))
        except (errors.TicketNotFound, errors.InDoubt):
            return None
        return None if reconcile.lookup_mismatch(ticket, row.ticket_number, row.total) else ticket

    async def _search_history(
        self,
        op: Operation,
        before: float,
        owned: AbstractSet[int],
        listed: Sequence[TicketSummary],
    ) -> None:
        """Look for another terminal before a lone candidate is taken as `op`'s (ambiguity 5 of
        reconcile.py): the rows of the send window (`listed`) with the total of another sale of
        ours are looked up (their wagers tell whether one of ours may own them), and the
        account's sales before the send are listed, each span once, from where the last search
        that found no other terminal ended. A row no create of ours may own, or more rows of a
        total than our creates in doubt could own, makes the account shared."""
        pending = self._pending_creates()
        totals = {amount for _, amount, _ in pending if amount != op.amount}
        for row in listed:
            if self.shared_account():
                return
            if row.ticket_number in owned or row.total not in totals:
                continue
            ticket = await self._read_ticket(row)
            if ticket is not None:  # unreadable: it may be that sale's (which then decides it)
                self._check_foreign([ticket], owned)
        if self.shared_account():
            return
        saved = self.journal.load_catalog(EXCLUSIVE_THROUGH_KEY)
        through = saved[0].get("through") if saved and isinstance(saved[0], dict) else None
        span = reconcile.history_span(
            before, through if isinstance(through, (int, float)) else None, self.policy
        )
        rows: Sequence[TicketSummary] = ()
        if span is not None:
            rows = await self.client.tickets(
                (utc_iso(span[0]), utc_iso(span[1])), transaction_type="wager"
            )
        for number in reconcile.foreign_rows(rows, owned, pending):
            self._foreign_sale(number)
        surplus = reconcile.surplus_rows([*rows, *listed], owned, pending)
        if surplus and not self.shared_account():
            numbers = ", ".join(str(n) for n in surplus)
            self._mark_shared(
                f"tickets {numbers} are more than our sales in doubt with their totals could "
                "own: another terminal sells on this account"
            )
        if span is None or self.shared_account():
            return
        # Rows a create of ours in doubt may own are not known to be ours yet: the next search
        # starts at the first of them.
        maybe = [r.created_at for r in rows if r.ticket_number not in owned]
        self.journal.save_catalog(
            EXCLUSIVE_THROUGH_KEY, {"through": min([span[1], *maybe])}, fetched_at=self.clock.now()
        )

    async def _probe_lookup(self, op: Operation) -> reconcile.Decision:
        date = op.payload.get("date") or self._date_of(
            op.payload.get("created_at") or op.created_at
        )
        try:
            ticket: Ticket | None = await self.client.ticket(op.payload["ticket_number"], date)
        except errors.TicketNotFound:
            ticket = None
        if ticket is not None and reconcile.lookup_mismatch(ticket, op.payload["ticket_number"]):
            ticket = None  # an answer for another ticket reads nothing of ours (ambiguity 8)
        claimed = self._claimed_by_other(op)
        rounds = self._unreadable_rounds.get(op.id, 0) + (1 if ticket is None else 0)
        decision = reconcile.decide_lookup(
            kind=op.kind,
            ticket=ticket,
            deadline=op.deadline,
            now=self.clock.now(),
            claimed_by_other=claimed,
            elapsed=self._since_send(op),
            policy=self.policy,
            over=self._request_over(op),
            unreadable_rounds=rounds,
        )
        if decision.verdict == reconcile.UNDECIDED and ticket is None:
            self._unreadable_rounds[op.id] = rounds
        elif decision.verdict != reconcile.UNDECIDED:
            self._unreadable_rounds.pop(op.id, None)
        return decision

    def _apply(self, op: Operation, decision: reconcile.Decision) -> None:
        now = self.clock.now()
        event = states.event_for_verdict(decision.verdict)  # the journal's table decides
        if event == states.PROVED_APPLIED:
            self._finish_done(
                op,
                decision.ticket,
                event=event,
                how="reconciled",
                history_kind="decision",
            )
            return
        # Any other verdict is journaled as a decision; what differs is when to look again,
        # the slip, and what the clerk is told.
        extra: dict[str, Any] = {}
        if event == states.PROVED_NOT_APPLIED:
            extra["next_attempt_at"] = now
        elif event == states.PROVED_NOT_APPLIED_EXPIRED:
            extra["print_job"] = (PRINT_NOT_DONE, {"kind": op.kind, "reason": "expired"})
        elif event != states.MISMATCH:
            extra["next_attempt_at"] = now + self.policy.probe_interval_s
        self.journal.transition(
            op.id, event, now=now, history_kind="decision", reason=decision.reason, **extra
        )
        if event == states.PROVED_NOT_APPLIED_EXPIRED:
            self._emit(
                Outcome("expired", op.id, op.kind, message="did not happen: " + decision.reason)
            )
        elif event == states.MISMATCH:
            self._emit(Outcome("conflict", op.id, op.kind, message=decision.reason))

    # ----------------------------------------------------------------- operator functions

    def counts(self) -> dict[str, int]:
        return self.journal.counts()

    def oldest_in_doubt_age(self) -> float | None:
        ops = self.journal.operations((*states.DOUBTFUL, states.CONFLICT))
        if not ops:
            return None
        return self.clock.now() - min(op.sent_at or op.created_at for op in ops)

    def next_deadline(self) -> float | None:
        ops = self.journal.operations((states.QUEUED,))
        return min((op.deadline for op in ops), default=None)

    def _need_reason(self, reason: str) -> str:
        reason = (reason or "").strip()
        if not reason:
            raise OutboxRefused("an operator action needs a reason")
        return reason

    async def retry(self, op_id: int, reason: str) -> Operation:
        """Operator: send again an in-doubt or conflicting operation (not applied, by hand)."""
        reason = self._need_reason(reason)
        async with self._lock:
            op = self.journal.transition(
                op_id,
                states.OPERATOR_RETRY,
                now=self.clock.now(),
                history_kind="operator",
                reason=f"operator retry: {reason}",
                next_attempt_at=0.0,
            )
            self._set_signal()
            self._wake.set()
            return op

    def evidence(self, op_id: int) -> dict[str, Any]:
        """What the probes have seen of an operation, and whether they can still decide it.

        Asked before a person settles an operation by hand (`kioskctl resolve`): inside the
        quiet period, or while probes reach the API, the daemon itself will decide and a hand
        decision could contradict the server (a sale committed late would be journaled as
        rejected). A conflict, or probes that cannot reach the API, leave it to a person."""
        op = self.journal.get(op_id)
        sent_at = op.sent_at or op.created_at
        quiet_left = max(0.0, self.policy.quiet_period_s - self._since_send(op))
        seen = [
            {"at": h.at, "event": h.event, "state": h.to_state, "saw": h.detail.get("reason")}
            for h in self.journal.history(op_id)
            if h.kind in ("probe", "decision") and h.detail.get("reason")
        ]
        unreachable = bool(seen) and str(seen[-1]["saw"]).startswith("probe failed")
        if op.state == states.SENDING:
            can, why = True, "it is being sent right now"
        elif op.state in states.DOUBTFUL and quiet_left > 0:
            can, why = True, f"inside the quiet period ({quiet_left:.0f} s left)"
        elif op.state in states.DOUBTFUL and not unreachable:
            can, why = True, "the probes reach the API and will decide"
        elif op.state in states.DOUBTFUL:
            can, why = False, "the probes cannot reach the API"
        elif op.state == states.CONFLICT:
            can, why = False, "the probes found a mismatch that needs a person"
        else:
            can, why = False, f"the operation is {op.state}"
        return {
            "op_id": op.id,
            "kind": op.kind,
            "state": op.state,
            "sent_at": sent_at,
            "quiet_period_left_s": round(quiet_left, 1),
            "probes": op.probes,
            "probes_needed": self.policy.not_applied_probes,
            "probes_can_decide": can,
            "why": why,
            "seen": seen[-5:],
        }

    async def resolve(
        self,
        op_id: int,
        applied: bool,
        reason: str,
        *,
        ticket_number: int | None = None,
        pin_number: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Operation:
        """Operator: close an in-doubt or conflicting operation as applied or not applied."""
        reason = self._need_reason(reason)
        async with self._lock:
            now = self.clock.now()
            op = self.journal.get(op_id)
            if applied:
                job: tuple[str, PrintJobPayload] = (
                    PRINT_FOR_DONE[op.kind],
                    {
                        "kind": op.kind,
                        "ticket_number": ticket_number or op.ticket_number,
                        "how": "operator",
                    },
                )
                op = self.journal.transition(
                    op_id,
                    states.OPERATOR_APPLIED,
                    now=now,
                    history_kind="operator",
                    reason=f"operator: applied: {reason}",
                    detail=detail,
                    ticket_number=ticket_number,
                    pin_number=pin_number,
                    print_job=job,
                )
            else:
                op = self.journal.transition(
                    op_id,
                    states.OPERATOR_NOT_APPLIED,
                    now=now,
                    history_kind="operator",
                    reason=f"operator: not applied: {reason}",
                    detail=detail,
                )
            self._set_signal()
            return op


__all__ = [
    "JournalError", "JournalUnwritable", "Outbox", "OutboxRefused", "Outcome", "Policy",
    "ServerTimeUnknown",
]  # fmt: skip
