"""The life of one money-moving operation, as tables (the h11 way).

Rules of this file:
- Everything that decides whether an operation may move from one state to another lives here:
  the states and events (`StrEnum`s), the transition table, which event each reconciliation
  verdict is (`VERDICT_EVENTS`), which bookkeeping columns each event sets (`EVENT_COLUMNS`),
  who may raise each event (`ACTORS`) and the state sets the store's SQL uses (`TERMINAL`...).
  The store persists what these tables allow; the outbox and reconciliation decide *which*
  event happened.
- No I/O, no clock, no SQLite: `next_state(state, event)` is a pure lookup; the SQL that uses
  the state sets is built by the store from them (`sql_list`), never from literal state names.
- An event that the table does not list for a state is a bug, never a guess: it raises
  `IllegalTransition` naming the operation, the actor, the event and the state. A verdict that
  `VERDICT_EVENTS` does not list raises too.

Theory of operation. An operation is journaled before its first byte is sent. From then on the
only honest states are:

    queued ──send──> sending ──answered──> done | rejected
       │                │   ──not_sent──> queued            (nothing left the machine)
       │                └── ambiguous / recovered ──> in_doubt
       └──expire──> expired
    in_doubt ──probe──> reconciling ──proved_applied──> done
                                     ──proved_not_applied──> queued (still valid) | expired
                                     ──undecided──> in_doubt     (look again later)
                                     ──mismatch──> conflict      (needs a person)
                        reconciling ──recovered──> in_doubt      (crash in the middle)
    in_doubt | conflict ──operator_applied──> done, ──operator_not_applied──> rejected,
                        ──operator_retry──> queued   (always with a reason in the history)

`sending` found at start-up means "bytes may have left": it becomes `in_doubt`, never `queued`.
Reconciliation (`kioskd.outbox.reconcile`) ends a probe with a verdict; `VERDICT_EVENTS` turns
it into the `proved_*` / `undecided` / `mismatch` event above. Besides `state`, a transition
keeps the counters that reconciliation reads: `send` stamps `sent_at` and counts an attempt,
`probe` counts a probe, and a requeue after doubt starts the probe count afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class State(StrEnum):
    """Where an operation is (stored as its value in `operations.state`)."""

    QUEUED = "queued"
    SENDING = "sending"
    DONE = "done"
    REJECTED = "rejected"
    EXPIRED = "expired"
    IN_DOUBT = "in_doubt"
    RECONCILING = "reconciling"
    CONFLICT = "conflict"


class Event(StrEnum):
    """What happened to an operation (stored as its value in `history.event`)."""

    SEND = "send"
    ANSWERED_OK = "answered_ok"
    ANSWERED_REJECTED = "answered_rejected"
    NOT_SENT = "not_sent"
    AMBIGUOUS = "ambiguous"
    RECOVERED = "recovered"
    EXPIRE = "expire"
    PROBE = "probe"
    PROVED_APPLIED = "proved_applied"
    PROVED_NOT_APPLIED = "proved_not_applied"
    PROVED_NOT_APPLIED_EXPIRED = "proved_not_applied_expired"
    UNDECIDED = "undecided"
    MISMATCH = "mismatch"
    OPERATOR_APPLIED = "operator_applied"
    OPERATOR_NOT_APPLIED = "operator_not_applied"
    OPERATOR_RETRY = "operator_retry"


# Module-level names: the rest of the code says `states.QUEUED`, `states.SEND`.
QUEUED = State.QUEUED
SENDING = State.SENDING
DONE = State.DONE
REJECTED = State.REJECTED
EXPIRED = State.EXPIRED
IN_DOUBT = State.IN_DOUBT
RECONCILING = State.RECONCILING
CONFLICT = State.CONFLICT

SEND = Event.SEND
ANSWERED_OK = Event.ANSWERED_OK
ANSWERED_REJECTED = Event.ANSWERED_REJECTED
NOT_SENT = Event.NOT_SENT
AMBIGUOUS = Event.AMBIGUOUS
RECOVERED = Event.RECOVERED
EXPIRE = Event.EXPIRE
PROBE = Event.PROBE
PROVED_APPLIED = Event.PROVED_APPLIED
PROVED_NOT_APPLIED = Event.PROVED_NOT_APPLIED
PROVED_NOT_APPLIED_EXPIRED = Event.PROVED_NOT_APPLIED_EXPIRED
UNDECIDED = Event.UNDECIDED
MISMATCH = Event.MISMATCH
OPERATOR_APPLIED = Event.OPERATOR_APPLIED
OPERATOR_NOT_APPLIED = Event.OPERATOR_NOT_APPLIED
OPERATOR_RETRY = Event.OPERATOR_RETRY

# ============================================================================ state sets

STATES: tuple[State, ...] = tuple(State)
TERMINAL: frozenset[State] = frozenset({DONE, REJECTED, EXPIRED})
# States in which an operation still needs the outbox or a person.
UNFINISHED: frozenset[State] = frozenset(STATES) - TERMINAL
# States whose operation may already have reached the server.
MAYBE_APPLIED: frozenset[State] = frozenset({SENDING, IN_DOUBT, RECONCILING, CONFLICT})
# States whose outcome is not known yet (the server may or may not have applied it).
DOUBTFUL: frozenset[State] = frozenset({IN_DOUBT, RECONCILING})
# States the outbox still works on by itself (a conflict waits for a person instead).
AWAITING_OUTBOX: frozenset[State] = UNFINISHED - {CONFLICT}
# The state a new operation is born in: `queued` (waits for the outbox) or `sending` (the
# outbox is free and sends it at once: the intent commit doubles as the "sending" commit).
INITIAL_STATES: frozenset[State] = frozenset({QUEUED, SENDING})

# ============================================================================ transitions

TRANSITIONS: dict[State, dict[Event, State]] = {
    QUEUED: {SEND: SENDING, EXPIRE: EXPIRED},
    SENDING: {
        ANSWERED_OK: DONE,
        ANSWERED_REJECTED: REJECTED,
        NOT_SENT: QUEUED,
        AMBIGUOUS: IN_DOUBT,
        RECOVERED: IN_DOUBT,
    },
    IN_DOUBT: {
        PROBE: RECONCILING,
        OPERATOR_APPLIED: DONE,
        OPERATOR_NOT_APPLIED: REJECTED,
        OPERATOR_RETRY: QUEUED,
    },
    RECONCILING: {
        PROVED_APPLIED: DONE,
        PROVED_NOT_APPLIED: QUEUED,
        PROVED_NOT_APPLIED_EXPIRED: EXPIRED,
        UNDECIDED: IN_DOUBT,
        MISMATCH: CONFLICT,
        RECOVERED: IN_DOUBT,
    },
    CONFLICT: {
        OPERATOR_APPLIED: DONE,
        OPERATOR_NOT_APPLIED: REJECTED,
        OPERATOR_RETRY: QUEUED,
    },
    DONE: {},
    REJECTED: {},
    EXPIRED: {},
}

EVENTS: frozenset[Event] = frozenset(e for table in TRANSITIONS.values() for e in table)

# Who raises each event: named in an IllegalTransition so a reader knows whose bug it is.
ACTORS: dict[Event, str] = {
    SEND: "outbox",
    ANSWERED_OK: "outbox",
    ANSWERED_REJECTED: "outbox",
    NOT_SENT: "outbox",
    AMBIGUOUS: "outbox",
    RECOVERED: "start-up recovery",
    EXPIRE: "outbox",
    PROBE: "reconciliation",
    PROVED_APPLIED: "reconciliation",
    PROVED_NOT_APPLIED: "reconciliation",
    PROVED_NOT_APPLIED_EXPIRED: "reconciliation",
    UNDECIDED: "reconciliation",
    MISMATCH: "reconciliation",
    OPERATOR_APPLIED: "operator",
    OPERATOR_NOT_APPLIED: "operator",
    OPERATOR_RETRY: "operator",
}

# ============================================================================ reconciliation

# Verdict of `kioskd.outbox.reconcile` (its APPLIED, NOT_APPLIED, ... constants) -> the event
# the outbox applies to the operation being reconciled. `need_window` is not a verdict the
# outbox applies: it asks for the send-window list and decides again.
VERDICT_EVENTS: dict[str, Event] = {
    "applied": PROVED_APPLIED,
    "not_applied": PROVED_NOT_APPLIED,
    "not_applied_expired": PROVED_NOT_APPLIED_EXPIRED,
    "conflict": MISMATCH,
    "undecided": UNDECIDED,
}

# ============================================================================ columns


class Column(StrEnum):
    """How an event changes a bookkeeping column (besides `state` and `updated_at`)."""

    NOW = "now"  # set to the transition's time
    PLUS_ONE = "plus_one"  # count one more
    ZERO = "zero"  # start counting afresh
    CLEAR = "clear"  # forget (NULL): a fact of an earlier attempt that no longer holds


# The bookkeeping columns each event sets. Outcome columns (ticket number, PIN, result, reason,
# watermark, next attempt) are the caller's facts and are set only when given.
EVENT_COLUMNS: dict[Event, dict[str, Column]] = {
    # A send opens a bracket of its own: the end of an earlier attempt's (`sent_hi`, recorded
    # when it came back not sent) would close this one before it began (chaos seed 161).
    SEND: {"sent_at": Column.NOW, "sent_hi": Column.CLEAR, "attempts": Column.PLUS_ONE},
    PROBE: {"probes": Column.PLUS_ONE},
    # Requeued after doubt (proof or a person): the next doubt probes from zero again.
    PROVED_NOT_APPLIED: {"probes": Column.ZERO},
    OPERATOR_RETRY: {"probes": Column.ZERO},
}


class IllegalTransition(Exception):
    """An event the table does not allow in the operation's current state."""

    def __init__(self, op_id: int | None, event: str, state: str) -> None:
        who = f"operation {op_id}" if op_id is not None else "operation"
        actor = actor_of(event)
        super().__init__(
            f"{who}: {actor} can't handle event {str(event)!r} in state {str(state)!r}"
        )
        self.op_id = op_id
        self.event = event
        self.actor = actor
        self.state = state


def actor_of(event: str) -> str:
    """Who raises `event` ("journal" for a name that is no event, e.g. `add`)."""
    try:
        return ACTORS[Event(event)]
    except ValueError:
        return "journal"


def next_state(state: str, event: str, op_id: int | None = None) -> State:
    """The state after `event`, or IllegalTransition."""
    try:
        return TRANSITIONS[State(state)][Event(event)]
    except (KeyError, ValueError):
        raise IllegalTransition(op_id, event, state) from None


def allowed_events(state: str) -> frozenset[Event]:
    """Events the table accepts in `state` (empty for terminal states)."""
    return frozenset(TRANSITIONS[State(state)])


def event_for_verdict(verdict: str) -> Event:
    """The journal event a reconciliation verdict stands for (ValueError if none does)."""
    try:
        return VERDICT_EVENTS[verdict]
    except KeyError:
        raise ValueError(f"reconciliation verdict {verdict!r} has no journal event") from None


def columns_for(event: str) -> dict[str, Column]:
    """The bookkeeping columns `event` sets (empty for most events)."""
    return EVENT_COLUMNS.get(Event(event), {})


def sql_list(states_in: Iterable[str]) -> str:
    """`'done', 'expired', ...` for an SQL `IN (...)`: built from `State` values only."""
    return ", ".join(f"'{State(s).value}'" for s in sorted(states_in))
