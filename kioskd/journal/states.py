"""The life of one money-moving operation, as a table (the h11 way).

Rules of this file:
- Everything that decides whether an operation may move from one state to another lives here.
  The store persists what this table allows; the outbox decides *which* event happened.
- No I/O, no clock, no SQLite: `next_state(state, event)` is a pure lookup.
- An event that the table does not list for a state is a bug, never a guess: it raises
  `IllegalTransition` naming the operation, the event and the state.

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
"""

from __future__ import annotations

QUEUED = "queued"
SENDING = "sending"
DONE = "done"
REJECTED = "rejected"
EXPIRED = "expired"
IN_DOUBT = "in_doubt"
RECONCILING = "reconciling"
CONFLICT = "conflict"

STATES: tuple[str, ...] = (
    QUEUED,
    SENDING,
    DONE,
    REJECTED,
    EXPIRED,
    IN_DOUBT,
    RECONCILING,
    CONFLICT,
)
TERMINAL: frozenset[str] = frozenset({DONE, REJECTED, EXPIRED})
# States in which an operation still needs the outbox or a person.
UNFINISHED: frozenset[str] = frozenset(STATES) - TERMINAL
# States whose operation may already have reached the server.
MAYBE_APPLIED: frozenset[str] = frozenset({SENDING, IN_DOUBT, RECONCILING, CONFLICT})

# Events.
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

# The state a new operation is born in: `queued` (waits for the outbox) or `sending` (the
# outbox is free and sends it at once: the intent commit doubles as the "sending" commit).
INITIAL_STATES: frozenset[str] = frozenset({QUEUED, SENDING})

TRANSITIONS: dict[str, dict[str, str]] = {
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

EVENTS: frozenset[str] = frozenset(e for table in TRANSITIONS.values() for e in table)
OPERATOR_EVENTS: frozenset[str] = frozenset(
    {OPERATOR_APPLIED, OPERATOR_NOT_APPLIED, OPERATOR_RETRY}
)


class IllegalTransition(Exception):
    """An event the table does not allow in the operation's current state."""

    def __init__(self, op_id: int | None, event: str, state: str) -> None:
        who = f"operation {op_id}" if op_id is not None else "operation"
        super().__init__(f"{who}: can't handle event {event!r} in state {state!r}")
        self.op_id = op_id
        self.event = event
        self.state = state


def next_state(state: str, event: str, op_id: int | None = None) -> str:
    """The state after `event`, or IllegalTransition."""
    try:
        return TRANSITIONS[state][event]
    except KeyError:
        raise IllegalTransition(op_id, event, state) from None


def allowed_events(state: str) -> frozenset[str]:
    """Events the table accepts in `state` (empty for terminal states)."""
    return frozenset(TRANSITIONS.get(state, {}))
