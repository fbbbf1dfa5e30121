"""Pure reconciliation decisions for operations whose outcome is in doubt.

Rules:
- Functions of (operation facts, watermark, probe result, now, policy) returning a `Decision`.
  No I/O, no clock, no journal: the dispatcher gathers the facts and applies the decision.
- "Applied" needs positive evidence: a ticket that is newer than the watermark recorded before
  the send, not journaled for another operation, whose wagers (event, game, wager, amount) and
  total equal ours and whose `created_at` lies inside the send window.
- "Not applied" needs patience: `/last` unchanged since the watermark, after the quiet period
  and after `policy.not_applied_probes` probes. Then the create is requeued if its deadline
  allows, or expired.
- Anything else that moved `/last` is not guessed at: the ticket list for the send window is
  consulted (NEED_WINDOW); if it does not show exactly one ticket of ours -> CONFLICT for a
  person. A newer ticket that we never journaled raises an alarm (another terminal sells on
  this account).
- Pay and cancel are decided by reading the ticket: paid / canceled -> applied; otherwise not
  applied (resend if still valid: the server's answer to the resend is then definitive).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kioskd.banklot.models import CANCELED, PAID, Ticket
from kioskd.outbox.policy import Policy

APPLIED = "applied"
NOT_APPLIED = "not_applied"
NOT_APPLIED_EXPIRED = "not_applied_expired"
UNDECIDED = "undecided"
NEED_WINDOW = "need_window"
CONFLICT = "conflict"


@dataclass(frozen=True)
class Decision:
    verdict: str
    reason: str
    ticket: Ticket | None = None
    alarm: str | None = None  # text of an alarm to raise (never holds a PIN)


WagerKey = tuple[int, int, str, int]


def wager_keys(wagers: Iterable[Any]) -> Counter[WagerKey]:
    """The multiset of (event_id, game_id, wager, amount) of wagers (models or dicts)."""
    keys: Counter[WagerKey] = Counter()
    for w in wagers:
        if isinstance(w, Mapping):
            keys[(int(w["event_id"]), int(w["game_id"]), str(w["wager"]), int(w["amount"]))] += 1
        else:
            keys[(int(w.event_id), int(w.game_id), str(w.wager), int(w.amount))] += 1
    return keys


def send_window(sent_at: float, policy: Policy) -> tuple[float, float]:
    return sent_at - policy.clock_skew_s, sent_at + policy.send_window_s


def is_ours(
    ticket: Ticket, wagers: Sequence[Any], amount: int, sent_at: float, policy: Policy
) -> bool:
    """Does this ticket carry exactly our wagers and total, created inside our send window?"""
    start, end = send_window(sent_at, policy)
    return (
        start <= ticket.created_at <= end
        and ticket.amount == amount
        and wager_keys(ticket.wagers) == wager_keys(wagers)
    )


def _newer(ticket: Ticket | None, watermark: Mapping[str, Any] | None) -> bool:
    if ticket is None:
        return False
    if not watermark or watermark.get("ticket_number") is None:
        return True
    if ticket.ticket_number == watermark["ticket_number"]:
        return False
    return ticket.created_at >= float(watermark.get("created_at") or 0.0)


def _unchanged(last: Ticket | None, watermark: Mapping[str, Any] | None) -> bool:
    """/last shows exactly what it showed before the send (anything else is not "unchanged",
    not even an older ticket: that is a surprise, and surprises go to the window list)."""
    if watermark is None:
        return False
    if last is None:
        return watermark.get("ticket_number") is None
    return last.ticket_number == watermark.get("ticket_number")


def decide_create(
    *,
    wagers: Sequence[Any],
    amount: int,
    watermark: Mapping[str, Any] | None,
    sent_at: float,
    deadline: float,
    probes: int,
    last: Ticket | None,
    journaled: frozenset[int],
    now: float,
    policy: Policy,
    window: Sequence[Ticket] | None = None,
) -> Decision:
    """Decide an in-doubt create. `probes` counts this probe; `journaled` holds the ticket
    numbers already owned by other operations; `window` the looked-up tickets of the send
    window (None until the dispatcher fetched them after a NEED_WINDOW)."""
    alarm = None
    if last is not None and _newer(last, watermark) and last.ticket_number not in journaled:
        if is_ours(last, wagers, amount, sent_at, policy):
            return Decision(APPLIED, "newer /last ticket matches our wagers", ticket=last)
        alarm = f"ticket {last.ticket_number} in /last was never journaled by this kiosk"

    unchanged = _unchanged(last, watermark)
    if unchanged and window is None:
        patient = now - sent_at >= policy.quiet_period_s and probes >= policy.not_applied_probes
        if not patient:
            return Decision(UNDECIDED, f"/last unchanged (probe {probes}); waiting", alarm=alarm)
        if now < deadline:
            return Decision(NOT_APPLIED, "/last unchanged after quiet period", alarm=alarm)
        return Decision(NOT_APPLIED_EXPIRED, "/last unchanged; deadline passed", alarm=alarm)

    if window is None:
        why = "no watermark" if watermark is None else "/last moved but is not ours"
        return Decision(NEED_WINDOW, f"{why}; listing the send window", alarm=alarm)

    ours = [
        t
        for t in window
        if t.ticket_number not in journaled and is_ours(t, wagers, amount, sent_at, policy)
    ]
    if len(ours) == 1:
        return Decision(APPLIED, "send-window list shows our ticket", ticket=ours[0], alarm=alarm)
    if not ours and watermark is None and last is None:
        # The account never sold anything: nothing of ours can exist.
        patient = now - sent_at >= policy.quiet_period_s and probes >= policy.not_applied_probes
        if not patient:
            return Decision(UNDECIDED, "account empty; waiting", alarm=alarm)
        verdict = NOT_APPLIED if now < deadline else NOT_APPLIED_EXPIRED
        return Decision(verdict, "account has no tickets after quiet period", alarm=alarm)
    if not ours and policy.window_proves_absence:
        patient = now - sent_at >= policy.quiet_period_s and probes >= policy.not_applied_probes
        if not patient:
            return Decision(UNDECIDED, "ours not in the send-window list yet; waiting", alarm=alarm)
        verdict = NOT_APPLIED if now < deadline else NOT_APPLIED_EXPIRED
        return Decision(verdict, "ours not in the send-window list after quiet period", alarm=alarm)
    if not ours:
        return Decision(
            CONFLICT, "/last moved to a foreign ticket; ours not in window", alarm=alarm
        )
    return Decision(CONFLICT, f"{len(ours)} tickets in the window match ours", alarm=alarm)


def decide_lookup(
    *,
    kind: str,
    ticket: Ticket | None,
    deadline: float,
    now: float,
    claimed_by_other: bool = False,
    sent_at: float | None = None,
    policy: Policy | None = None,
) -> Decision:
    """Decide an in-doubt pay or cancel from a lookup of its ticket (None: no such ticket).

    `claimed_by_other`: another operation of ours of the same kind on this ticket is already
    done, so a paid/canceled status is its effect, not this one's (the resend will then get a
    definitive "already paid" / "already rejected").

    A ticket not (yet) paid/canceled proves nothing until `policy.quiet_period_s` has passed
    since the send: the request we lost sight of may still be committing on the server (the
    real-process crash campaign caught a cancel that landed after a resend was decided)."""
    applied_status = PAID if kind == "pay" else CANCELED
    if ticket is not None and ticket.status == applied_status and claimed_by_other:
        if now < deadline:
            return Decision(NOT_APPLIED, f"status {applied_status} belongs to another operation")
        return Decision(NOT_APPLIED_EXPIRED, f"status {applied_status} is another operation's")
    if ticket is not None and ticket.status == applied_status:
        return Decision(APPLIED, f"ticket status is {applied_status}", ticket=ticket)
    seen = "not found" if ticket is None else f"status {ticket.status}"
    if policy is not None and sent_at is not None and now - sent_at < policy.quiet_period_s:
        return Decision(UNDECIDED, f"ticket {seen}; waiting for a late commit")
    if now < deadline:
        return Decision(NOT_APPLIED, f"ticket {seen}; safe to resend")
    return Decision(NOT_APPLIED_EXPIRED, f"ticket {seen}; deadline passed")
