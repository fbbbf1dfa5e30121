"""The counter session: key presses and scans in; commands, feedback and slips out.

Rules (everything that decides what a key or a scan means lives in this file):
- Sans-I/O. `CounterSession.handle(event)` takes one event and returns a list of actions. No
  clock is read: every event carries `now` (results may omit it; the session then uses the last
  `now` it saw). No printer, socket, file or log call is made here.
- Events: `Key(name, now)`, `Scan(text, now)`, `Tick(now)`, `CatalogUpdated(catalog)` and the
  results of commands it issued: `Queued(id)`, `Done(id, data)`, `Failed(id, reason, detail)`.
- Actions: one of the commands below (each with a `command_id` unique in this session), a
  `Feedback(name)` (`beep`, `double_beep`, `reject`, `working`, `idle`) or `PrintSlip(receipt)`.
- The keymap turns key names into actions; an unbound key is ignored. Each (state, input token)
  pair is looked up in `TRANSITIONS` (at the end of this file), whose `Step` names the handler
  function and the state(s) it leads to; a pair that is not there is a clerk's mistake, answered
  with `Feedback("reject")` and no change of state. Mistakes by the *program* (a result for a
  command this session never issued, a result carrying the wrong kind of data, a handler ending
  in a state its `Step` does not list) raise `SessionError` naming the event and the state, h11
  style.
- Any partial entry (typed ticket, PIN, draft, function, supervisor code) is dropped after
  `idle_reset_s` without input (a `double_beep`), and on Esc.
- Double reads are one read: the same scan text again within `double_read_s` of the last one
  is ignored; a play slip already in the draft is not added again; a ticket whose payment is
  still in flight is not paid again. Each answers `Feedback("beep")` and `Ignored(reason)` (the
  daemon logs the reason), nothing else.
- Cold start: with `catalog_wait_s` > 0 and no catalog yet, keys and scans are held (in order,
  `Feedback("working")`) while the first catalog load is in flight, for at most that long; they
  are handled as soon as it arrives. If the load fails (`CatalogFailed`) or the bound passes,
  they are handled then, and a sale is refused with the reason on its slip.
- Keypad digits are PIN-like: they never appear in a repr or an exception text (events, commands
  and the session mask them).

Theory of operation (default keymap, see `kioskd.counter.keymap`):

    IDLE --digit--> PAY_TICKET --Enter--> PAY_PIN --Enter--> Pay            (typed ticket)
    IDLE --scan ticket+PIN--> Pay;  scan ticket only --> PAY_PIN            (scanned ticket)
    IDLE --"-"--> CANCEL_TICKET --Enter/scan--> CANCEL_CHECK --Lookup ok--> Cancel
    IDLE --"/"--> REPEAT_TICKET --Enter/scan--> Repeat --copy proposal--> Sell
    IDLE --"+" or play-slip scan--> SELL --Enter per wager; empty Enter or "+"--> Sell
    IDLE --"*"--> FUNCTION --Enter--> [SUPERVISOR --Enter-->] ReprintLast/Results/...

Commands do not block the keypad: the session returns to IDLE as soon as a command is issued
and matches the result to the command later by id (an offline payment may be confirmed an hour
later). Only a cancel waits, in CANCEL_CHECK, for its ticket lookup, because the lookup decides
whether the cancel is sent at all (the local clock may already say the window passed).
"""

from __future__ import annotations

import datetime as dt
import enum
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from kioskd.banklot.days import local_day_bounds
from kioskd.banklot.models import (
    CANCELED,
    PAID,
    WINNER,
    CancelResult,
    CopyProposal,
    DrawResult,
    PayResult,
    Ticket,
    WagerRequest,
)
from kioskd.counter import slips
from kioskd.counter.catalog import (
    CATALOG_FAILED,
    CATALOG_NOT_LOADED,
    Catalog,
    Rejection,
    check_count,
    check_wager,
    validate,
)
from kioskd.counter.grammar import DraftWager, GrammarError, parse_wager
from kioskd.counter.i18n import (
    DEFAULT_CURRENCY,
    DEFAULT_LANG,
    catalog_failure,
    check_lang,
    detail_text,
    rejection_detail,
)
from kioskd.counter.keymap import ACTIONS, DIGITS, Keymap
from kioskd.counter.scan import (
    DEFAULT_PATTERN,
    Scanned,
    ScanParser,
    SlipScan,
    TicketScan,
)
from kioskd.receipt import Receipt

# ============================================================================ events


@dataclass(frozen=True)
class Key:
    """A key press. `name` is what the input layer reports (evdev code, keysym or character)."""

    name: str
    now: float

    def __repr__(self) -> str:  # the name of a digit key is PIN-like
        return f"Key(<masked>, now={self.now})"


@dataclass(frozen=True)
class Scan:
    """One complete scan (the input layer already cut it on the scanner's suffix or gap)."""

    text: str
    now: float

    def __repr__(self) -> str:  # a ticket scan carries the PIN
        return f"Scan(<{len(self.text)} chars>, now={self.now})"


@dataclass(frozen=True)
class Tick:
    """Time passes (idle reset, timeouts)."""

    now: float


@dataclass(frozen=True)
class CatalogUpdated:
    """A new catalog (None: none is known)."""

    catalog: Catalog | None
    now: float | None = None


@dataclass(frozen=True)
class CatalogFailed:
    """A catalog load failed while there is none: `why` is offline, login or error."""

    why: str
    now: float | None = None


@dataclass(frozen=True)
class Queued:
    """The operation is durably queued but not confirmed (offline or in doubt)."""

    command_id: int
    now: float | None = None


# What `Done.data` holds: one of these per command (`RESULT_TYPES` checks it on arrival).
ResultData = (
    Ticket
    | PayResult
    | CancelResult
    | CopyProposal
    | Sequence[DrawResult]
    | slips.ShiftReport
    | slips.StatusInfo
    | None
)


@dataclass(frozen=True)
class Done:
    """The command completed. `data` depends on the command (see `RESULT_TYPES`)."""

    command_id: int
    data: ResultData = None
    now: float | None = None

    def __repr__(self) -> str:
        return f"Done({self.command_id}, {type(self.data).__name__}, now={self.now})"


@dataclass(frozen=True)
class Failed:
    """The command failed for good. `reason` is a code (see `kioskd.counter.i18n.REASONS`);
    ``expired`` means it expired unsent (nothing happened on the server)."""

    command_id: int
    reason: str
    detail: str = ""
    now: float | None = None


Event = Key | Scan | Tick | CatalogUpdated | CatalogFailed | Queued | Done | Failed

# ============================================================================ actions


@dataclass(frozen=True)
class Command:
    """A command the session asks the daemon to carry out; its result names `command_id`."""

    command_id: int


@dataclass(frozen=True)
class Lookup(Command):
    """Read one ticket (`/user/ticket`); date None: search the last ticket_expiration_days."""

    ticket: int
    date: dt.date | None = None


@dataclass(frozen=True)
class Sell(Command):
    """Create a ticket. `closes_at`: the earliest closing time of its events (a deadline)."""

    wagers: tuple[WagerRequest, ...]
    closes_at: float | None = None


@dataclass(frozen=True)
class Pay(Command):
    """Pay a winning ticket."""

    ticket: int
    pin: int = field(repr=False)
    date: dt.date | None = None

    def __repr__(self) -> str:
        return f"Pay({self.command_id}, ticket={self.ticket}, pin=<masked>, date={self.date})"


@dataclass(frozen=True)
class Cancel(Command):
    """Cancel a ticket. `created_at` (if known) bounds the outbox deadline."""

    ticket: int
    date: dt.date | None = None
    created_at: float | None = None


@dataclass(frozen=True)
class Repeat(Command):
    """Ask `/user/ticket/copy` for a proposal; the session sells it with a new `Sell`."""

    ticket: int
    date: dt.date | None = None


@dataclass(frozen=True)
class ReprintLast(Command):
    """Print the last ticket again."""


@dataclass(frozen=True)
class Results(Command):
    """Print the latest draw results."""


@dataclass(frozen=True)
class ShiftReport(Command):
    """Print the shift's report."""


@dataclass(frozen=True)
class StatusSlip(Command):
    """Print the kiosk's status."""


@dataclass(frozen=True)
class TestPrint(Command):
    """Print the test slip."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class Feedback:
    """A light or sound for the clerk."""

    name: str  # beep, double_beep, reject, working, idle


@dataclass(frozen=True)
class PrintSlip:
    """A slip to print."""

    receipt: Receipt


@dataclass(frozen=True)
class Ignored:
    """Input taken as a repeat of one already handled (a double read): log `reason`."""

    reason: str


Action = Command | Feedback | PrintSlip | Ignored

# What `Done.data` must be for each command (None allowed where listed).
RESULT_TYPES: dict[type, tuple[type, ...]] = {
    Lookup: (Ticket,),
    Sell: (Ticket,),
    Pay: (PayResult,),
    Cancel: (CancelResult, type(None)),
    Repeat: (CopyProposal, Ticket),
    ReprintLast: (Ticket, type(None)),
    Results: (list, tuple),
    ShiftReport: (slips.ShiftReport,),
    StatusSlip: (slips.StatusInfo,),
    TestPrint: (slips.StatusInfo, type(None)),
}

# Functions behind "*": number typed -> name -> command.
FUNCTIONS: dict[str, str] = {
    "": "reprint",
    "1": "results",
    "2": "report",
    "3": "status",
    "9": "test",
}
FUNCTION_COMMANDS: dict[str, type[Command]] = {
    "reprint": ReprintLast,
    "results": Results,
    "report": ShiftReport,
    "status": StatusSlip,
    "test": TestPrint,
}

# Lookup failures after which a cancel is still queued (the outbox and server decide).
LOOKUP_UNKNOWN = frozenset({"offline", "not_sent", "in_doubt"})

# ============================================================================ settings


@dataclass(frozen=True)
class SessionSettings:
    """Counter behaviour from config (`input.*`, `terminal.*`, `counter.*`)."""

    idle_reset_s: float = 20.0
    lang: str = DEFAULT_LANG
    currency: str = DEFAULT_CURRENCY
    terminal_id: str = ""
    time_zone: str = slips.DEFAULT_TZ  # until a catalog gives the entity's zone
    supervisor_code: str | None = field(default=None, repr=False)
    supervised_functions: frozenset[str] = frozenset()  # names or numbers: "report" or "2"
    not_winner_slip: bool = True  # False: a red flash only
    line_reject_slip: bool = True  # print why a typed wager was refused
    cancel_local_check: bool = True  # refuse a cancel the local clock says is too late
    scan_pattern: str = DEFAULT_PATTERN
    # True in the daemon: slips of money operations (ticket, payout, cancellation, "did not
    # happen") are printed from the journal's print jobs, written in the same transaction as
    # the outcome, so a crash cannot lose or double them; the session only gives feedback.
    journaled_prints: bool = False
    # A scanner reads a slip held under it twice: the same text again this soon is one read.
    double_read_s: float = 1.0
    # Hold input this long for the first catalog load (0: refuse at once without a catalog).
    catalog_wait_s: float = 0.0

    def __post_init__(self) -> None:
        check_lang(self.lang)
        if self.idle_reset_s <= 0:
            raise ValueError("idle_reset_s must be positive")
        if not self.double_read_s >= 0:
            raise ValueError("double_read_s must be >= 0")
        names = set()
        for item in self.supervised_functions:
            name = FUNCTIONS.get(item, item)
            if name not in FUNCTION_COMMANDS:
                raise ValueError(f"supervised_functions: unknown function {item!r}")
            names.add(name)
        object.__setattr__(self, "supervised_functions", frozenset(names))
        if self.supervised_functions and not self.supervisor_code:
            raise ValueError("supervised_functions needs a supervisor_code")
        if self.supervisor_code is not None and not (
            self.supervisor_code.isascii() and self.supervisor_code.isdigit()
        ):
            raise ValueError("supervisor_code must be digits (it is typed on the keypad)")


class SessionError(RuntimeError):
    """The program (not the clerk) sent an event the session cannot take in its state."""


# ============================================================================ states


class State(enum.Enum):
    IDLE = "idle"
    PAY_TICKET = "pay_ticket"
    PAY_PIN = "pay_pin"
    CANCEL_TICKET = "cancel_ticket"
    CANCEL_CHECK = "cancel_check"
    REPEAT_TICKET = "repeat_ticket"
    SELL = "sell"
    FUNCTION = "function"
    SUPERVISOR = "supervisor"


# Input tokens: keymap actions with digits folded into "digit", plus what a scan turned out to be.
TOKENS = ("digit", *(a for a in ACTIONS if a not in DIGITS), "scan_ticket", "scan_slip", "scan_bad")

# Longest entry per state (digits beyond are refused with a reject).
MAX_DIGITS = {
    State.PAY_TICKET: 8,
    State.PAY_PIN: 8,
    State.CANCEL_TICKET: 8,
    State.REPEAT_TICKET: 8,
    State.FUNCTION: 2,
    State.SUPERVISOR: 12,
}
MAX_LINE = 40
MAX_HELD = 256  # keys and scans held for the first catalog at most

# ============================================================================ the session


@dataclass
class _Pending:
    """A command issued and not yet finished."""

    command: Command
    awaiting: bool = True  # no first answer yet (drives working/idle feedback)
    ticket: Ticket | None = None  # cancel: the looked-up ticket (amount for the slip)
    created_at: float | None = None
    dropped: bool = False  # lookup whose cancel the clerk abandoned with Esc


class CounterSession:
    """One counter (one keypad + one scanner). See the module docstring for the rules."""

    def __init__(
        self,
        keymap: Keymap | None = None,
        settings: SessionSettings | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.keymap = keymap or Keymap()
        self.settings = settings or SessionSettings()
        self.catalog = catalog
        self._scan_parser = ScanParser(self.settings.scan_pattern)
        self.state = State.IDLE
        self._now = 0.0
        self._last_input = 0.0
        self._next_id = 1
        self._pending: dict[int, _Pending] = {}
        self._last_scan: tuple[str, float] | None = None
        self._held: list[Key | Scan] = []  # input waiting for the first catalog
        self._held_since = 0.0
        self._catalog_failed: str | None = None  # why the last load failed while there is none
        self._clear()

    # ------------------------------------------------------------------ public

    def handle(self, event: Event) -> list[Action]:
        """Feed one event; return what to do, in order."""
        now = getattr(event, "now", None)
        if now is not None:
            self._now = float(now)  # results may omit it: the last one seen stands in
        if isinstance(event, Key | Scan) and self._waiting_for_catalog():
            return self._hold(event)
        if isinstance(event, Key):
            return self._on_key(event)
        if isinstance(event, Scan):
            return self._on_scan(event)
        if isinstance(event, Tick):
            return self._on_tick()
        if isinstance(event, CatalogUpdated):
            self.catalog = event.catalog
            if event.catalog is not None:
                self._catalog_failed = None
            return self._release_held()
        if isinstance(event, CatalogFailed):
            if self.catalog is not None:
                return []
            self._catalog_failed = event.why
            return self._release_held()
        if isinstance(event, Queued | Done | Failed):
            return self._on_result(event)
        raise SessionError(f"can't handle event {type(event).__name__} in state {self.state.name}")

    @property
    def pending(self) -> Mapping[int, Command]:
        """Commands issued and not finished (by id)."""
        return {cid: p.command for cid, p in self._pending.items()}

    @property
    def draft(self) -> tuple[DraftWager, ...]:
        return tuple(self._draft)

    def slip_context(self) -> slips.SlipContext:
        s = self.settings
        return slips.SlipContext.from_catalog(
            self.catalog,
            lang=s.lang,
            currency=s.currency,
            terminal_id=s.terminal_id,
            time_zone=s.time_zone,
        )

    def __repr__(self) -> str:
        return (
            f"CounterSession(state={self.state.name}, draft={len(self._draft)} wagers, "
            f"pending={len(self._pending)})"
        )

    # ------------------------------------------------------------------ input

    def _on_key(self, event: Key) -> list[Action]:
        action = self.keymap.action(event.name)
        if action is None:
            return []
        self._last_input = self._now
        token = "digit" if action in DIGITS else action
        char = action if action in DIGITS else ("." if action == "dot" else "")
        return self._dispatch(token, char)

    def _on_scan(self, event: Scan) -> list[Action]:
        self._last_input = self._now
        last, self._last_scan = self._last_scan, (event.text, self._now)
        age = None if last is None or last[0] != event.text else self._now - last[1]
        if age is not None and age < self.settings.double_read_s:
            return self._ignored(f"the same code again after {age:.2f} s")
        scanned = self._scan_parser.parse(event.text)
        if isinstance(scanned, TicketScan):
            return self._dispatch("scan_ticket", scanned)
        if isinstance(scanned, SlipScan):
            return self._dispatch("scan_slip", scanned)
        return self._dispatch("scan_bad", scanned)

    def _dispatch(self, token: str, value: TokenValue) -> list[Action]:
        before = self.state
        step = TRANSITIONS[before].get(token)
        if step is None:
            return [Feedback("reject")]
        actions = step.run(self, value)
        if self.state is not before and self.state not in step.to:
            raise SessionError(
                f"can't handle {token!r} in state {before.name}: {step.run.__name__} went to "
                f"{self.state.name}, the table allows {'/'.join(s.name for s in step.to)}"
            )
        return actions

    def _waiting_for_catalog(self) -> bool:
        if self._held:
            return True  # keep the order of what was typed
        return (
            self.catalog is None
            and self._catalog_failed is None
            and self.settings.catalog_wait_s > 0
        )

    def _hold(self, event: Key | Scan) -> list[Action]:
        first = not self._held
        if first:
            self._held_since = self._now
        if len(self._held) >= MAX_HELD:
            return [Feedback("reject")]
        self._held.append(event)
        return [Feedback("working")] if first else []

    def _release_held(self) -> list[Action]:
        """Handle the input held for the catalog, in order, now that it came (or did not)."""
        if not self._held:
            return []
        held, self._held = self._held, []
        now = self._now
        actions: list[Action] = [Feedback("idle")]
        for event in held:
            actions += self.handle(event)
        self._now = max(now, self._now)
        return actions

    def _on_tick(self) -> list[Action]:
        if self._held:
            if self._now - self._held_since < self.settings.catalog_wait_s:
                return []
            self._catalog_failed = "timeout"
            return self._release_held()
        if self.state in (State.IDLE, State.CANCEL_CHECK):
            return []
        if self._now - self._last_input >= self.settings.idle_reset_s:
            self._clear()
            return [Feedback("double_beep")]
        return []

    # ------------------------------------------------------------------ helpers

    def _clear(self) -> None:
        self.state = State.IDLE
        self._buf = ""
        self._ticket: int | None = None
        self._date: dt.date | None = None
        self._line = ""
        self._draft: list[DraftWager] = []
        self._slips: set[tuple[DraftWager, ...]] = set()  # play slips added to the draft
        self._function = ""
        self._check_id: int | None = None

    def _issue(self, cls: type[Command], *args: Any, **kwargs: Any) -> Command:
        command = cls(self._next_id, *args, **kwargs)
        self._next_id += 1
        self._pending[command.command_id] = _Pending(command)
        return command

    def _ignored(self, reason: str) -> list[Action]:
        return [Feedback("beep"), Ignored(f"double read ignored: {reason}")]

    def _paying(self, ticket: int) -> bool:
        return any(
            isinstance(p.command, Pay) and p.command.ticket == ticket
            for p in self._pending.values()
        )

    def _working(self, command: Command) -> list[Action]:
        return [command, Feedback("working")]

    def _reject_slip(self, reason: str, detail: str = "", ticket: int | None = None) -> PrintSlip:
        return PrintSlip(
            slips.rejected_slip(
                self.slip_context(), reason, self._now, detail=detail, ticket_number=ticket
            )
        )

    def _rejection(self, rejection: Rejection, *, slip: bool = True) -> list[Action]:
        actions: list[Action] = [Feedback("reject")]
        if slip:
            lang = self.settings.lang
            detail = rejection_detail(rejection.reason, rejection.facts, lang) or rejection.detail
            actions.append(self._reject_slip(rejection.reason, detail))
        return actions

    # ------------------------------------------------------------------ handlers: entries

    def _h_nothing(self, _value: object) -> list[Action]:
        return []

    def _h_bad_scan(self, _value: object) -> list[Action]:
        return [Feedback("reject")]

    def _h_type_digit(self, value: TokenValue) -> list[Action]:
        char = _as(str, value)
        if len(self._buf) >= MAX_DIGITS[self.state]:
            return [Feedback("reject")]
        self._buf += char
        return []

    def _h_erase(self, _value: object) -> list[Action]:
        self._buf = self._buf[:-1]
        return []

    def _h_drop(self, _value: object) -> list[Action]:
        if self.state is State.CANCEL_CHECK and self._check_id in self._pending:
            self._pending[self._check_id].dropped = True
        self._clear()
        return [Feedback("double_beep")]

    def _take_number(self) -> int | None:
        text, self._buf = self._buf, ""
        return int(text) if text else None

    # ------------------------------------------------------------------ pay

    def _h_begin_pay(self, value: TokenValue) -> list[Action]:
        char = _as(str, value)
        self._clear()
        self.state = State.PAY_TICKET
        self._buf = char
        return []

    def _h_ticket_typed(self, _value: object) -> list[Action]:
        ticket = self._take_number()
        if ticket is None:
            return [Feedback("reject")]
        self._ticket, self._date = ticket, None
        self.state = State.PAY_PIN
        return [Feedback("beep")]

    def _h_pay_scanned(self, value: TokenValue) -> list[Action]:
        scanned = _as(TicketScan, value)
        self._clear()
        if self._paying(scanned.ticket):
            return self._ignored(f"ticket {scanned.ticket} is already being paid")
        if scanned.pin is None:
            self._ticket, self._date = scanned.ticket, scanned.date
            self.state = State.PAY_PIN
            return [Feedback("beep")]
        pay = self._issue(Pay, scanned.ticket, scanned.pin, scanned.date)
        return [Feedback("beep"), *self._working(pay)]

    def _h_pin_typed(self, _value: object) -> list[Action]:
        pin = self._take_number()
        if pin is None or self._ticket is None:
            return [Feedback("reject")]
        if self._paying(self._ticket):
            ticket = self._ticket
            self._clear()
            return self._ignored(f"ticket {ticket} is already being paid")
        pay = self._issue(Pay, self._ticket, pin, self._date)
        self._clear()
        return self._working(pay)

    # ------------------------------------------------------------------ cancel

    def _h_begin_cancel(self, _value: object) -> list[Action]:
        self._clear()
        self.state = State.CANCEL_TICKET
        return []

    def _h_cancel_typed(self, _value: object) -> list[Action]:
        ticket = self._take_number()
        if ticket is None:
            return [Feedback("reject")]
        return self._check_cancel(ticket, None)

    def _h_cancel_scanned(self, value: TokenValue) -> list[Action]:
        scanned = _as(TicketScan, value)
        actions: list[Action] = [Feedback("beep")]
        return actions + self._check_cancel(scanned.ticket, scanned.date)

    def _check_cancel(self, ticket: int, date: dt.date | None) -> list[Action]:
        catalog = self.catalog
        if self.settings.cancel_local_check and catalog is not None and date is not None:
            _start, day_end = local_day_bounds(date, catalog.time_zone)
            if self._now > day_end + catalog.seconds_to_cancel:
                self._clear()
                return [
                    Feedback("reject"),
                    self._reject_slip("cancel_window_passed", ticket=ticket),
                ]
        lookup = self._issue(Lookup, ticket, date)
        self._clear()
        self.state = State.CANCEL_CHECK
        self._check_id = lookup.command_id
        return self._working(lookup)

    def _after_lookup(self, pending: _Pending, result: Done | Failed) -> list[Action]:
        lookup = pending.command
        assert isinstance(lookup, Lookup)
        if self._check_id == lookup.command_id:
            self._clear()
        if pending.dropped:
            return []
        if isinstance(result, Failed):
            if result.reason not in LOOKUP_UNKNOWN:
                return [
                    Feedback("reject"),
                    self._reject_slip(result.reason, result.detail, lookup.ticket),
                ]
            cancel = self._issue(Cancel, lookup.ticket, lookup.date)
            return self._working(cancel)
        ticket = result.data
        assert isinstance(ticket, Ticket)  # RESULT_TYPES: a Lookup is done with a Ticket
        if ticket.status == CANCELED:
            return [
                Feedback("reject"),
                self._reject_slip("already_canceled", ticket=ticket.ticket_number),
            ]
        catalog = self.catalog
        if (
            self.settings.cancel_local_check
            and catalog is not None
            and self._now - ticket.created_at > catalog.seconds_to_cancel
        ):
            return [
                Feedback("reject"),
                self._reject_slip("cancel_window_passed", ticket=ticket.ticket_number),
            ]
        cancel = self._issue(Cancel, ticket.ticket_number, lookup.date, ticket.created_at)
        self._pending[cancel.command_id].ticket = ticket
        return self._working(cancel)

    # ------------------------------------------------------------------ repeat

    def _h_begin_repeat(self, _value: object) -> list[Action]:
        self._clear()
        self.state = State.REPEAT_TICKET
        return []

    def _h_repeat_typed(self, _value: object) -> list[Action]:
        ticket = self._take_number()
        if ticket is None:
            return [Feedback("reject")]
        self._clear()
        return self._working(self._issue(Repeat, ticket, None))

    def _h_repeat_scanned(self, value: TokenValue) -> list[Action]:
        scanned = _as(TicketScan, value)
        self._clear()
        return [Feedback("beep"), *self._working(self._issue(Repeat, scanned.ticket, scanned.date))]

    # ------------------------------------------------------------------ sell

    def _h_begin_sell(self, _value: object) -> list[Action]:
        self._clear()
        self.state = State.SELL
        return []

    def _h_begin_sell_slip(self, value: TokenValue) -> list[Action]:
        self._clear()
        self.state = State.SELL
        actions = self._h_add_slip(value)
        if self._draft:
            return actions
        self._clear()  # nothing was accepted: do not leave a sale open
        return actions

    def _h_add_slip(self, value: TokenValue) -> list[Action]:
        """All or nothing: a play slip with one bad wager adds none; one already in the draft
        is not added again."""
        scanned = _as(SlipScan, value)
        if scanned.wagers in self._slips:
            return self._ignored("this play slip is already in the sale")
        candidate = [*self._draft, *scanned.wagers]
        for index in range(len(self._draft), len(candidate)):
            refused = self._check_line(candidate[: index + 1])
            if refused is not None:
                return self._rejection(refused, slip=self.settings.line_reject_slip)
        self._draft = candidate
        self._slips.add(scanned.wagers)
        return [Feedback("beep")]

    def _check_line(self, draft: Sequence[DraftWager]) -> Rejection | None:
        """Check the newest wager of `draft` and the count so far."""
        if self.catalog is None:
            why = self._catalog_failed
            if why is not None:
                return Rejection(
                    CATALOG_FAILED,
                    f"the catalog could not be loaded ({why})",
                    facts={"why": catalog_failure(why, self.settings.lang)},
                )
            return Rejection(CATALOG_NOT_LOADED, "the catalog was never loaded")
        result = check_wager(self.catalog, draft[-1], self._now, len(draft) - 1)
        if isinstance(result, Rejection):
            return result
        return check_count(self.catalog, draft)

    def _h_line_char(self, value: TokenValue) -> list[Action]:
        char = _as(str, value)
        if len(self._line) >= MAX_LINE:
            return [Feedback("reject")]
        self._line += char
        return []

    def _h_line_erase(self, _value: object) -> list[Action]:
        if self._line:
            self._line = self._line[:-1]
        elif self._draft:
            self._line = self._draft.pop().text()  # take the last wager back for editing
        return []

    def _commit_line(self) -> list[Action] | None:
        """Parse and check the current line; None when accepted, else the refusal actions."""
        try:
            wager = parse_wager(self._line)
        except GrammarError as exc:
            self._line = ""
            refusal = Rejection("grammar", exc.detail)
            return self._rejection(refusal, slip=self.settings.line_reject_slip)
        refused = self._check_line([*self._draft, wager])
        self._line = ""
        if refused is not None:
            return self._rejection(refused, slip=self.settings.line_reject_slip)
        self._draft.append(wager)
        return None

    def _h_line_enter(self, _value: object) -> list[Action]:
        if not self._line:
            return self._sell()
        refusal = self._commit_line()
        return refusal if refusal is not None else [Feedback("beep")]

    def _h_sell_now(self, _value: object) -> list[Action]:
        if self._line:
            refusal = self._commit_line()
            if refusal is not None:
                return refusal
        return self._sell()

    def _h_sell_minus(self, _value: object) -> list[Action]:
        if self._line:
            return [Feedback("reject")]
        return self._h_drop(None)

    def _sell(self) -> list[Action]:
        draft = list(self._draft)
        if not draft:
            return self._h_drop(None)
        result = validate(self.catalog, draft, self._now)
        self._clear()
        if isinstance(result, Rejection):
            return self._rejection(result)
        sell = self._issue(Sell, tuple(result), self._closes_at(result))
        return self._working(sell)

    def _closes_at(self, wagers: Iterable[WagerRequest]) -> float | None:
        if self.catalog is None:
            return None
        by_event = {
            p.event_id: p.closes_at
            for p in self.catalog.products.values()
            if p.event_id is not None and p.closes_at is not None
        }
        times = [by_event[w.event_id] for w in wagers if w.event_id in by_event]
        return min(times) if times else None

    # ------------------------------------------------------------------ functions

    def _h_begin_function(self, _value: object) -> list[Action]:
        self._clear()
        self.state = State.FUNCTION
        return []

    def _h_function_typed(self, _value: object) -> list[Action]:
        number, self._buf = self._buf, ""
        name = FUNCTIONS.get(number)
        if name is None:
            self._clear()
            return [Feedback("reject")]
        if name in self.settings.supervised_functions:
            self._function = name
            self.state = State.SUPERVISOR
            return [Feedback("beep")]
        self._clear()
        return self._working(self._issue(FUNCTION_COMMANDS[name]))

    def _h_supervisor_typed(self, _value: object) -> list[Action]:
        typed, name = self._buf, self._function
        self._clear()
        expected = self.settings.supervisor_code or ""
        if not expected or not hmac.compare_digest(typed.encode(), expected.encode()):
            return [Feedback("reject"), self._reject_slip("supervisor")]
        return self._working(self._issue(FUNCTION_COMMANDS[name]))

    # ------------------------------------------------------------------ results

    def _on_result(self, event: Queued | Done | Failed) -> list[Action]:
        pending = self._pending.get(event.command_id)
        if pending is None:
            raise SessionError(
                f"can't handle {type(event).__name__} for unknown command {event.command_id} "
                f"in state {self.state.name}"
            )
        command = pending.command
        if isinstance(event, Done):
            allowed = RESULT_TYPES[type(command)]
            if not isinstance(event.data, allowed):
                raise SessionError(
                    f"can't handle Done carrying {type(event.data).__name__} for "
                    f"{type(command).__name__} {command.command_id} in state {self.state.name}"
                )
        was_awaiting = pending.awaiting
        pending.awaiting = False
        if isinstance(event, Queued):
            actions = self._queued(pending)
        else:
            del self._pending[event.command_id]
            if isinstance(command, Lookup):
                actions = self._after_lookup(pending, event)
            elif isinstance(event, Failed):
                actions = self._failed(pending, event)
            else:
                actions = self._done(pending, event)
        if was_awaiting and not any(p.awaiting for p in self._pending.values()):
            actions.append(Feedback("idle"))
        return actions

    def _queued(self, pending: _Pending) -> list[Action]:
        command = pending.command
        if isinstance(command, Pay):
            return [PrintSlip(slips.pending_slip(self.slip_context(), command.ticket, self._now))]
        return []

    def _failed(self, pending: _Pending, event: Failed) -> list[Action]:
        command, ctx = pending.command, self.slip_context()
        ticket = getattr(command, "ticket", None)
        if event.reason == "expired" and isinstance(command, Sell | Pay | Cancel):
            if self.settings.journaled_prints:
                return [Feedback("reject")]  # the journal prints the "did not happen" slip
            what = "sale" if isinstance(command, Sell) else type(command).__name__.lower()
            amount = sum(w.amount for w in command.wagers) if isinstance(command, Sell) else None
            slip = slips.expired_slip(ctx, what, self._now, ticket_number=ticket, amount=amount)
            return [Feedback("reject"), PrintSlip(slip)]
        if event.reason == "not_a_winner" and isinstance(command, Pay):
            if not self.settings.not_winner_slip:
                return [Feedback("reject")]
            return [
                Feedback("reject"),
                PrintSlip(slips.not_winner_slip(ctx, command.ticket, self._now)),
            ]
        if event.reason == "ticket_not_found" and isinstance(command, Cancel) and pending.ticket:
            # The lookup just found it: "no rows" means the server will not cancel it now.
            return [Feedback("reject"), self._cancel_refused(pending.ticket)]
        return [Feedback("reject"), self._reject_slip(event.reason, event.detail, ticket)]

    def _cancel_refused(self, ticket: Ticket) -> PrintSlip:
        """Why a cancel of a ticket the server just showed us was refused, as far as the
        ticket tells: a winner, past the cancel window, or else a closed draw / another
        terminal (the server does not say which)."""
        catalog, lang = self.catalog, self.settings.lang
        if ticket.status in (WINNER, PAID):
            why = "cancel_paid"
        elif catalog is not None and self._now - ticket.created_at > catalog.seconds_to_cancel:
            why = "cancel_late"
        else:
            why = "cancel_other"
        return self._reject_slip("cancel_refused", detail_text(why, lang), ticket.ticket_number)

    def _done(self, pending: _Pending, event: Done) -> list[Action]:
        command, data, ctx = pending.command, event.data, self.slip_context()
        if isinstance(command, Sell | Repeat) and isinstance(data, Ticket):
            if self.settings.journaled_prints:
                return [Feedback("beep")]
            return [Feedback("beep"), PrintSlip(slips.ticket_slip(ctx, data))]
        if isinstance(command, Repeat) and isinstance(data, CopyProposal):
            proposal = data
            if not proposal.wagers:
                return [
                    Feedback("reject"),
                    self._reject_slip("nothing_to_repeat", ticket=command.ticket),
                ]
            try:
                wagers = proposal.to_requests()
            except (TypeError, ValueError) as exc:
                return [Feedback("reject"), self._reject_slip("wager_rejected", str(exc))]
            sell = self._issue(Sell, wagers, self._closes_at(wagers))
            return self._working(sell)
        if isinstance(command, Pay) and isinstance(data, PayResult):
            result = data
            if self.settings.journaled_prints:
                return [Feedback("beep")]
            paid_at = result.paid_at if result.paid_at is not None else self._now
            slip = slips.payout_slip(ctx, result.ticket_number, result.prize, paid_at)
            return [Feedback("beep"), PrintSlip(slip)]
        if isinstance(command, Cancel):
            if self.settings.journaled_prints:
                return [Feedback("beep")]
            amount = pending.ticket.amount if pending.ticket is not None else None
            slip = slips.cancel_slip(ctx, command.ticket, self._now, amount)
            return [Feedback("beep"), PrintSlip(slip)]
        if isinstance(command, ReprintLast):
            if not isinstance(data, Ticket):  # None: the account has no ticket
                return [Feedback("reject"), self._reject_slip("no_last_ticket")]
            return [Feedback("beep"), PrintSlip(slips.ticket_slip(ctx, data, copy=True))]
        if isinstance(command, Results) and isinstance(data, Sequence):
            draws: list[DrawResult] = [r for r in data if isinstance(r, DrawResult)]
            return [PrintSlip(slips.results_slip(ctx, draws, self._now))]
        if isinstance(command, ShiftReport) and isinstance(data, slips.ShiftReport):
            return [PrintSlip(slips.report_slip(ctx, data, self._now))]
        if isinstance(command, StatusSlip) and isinstance(data, slips.StatusInfo):
            return [PrintSlip(slips.status_slip(ctx, data, self._now))]
        if isinstance(command, TestPrint) and (data is None or isinstance(data, slips.StatusInfo)):
            return [PrintSlip(slips.test_slip(ctx, self._now, data))]
        raise SessionError(  # pragma: no cover - RESULT_TYPES covers every command
            f"can't handle Done for {type(command).__name__} in state {self.state.name}"
        )


# ============================================================================ the table

# What a token carries: the key's character, or what the scan parser made of a scan.
TokenValue = str | Scanned
Handler = Callable[[CounterSession, TokenValue], list[Action]]

V = TypeVar("V", str, TicketScan, SlipScan)


def _as(kind: type[V], value: TokenValue) -> V:
    """The value a handler's tokens carry; another kind is a bug of the table (SessionError)."""
    if not isinstance(value, kind):
        raise SessionError(f"a {kind.__name__} handler got a {type(value).__name__}")
    return value


@dataclass(frozen=True)
class Step:
    """What an input token does in a state: the handler to run and the states it may lead to.

    The first of `to` is where the input normally leads; a handler that refuses the input (a
    `reject` for an empty or bad entry) stays where it is. Ending anywhere else is a bug of this
    file and raises `SessionError` naming the token, the state and the handler."""

    run: Handler
    to: tuple[State, ...]


def _step(run: Handler, *to: State) -> Step:
    return Step(run, to)


S = CounterSession  # handlers are named directly: grep finds every use of each one
_ENTRY: dict[str, Step] = {  # typing a number: digits, erase, give up, a misread scan
    "digit": _step(S._h_type_digit),
    "backspace": _step(S._h_erase),
    "escape": _step(S._h_drop, State.IDLE),
    "scan_bad": _step(S._h_bad_scan),
}

# (state) -> (token) -> Step. Anything missing: Feedback("reject"), state unchanged.
TRANSITIONS: dict[State, dict[str, Step]] = {
    State.IDLE: {
        "digit": _step(S._h_begin_pay, State.PAY_TICKET),
        "sell": _step(S._h_begin_sell, State.SELL),
        "cancel": _step(S._h_begin_cancel, State.CANCEL_TICKET),
        "repeat": _step(S._h_begin_repeat, State.REPEAT_TICKET),
        "function": _step(S._h_begin_function, State.FUNCTION),
        "scan_ticket": _step(S._h_pay_scanned, State.PAY_PIN),  # with its PIN: Pay, stay idle
        "scan_slip": _step(S._h_begin_sell_slip, State.SELL),  # nothing accepted: stay idle
        "scan_bad": _step(S._h_bad_scan),
        "enter": _step(S._h_nothing),
        "escape": _step(S._h_nothing),
        "backspace": _step(S._h_nothing),
    },
    State.PAY_TICKET: {
        **_ENTRY,
        "enter": _step(S._h_ticket_typed, State.PAY_PIN),
        "scan_ticket": _step(S._h_pay_scanned, State.PAY_PIN, State.IDLE),
    },
    State.PAY_PIN: {
        **_ENTRY,
        "enter": _step(S._h_pin_typed, State.IDLE),  # issues Pay
        "scan_ticket": _step(S._h_pay_scanned, State.IDLE, State.PAY_PIN),  # a new ticket
    },
    State.CANCEL_TICKET: {
        **_ENTRY,
        # A Lookup decides the cancel; the local clock may refuse it at once (-> IDLE).
        "enter": _step(S._h_cancel_typed, State.CANCEL_CHECK, State.IDLE),
        "scan_ticket": _step(S._h_cancel_scanned, State.CANCEL_CHECK, State.IDLE),
    },
    State.CANCEL_CHECK: {"escape": _step(S._h_drop, State.IDLE)},
    State.REPEAT_TICKET: {
        **_ENTRY,
        "enter": _step(S._h_repeat_typed, State.IDLE),  # issues Repeat
        "scan_ticket": _step(S._h_repeat_scanned, State.IDLE),
    },
    State.SELL: {
        "digit": _step(S._h_line_char),
        "dot": _step(S._h_line_char),
        "backspace": _step(S._h_line_erase),
        "enter": _step(S._h_line_enter, State.IDLE),  # a line adds a wager; empty line sells
        "sell": _step(S._h_sell_now, State.IDLE),  # issues Sell
        "cancel": _step(S._h_sell_minus, State.IDLE),  # drops the draft
        "escape": _step(S._h_drop, State.IDLE),
        "scan_slip": _step(S._h_add_slip),
        "scan_bad": _step(S._h_bad_scan),
    },
    State.FUNCTION: {
        **_ENTRY,
        "enter": _step(S._h_function_typed, State.IDLE, State.SUPERVISOR),
    },
    State.SUPERVISOR: {**_ENTRY, "enter": _step(S._h_supervisor_typed, State.IDLE)},
}
del S
