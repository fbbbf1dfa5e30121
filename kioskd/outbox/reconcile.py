"""Pure reconciliation decisions for operations whose outcome is in doubt.

Rules:
- Functions of (operation facts, probe results, now, policy) returning a `Decision`. No I/O, no
  clock, no journal: the outbox gathers the facts, calls these, and applies the decision.
- "Applied" needs positive evidence: exactly one ticket in the whole send window (the window
  list, looked up) that no operation of ours owns, whose wagers (event, game, wager, amount) and
  total equal ours and whose `created_at` lies inside the send's bracket in server time
  (`send_window`, checked by `in_send_window` only; `sole_candidate`).
  `/user/ticket/last` alone never decides: it is a cheap first read (an empty account has
  nothing of ours; its ticket spares one lookup). "Not applied" needs the absence of such a
  ticket *and* the certainty that nothing of the request can still commit (`request_over`, or
  the quiet period and enough probes).
- Time: instants are server time (the estimate of `kioskd/servertime.py`, never the kiosk's
  wall clock); the quiet period is a duration (`elapsed`, from the monotonic clock).
- Nothing else is guessed at: several candidates, a candidate on an account other terminals
  sell on, or a listed ticket that cannot be read -> CONFLICT for a person.
- An answer is checked against what was asked before it is believed (`answer_mismatch`): a
  create answer must carry our wagers and total, a ticket number no operation of ours owns and
  a `created_at` inside the send window; a pay or cancel answer the ticket asked. A mismatch
  makes the answer count as no answer: the operation is in doubt and decided as below.
- Each invariant lives in one named function (`answer_mismatch`, `sole_candidate`,
  `request_settled`, `is_ours`), so that a proof can switch one off and see it fail.

Theory of operation. The API has no idempotency key, so a create is recognised by what it
carries. Its *fingerprint* is the multiset of (event, game, wager, amount) plus the total. The
outbox keeps one invariant (the *hold*): two creates with the same fingerprint are never in the
air at once (sending, in doubt, reconciling or in conflict); every other create is sent at once.
So, inside one send window, at most one unresolved create of ours can match a given ticket, and
the tickets of our other creates never match it. A probe of a create reads `/user/ticket/last`
(nothing there: the account has no ticket, so nothing of ours either), then lists the send
window (`POST /user/ticket/`, `between_created_at`, `transaction_type: "wager"`) and looks up
every listed ticket that no operation of ours owns and whose total is ours (the list has no
wagers; the ticket `/last` showed needs no lookup), and `decide_create` matches them. A listed
row that no operation of ours owns or may own (its total matches none of our unresolved
creates, or its wagers do not) is another terminal's sale: the outbox raises an alarm and
remembers durably that the account is shared (as `api.shared_account = true` says from the
start).

Every ambiguity, and how it is decided (named tests: `tests/outbox/test_reconcile.py`
`test_ambiguity_N_*` for the decisions, `tests/outbox/test_dispatcher.py` for 3, 7 and 9 with
the real journal and simulator, `tests/outbox/test_answers.py` and
`tests/flows/test_field_answers_process.py` for the field's cases):
1. One create in doubt, nothing else in the air: the window list shows exactly one ticket of
   ours -> applied (number and PIN recovered, printed); shows nothing -> not applied once the
   request is over (below), then resent while still valid, else a NOT SOLD slip.
2. Two creates in doubt with different wagers: each is matched only by its own fingerprint; the
   other's ticket (unowned too, until decided) never matches. Decided independently.
3. Two creates with the same wagers: the hold keeps the second queued until the first is decided
   (then the first's ticket is owned, or proven absent). Never two candidates of ours.
4. One answered, one in doubt: the answered one's ticket is journaled (owned) and excluded.
5. A foreign terminal selling on this account: a ticket with other wagers is not ours; it
   raises an alarm and the kiosk remembers (in the journal) that the account is shared. With
   the same wagers nothing the API returns tells it from ours: two or more candidates ->
   CONFLICT; one candidate -> applied only while the account is not known to be shared (no
   foreign sale ever seen, `api.shared_account` false) *and* the account's earlier sales show
   no other terminal: before a lone candidate is printed, the outbox lists the account's sales
   of the `history_lookback_s` before the send (once per span: the server instant up to which
   the account was found exclusive is kept) and any sale there that is not ours makes the
   account shared (`decide_create` asks for it with NEED_HISTORY), and so do more rows of a
   total than our creates in doubt of that total could own (each owns one ticket at most:
   `surplus_rows`). On a shared account a lone
   candidate is a CONFLICT for a person, never printed with its PIN. The remaining risk: the
   *first* sale another terminal ever makes on this account (none in the lookback before it)
   carries our wagers, inside our window, while ours was never applied: nothing the API
   returns tells it from ours, so it is taken as ours; the kiosk raises an alarm naming it as
   soon as it sees any other sale of that terminal (set `api.shared_account = true` where
   terminals are known to share, and a person decides every such recovery).
6. A late commit: after a timeout, a dropped connection, a gateway's 502/503/504 (whatever its
   body) or a page that is not the API's envelope, the request may still be running at the
   server, so "not applied" waits for `quiet_period_s` since the send and `not_applied_probes`
   probes. After the API's own error envelope (`client.ends_request`) the request is over:
   the first probe that finds nothing decides. "Applied" never waits.
7. A crash in the middle of any of it: `sending` and `reconciling` found at start-up become
   `in_doubt` with no "request over" mark (so the quiet period applies); probes only read, so a
   probe interrupted by a crash is simply made again; a decision is committed with its effect
   (ticket, print job) in one transaction.
8. A probe that fails (offline, in doubt, refused): undecided, probed again later; it never
   stops other operations from being sent. A listed ticket of our total that its lookup cannot
   read may be ours: undecided for `policy.unreadable_probes` probes, then (or as soon as the
   deadline is one probe interval away) a CONFLICT for a person, with a slip.
9. Pay and cancel: one in the air per ticket and kind (the outbox holds the others); decided by
   reading the ticket: paid / canceled -> applied, unless another of our operations of the same
   kind on that ticket is already done (then its status is that one's effect); otherwise not
   applied once the request is over (as in 6), resent while still valid. A ticket the lookup
   cannot find is unreadable, not absent (it was there when asked about): as in 8, a person
   after `unreadable_probes` probes. Different tickets never wait for each other.
10. An answer that does not match what was asked (other wagers or total, a ticket number one of
   our operations owns, a `created_at` outside the window, a pay or cancel of another ticket or
   a success for a ticket another operation of ours already paid or cancelled, a number beyond
   64 bits): never journaled or printed; in doubt (not over: a cache or proxy may have
   answered for a request that still runs), with an alarm naming what did not match. A
   lookup's answer for another ticket, or with another total than the list showed
   (`lookup_mismatch`), reads nothing: the ticket counts as unreadable (8); a window's list
   that lacks the ticket `/user/ticket/last` showed inside the window (`list_misses`) is an
   earlier answer repeated: it proves no absence, and that ticket counts as unreadable (8).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kioskd.banklot.models import CANCELED, PAID, CancelResult, PayResult, Ticket, WagerJson
from kioskd.outbox.policy import Policy
from kioskd.servertime import DATE_RESOLUTION_S

APPLIED = "applied"
NOT_APPLIED = "not_applied"
NOT_APPLIED_EXPIRED = "not_applied_expired"
UNDECIDED = "undecided"
NEED_WINDOW = "need_window"
NEED_HISTORY = "need_history"
CONFLICT = "conflict"


@dataclass(frozen=True)
class Decision:
    """A reconciliation's verdict, why, and what it found."""

    verdict: str
    reason: str
    ticket: Ticket | None = None
    alarm: str | None = None  # text of an alarm to raise (never holds a PIN)


class WagerFields(Protocol):
    """What a wager is compared by, on a model (`Wager` of a ticket, `WagerRequest`)."""

    @property
    def event_id(self) -> int: ...
    @property
    def game_id(self) -> int: ...
    @property
    def wager(self) -> str: ...
    @property
    def amount(self) -> int: ...


class TicketSummaryLike(Protocol):
    """What a listed row (`TicketSummary`) is compared by: it has no wagers."""

    @property
    def ticket_number(self) -> int: ...
    @property
    def total(self) -> int: ...
    @property
    def created_at(self) -> float: ...


# A wager as a model, or as the journal's payload keeps it.
WagerLike = WagerFields | WagerJson
WagerKey = tuple[int, int, str, int]
Fingerprint = tuple[tuple[tuple[WagerKey, int], ...], int]


def wager_keys(wagers: Iterable[WagerLike]) -> Counter[WagerKey]:
    """The multiset of (event_id, game_id, wager, amount) of wagers (models or dicts)."""
    keys: Counter[WagerKey] = Counter()
    for w in wagers:
        if isinstance(w, Mapping):
            keys[(int(w["event_id"]), int(w["game_id"]), str(w["wager"]), int(w["amount"]))] += 1
        else:
            keys[(int(w.event_id), int(w.game_id), str(w.wager), int(w.amount))] += 1
    return keys


def fingerprint(wagers: Iterable[WagerLike], amount: int) -> Fingerprint:
    """What tells a create apart: the multiset of its wagers and its total (hashable)."""
    return tuple(sorted(wager_keys(wagers).items())), int(amount)


Bracket = tuple[float, float]


def send_window(
    sent_at: float, sent_hi: float | None, *, over: bool, now_hi: float, policy: Policy
) -> Bracket:
    """The send's bracket in server time: what "created inside our send" means.

    `sent_at` is the lower bound of the server's clock known before the first byte left,
    `sent_hi` the upper bound known once the request ended (None: not known then, e.g. a crash
    in the middle or no answer since), `now_hi` the upper bound known now. After the API's own
    answer (`over`) nothing of the request commits later; otherwise it may commit until the
    quiet period has passed, so the end reaches `quiet_period_s` further (never past now).
    Both ends are widened by the `Date` header's 1 s resolution. Without any upper bound (the
    server time not known: only a virtual clock or a journal from before version 4) the
    protocol's fixed `send_window_s` frames it."""
    start = sent_at - DATE_RESOLUTION_S
    if not math.isfinite(now_hi):
        now_hi = sent_at + policy.send_window_s
    end = now_hi if sent_hi is None else sent_hi
    if not over:
        end = min(now_hi, end + policy.quiet_period_s)
    return start, max(start, end) + DATE_RESOLUTION_S


def in_send_window(created_at: float, bracket: Bracket) -> bool:
    """Is this `created_at` inside the send's bracket? The one check of it (the create-answer
    check, the window list and the foreign-ticket alarm all ask here)."""
    return bracket[0] <= created_at <= bracket[1]


def is_ours(ticket: Ticket, wagers: Sequence[WagerLike], amount: int, bracket: Bracket) -> bool:
    """Does this ticket carry exactly our wagers and total, created inside our send's bracket?"""
    return (
        in_send_window(ticket.created_at, bracket)
        and ticket.amount == amount
        and wager_keys(ticket.wagers) == wager_keys(wagers)
    )


def answer_mismatch(
    *,
    kind: str,
    result: Ticket | PayResult | CancelResult,
    asked_ticket: int | None,
    wagers: Sequence[WagerLike],
    amount: int,
    bracket: Bracket,
    owned: Container[int],
    claimed_by_other: bool = False,
) -> str | None:
    """What of an answer does not match what was asked (None: it matches). `owned`: ticket
    numbers other operations of ours hold. The text names fields and ticket numbers, never a
    PIN. A create answer needs our wagers and total, a number nobody of ours owns, a created_at
    in the send's bracket (`send_window` with `over=True`: the answer ended the request); a pay
    or cancel answer the ticket asked, which no other operation of ours has already paid or
    cancelled (`claimed_by_other`: a ticket is paid or cancelled once, so a success is a cache
    repeating that operation's answer)."""
    if kind != "create":
        if result.ticket_number != asked_ticket:
            return f"answer is for ticket {result.ticket_number}, not the ticket asked"
        if claimed_by_other:
            done = "paid" if kind == "pay" else "cancelled"
            return (
                f"answer repeats a success for ticket {result.ticket_number}, which another "
                f"operation of ours already {done}"
            )
        return None
    if not isinstance(result, Ticket):
        return f"a sale was answered with a {type(result).__name__}"
    wrong = []
    if wager_keys(result.wagers) != wager_keys(wagers):
        wrong.append("wagers")
    if result.amount != amount:
        wrong.append(f"total {result.amount} (ours {amount})")
    if result.ticket_number in owned:
        wrong.append(f"ticket {result.ticket_number} already belongs to another sale of ours")
    if not in_send_window(result.created_at, bracket):
        wrong.append("created_at outside the send window")
    if not wrong:
        return None
    return f"sale answer for ticket {result.ticket_number} does not match: " + ", ".join(wrong)


def lookup_mismatch(ticket: Ticket, number: int, total: int | None = None) -> bool:
    """Does a lookup's answer not match what was asked (the ticket `number`) or what the list
    showed of it (its `total`)? Such an answer (a cache's, a proxy's) is no reading of the
    ticket: it is treated as unreadable, never as the ticket."""
    return ticket.ticket_number != number or (total is not None and ticket.amount != total)


def list_misses(
    listed: Container[int], known: Iterable[tuple[int, float]], bracket: Bracket
) -> list[int]:
    """Tickets known to exist inside the bracket (number, created_at: what `/user/ticket/last`
    showed) that the window's list does not show: such a list is not an answer to this window
    (a cache repeating an earlier one) and proves no absence. A second of margin at each end:
    the list's filter and `created_at` are whole seconds."""
    lo, hi = bracket
    return [
        n for n, at in known if lo + DATE_RESOLUTION_S < at < hi - DATE_RESOLUTION_S
        and n not in listed
    ]  # fmt: skip


def sole_candidate(candidates: Sequence[Ticket]) -> Ticket | None:
    """The one-candidate rule: a create is applied only if exactly one unowned ticket with its
    fingerprint lies in the whole send window (None when there are none or several)."""
    return candidates[0] if len(candidates) == 1 else None


def request_settled(*, over: bool, elapsed: float, probes: int, policy: Policy) -> bool:
    """Can nothing of the request commit any more (ambiguity 6)? `elapsed`: seconds since the
    send, a duration of the monotonic clock (never a difference of wall-clock readings)."""
    if over:
        return True
    return elapsed >= policy.quiet_period_s and probes >= policy.not_applied_probes


def decide_create(
    *,
    wagers: Sequence[WagerLike],
    amount: int,
    bracket: Bracket,
    elapsed: float,
    deadline: float,
    probes: int,
    over: bool,
    journaled: Container[int],
    now: float,
    policy: Policy,
    window: Sequence[Ticket] | None = None,
    shared: bool = False,
    unreadable: Sequence[int] = (),
    unreadable_rounds: int = 0,
    history_checked: bool = True,
) -> Decision:
    """Decide an in-doubt create. `bracket`: the send's (`send_window`); `elapsed`: seconds
    since the send (monotonic); `probes` counts this probe; `over`: the API answered the
    send with its own error envelope; `journaled` holds the ticket numbers owned by other
    operations; `window` the looked-up unowned tickets of the send window (None until the
    outbox fetched them after a NEED_WINDOW; empty when the account has no ticket at all);
    `unreadable` the listed tickets of our total whose lookup failed in this probe and
    `unreadable_rounds` in how many probes that happened (ambiguity 8); `shared` whether other
    terminals are known to sell on this account, `history_checked` whether the account's
    sales before the send were searched for another terminal's (ambiguity 5)."""
    if window is None:
        return Decision(NEED_WINDOW, "listing the send window")
    if unreadable:
        numbers = ", ".join(str(n) for n in unreadable)
        if (
            unreadable_rounds >= policy.unreadable_probes
            or now + policy.probe_interval_s >= deadline
        ):
            why = f"listed ticket {numbers} cannot be looked up ({unreadable_rounds} probes); "
            why += "it may be ours"
            return Decision(CONFLICT, why, alarm=why)
        return Decision(UNDECIDED, f"listed ticket {numbers} cannot be looked up yet")
    ours = [
        t
        for t in window
        if t.ticket_number not in journaled and is_ours(t, wagers, amount, bracket)
    ]
    found = sole_candidate(ours)
    if found is not None and shared:
        why = (
            f"ticket {found.ticket_number} carries our wagers, but other terminals sell on "
            "this account: it may be theirs"
        )
        return Decision(CONFLICT, why, alarm=why)
    if found is not None and not history_checked:
        return Decision(NEED_HISTORY, "looking for another terminal's sales on this account")
    if found is not None:
        return Decision(APPLIED, "the only ticket with our wagers in the send window", ticket=found)
    if ours:
        numbers = ", ".join(str(t.ticket_number) for t in ours)
        return Decision(CONFLICT, f"{len(ours)} tickets in the send window match ours ({numbers})")
    if not request_settled(over=over, elapsed=elapsed, probes=probes, policy=policy):
        return Decision(UNDECIDED, f"not in the send window yet (probe {probes}); waiting")
    why = "request over" if over else "quiet period passed"
    if now < deadline:
        return Decision(NOT_APPLIED, f"not in the send window, {why}")
    return Decision(NOT_APPLIED_EXPIRED, f"not in the send window, {why}; deadline passed")


def history_span(before: float, checked_through: float | None, policy: Policy) -> Bracket | None:
    """The span of the account's earlier sales still to search for another terminal's before
    a lone candidate sent at `before` (server time) may be taken as ours: the lookback, less
    what an earlier search covered (`checked_through`); None when nothing is left."""
    start = before - policy.history_lookback_s
    if checked_through is not None:
        start = max(start, checked_through)
    return (start, before) if start < before else None


def foreign_rows(
    rows: Iterable[TicketSummaryLike],
    owned: Container[int],
    pending: Sequence[tuple[Sequence[WagerLike], int, Bracket]],
) -> list[int]:
    """Ticket numbers of listed rows (no wagers) that no operation of ours owns or may own: a
    row may be ours only with the total of an unresolved create of ours, inside its bracket."""
    return [
        r.ticket_number
        for r in rows
        if r.ticket_number not in owned
        and not any(r.total == a and in_send_window(r.created_at, b) for _, a, b in pending)
    ]


def surplus_rows(
    rows: Iterable[TicketSummaryLike],
    owned: Container[int],
    pending: Sequence[tuple[Sequence[WagerLike], int, Bracket]],
) -> list[int]:
    """Unowned rows that our unresolved creates could own, in a number they cannot: each create
    owns at most one ticket, so more rows of a total than creates of that total whose brackets
    hold them means another terminal's sale is among them (which one, nothing tells: the
    numbers of that total are returned)."""
    out: list[int] = []
    by_total: dict[int, list[TicketSummaryLike]] = {}
    for r in rows:
        if r.ticket_number in owned:
            continue
        if any(r.total == a and in_send_window(r.created_at, b) for _, a, b in pending):
            by_total.setdefault(r.total, []).append(r)
    for total, same in by_total.items():
        unique = {r.ticket_number: r for r in same}
        creates = [
            b for _, a, b in pending
            if a == total and any(in_send_window(r.created_at, b) for r in unique.values())
        ]  # fmt: skip
        if len(unique) > len(creates):
            out.extend(sorted(unique))
    return out


def foreign(
    tickets: Iterable[Ticket],
    journaled: Container[int],
    pending: Sequence[tuple[Sequence[WagerLike], int, Bracket]],
) -> list[Ticket]:
    """Tickets that no operation of ours owns or may own (`pending`: (wagers, amount, bracket)
    of our unresolved creates): another terminal sells on this account (ambiguity 5)."""
    return [
        t
        for t in tickets
        if t.ticket_number not in journaled
        and not any(is_ours(t, w, a, b) for w, a, b in pending)
    ]


def decide_lookup(
    *,
    kind: str,
    ticket: Ticket | None,
    deadline: float,
    now: float,
    claimed_by_other: bool = False,
    elapsed: float | None = None,
    policy: Policy | None = None,
    over: bool = False,
    unreadable_rounds: int = 0,
) -> Decision:
    """Decide an in-doubt pay or cancel from a lookup of its ticket (None: the lookup found
    no such ticket).

    A pay or cancel is in doubt only after its ticket was there to be asked about (a ticket
    that does not exist is refused outright), so "no such ticket" proves nothing: the lookup
    cannot read it (ambiguity 8). Undecided for `unreadable_rounds` < `unreadable_probes`
    probes, then (or one probe interval before the deadline) a CONFLICT for a person: never
    "did not happen" for a payout or cancel the server may have made.

    `claimed_by_other`: another operation of ours of the same kind on this ticket is already
    done, so a paid/canceled status is its effect, not this one's (the resend will then get a
    definitive "already paid" / "already rejected").

    A ticket not (yet) paid/canceled proves nothing while the request may still commit on the
    server (ambiguity 6: the real-process crash campaign caught a cancel that landed after a
    resend was decided); after the API's own error envelope it proves "not applied" at once."""
    applied_status = PAID if kind == "pay" else CANCELED
    if ticket is not None and ticket.status == applied_status and claimed_by_other:
        if now < deadline:
            return Decision(NOT_APPLIED, f"status {applied_status} belongs to another operation")
        return Decision(NOT_APPLIED_EXPIRED, f"status {applied_status} is another operation's")
    if ticket is not None and ticket.status == applied_status:
        return Decision(APPLIED, f"ticket status is {applied_status}", ticket=ticket)
    if ticket is None:
        limit = policy.unreadable_probes if policy is not None else 1
        interval = policy.probe_interval_s if policy is not None else 0.0
        if unreadable_rounds >= limit or now + interval >= deadline:
            why = (
                f"the ticket cannot be looked up ({unreadable_rounds} probes); the {kind} "
                "may have happened"
            )
            return Decision(CONFLICT, why, alarm=why)
        return Decision(UNDECIDED, "the ticket cannot be looked up yet")
    seen = f"status {ticket.status}"
    waiting = policy is not None and elapsed is not None and elapsed < policy.quiet_period_s
    if waiting and not over:
        return Decision(UNDECIDED, f"ticket {seen}; waiting for a late commit")
    if now < deadline:
        return Decision(NOT_APPLIED, f"ticket {seen}; safe to resend")
    return Decision(NOT_APPLIED_EXPIRED, f"ticket {seen}; deadline passed")
