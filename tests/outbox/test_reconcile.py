"""Pure reconciliation decisions (no I/O: plain tickets, watermarks and times)."""

from __future__ import annotations

from kioskd.banklot.models import Ticket, Wager
from kioskd.outbox import reconcile
from kioskd.outbox.policy import Policy

P = Policy(quiet_period_s=60, not_applied_probes=3, send_window_s=120, clock_skew_s=30)
OURS = [{"amount": 5, "event_id": 10, "game_id": 1, "wager": "341"}]
WM = {"ticket_number": 111, "created_at": 900.0}


def ticket(number: int, created_at: float, wagers=OURS, status: str = "sold") -> Ticket:
    ws = tuple(Wager(w["amount"], w["event_id"], w["game_id"], w["wager"]) for w in wagers)
    return Ticket(number, 12345678, created_at, ws, sum(w.amount for w in ws), len(ws), status)


def decide(last, *, now=1010.0, probes=1, window=None, deadline=5000.0, journaled=(), wm=WM,
           policy=P):  # fmt: skip
    return reconcile.decide_create(
        wagers=OURS, amount=5, watermark=wm, sent_at=1000.0, deadline=deadline, probes=probes,
        last=last, journaled=frozenset(journaled), now=now, policy=policy, window=window,
    )  # fmt: skip


def test_newer_matching_ticket_is_applied_and_recovers_the_ticket() -> None:
    d = decide(ticket(222, 1001.0))
    assert d.verdict == reconcile.APPLIED and d.ticket is not None
    assert d.ticket.ticket_number == 222 and d.alarm is None


def test_matching_ticket_outside_the_send_window_is_not_ours() -> None:
    d = decide(ticket(222, 1000.0 + 500))
    assert d.verdict == reconcile.NEED_WINDOW and d.alarm


def test_different_wagers_are_not_ours() -> None:
    other = [{"amount": 5, "event_id": 10, "game_id": 1, "wager": "342"}]
    assert decide(ticket(222, 1001.0, other)).verdict == reconcile.NEED_WINDOW


def test_a_ticket_another_operation_owns_is_not_ours() -> None:
    assert decide(ticket(222, 1001.0), journaled={222}).verdict != reconcile.APPLIED


def test_unchanged_last_waits_for_quiet_period_and_probes() -> None:
    same = ticket(111, 900.0)
    assert decide(same, now=1010.0, probes=5).verdict == reconcile.UNDECIDED
    assert decide(same, now=1100.0, probes=2).verdict == reconcile.UNDECIDED
    assert decide(same, now=1100.0, probes=3).verdict == reconcile.NOT_APPLIED
    assert decide(same, now=6000.0, probes=3).verdict == reconcile.NOT_APPLIED_EXPIRED


def test_empty_account_is_unchanged() -> None:
    wm = {"ticket_number": None, "created_at": None}
    assert decide(None, wm=wm, now=1100.0, probes=3).verdict == reconcile.NOT_APPLIED


def test_foreign_ticket_needs_the_window_and_raises_an_alarm() -> None:
    d = decide(ticket(333, 1002.0, [{"amount": 7, "event_id": 9, "game_id": 1, "wager": "1"}]))
    assert d.verdict == reconcile.NEED_WINDOW
    assert d.alarm and "333" in d.alarm


def test_window_with_our_ticket_is_applied() -> None:
    foreign = ticket(333, 1002.0, [{"amount": 7, "event_id": 9, "game_id": 1, "wager": "1"}])
    d = decide(foreign, window=[ticket(222, 1001.0)])
    assert d.verdict == reconcile.APPLIED and d.ticket.ticket_number == 222


def test_window_without_ours_is_a_conflict_by_default() -> None:
    foreign = ticket(333, 1002.0, [{"amount": 7, "event_id": 9, "game_id": 1, "wager": "1"}])
    assert decide(foreign, window=[], now=2000, probes=9).verdict == reconcile.CONFLICT


def test_window_without_ours_can_prove_absence_when_configured() -> None:
    foreign = ticket(333, 1002.0, [{"amount": 7, "event_id": 9, "game_id": 1, "wager": "1"}])
    policy = Policy(window_proves_absence=True)
    assert decide(foreign, window=[], probes=1, policy=policy).verdict == reconcile.UNDECIDED
    d = decide(foreign, window=[], now=2000, probes=3, policy=policy)
    assert d.verdict == reconcile.NOT_APPLIED


def test_two_matching_tickets_in_the_window_is_a_conflict() -> None:
    foreign = ticket(333, 1002.0, [{"amount": 7, "event_id": 9, "game_id": 1, "wager": "1"}])
    d = decide(foreign, window=[ticket(222, 1001.0), ticket(223, 1003.0)])
    assert d.verdict == reconcile.CONFLICT


def test_pay_lookup_decisions() -> None:
    paid = ticket(5, 1.0, status="paid")
    winner = ticket(5, 1.0, status="winner")
    assert reconcile.decide_lookup(kind="pay", ticket=paid, deadline=10, now=5).verdict == "applied"
    d = reconcile.decide_lookup(kind="pay", ticket=winner, deadline=10, now=5)
    assert d.verdict == reconcile.NOT_APPLIED
    d = reconcile.decide_lookup(kind="pay", ticket=winner, deadline=10, now=11)
    assert d.verdict == reconcile.NOT_APPLIED_EXPIRED
    d = reconcile.decide_lookup(kind="pay", ticket=paid, deadline=10, now=5, claimed_by_other=True)
    assert d.verdict == reconcile.NOT_APPLIED


def test_cancel_lookup_decisions() -> None:
    canceled = ticket(5, 1.0, status="canceled")
    d = reconcile.decide_lookup(kind="cancel", ticket=canceled, deadline=10, now=5)
    assert d.verdict == reconcile.APPLIED
    d = reconcile.decide_lookup(kind="cancel", ticket=None, deadline=10, now=5)
    assert d.verdict == reconcile.NOT_APPLIED


from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

WAGER = st.fixed_dictionaries(
    {
        "amount": st.integers(1, 9),
        "event_id": st.integers(1, 3),
        "game_id": st.just(1),
        "wager": st.sampled_from(["1", "2", "341"]),
    }
)


@given(
    theirs=st.lists(WAGER, min_size=1, max_size=3),
    created_at=st.floats(800, 1300),
    number=st.integers(100, 400),
    probes=st.integers(0, 6),
    now=st.floats(1000, 6000),
)
def test_applied_only_with_positive_evidence(theirs, created_at, number, probes, now) -> None:
    """Whatever /last shows, "applied" means: newer, unjournaled, same wagers, in the window."""
    last = ticket(number, created_at, theirs)
    d = decide(last, now=now, probes=probes)
    if d.verdict == reconcile.APPLIED:
        assert d.ticket is last and number != WM["ticket_number"]
        assert reconcile.wager_keys(theirs) == reconcile.wager_keys(OURS)
        assert 1000 - P.clock_skew_s <= created_at <= 1000 + P.send_window_s
    if d.verdict in (reconcile.NOT_APPLIED, reconcile.NOT_APPLIED_EXPIRED):
        assert number == WM["ticket_number"]  # only an unchanged /last proves absence
        assert probes >= P.not_applied_probes and now - 1000 >= P.quiet_period_s


def test_lookup_waits_for_a_late_commit_before_not_applied() -> None:
    """A ticket still `sold` right after the send proves nothing: the lost request may commit
    later. Only after the quiet period is a resend decided (found by the kill -9 campaign)."""
    sold = ticket(5, 1.0, status="sold")
    early = reconcile.decide_lookup(
        kind="cancel", ticket=sold, deadline=500, now=1030, sent_at=1000, policy=P
    )
    assert early.verdict == reconcile.UNDECIDED
    late = reconcile.decide_lookup(
        kind="cancel", ticket=sold, deadline=500_000, now=1061, sent_at=1000, policy=P
    )
    assert late.verdict == reconcile.NOT_APPLIED
    applied = reconcile.decide_lookup(
        kind="cancel",
        ticket=ticket(5, 1.0, status="canceled"),
        deadline=500,
        now=1001,
        sent_at=1000,
        policy=P,
    )
    assert applied.verdict == reconcile.APPLIED  # proof of "applied" needs no waiting
