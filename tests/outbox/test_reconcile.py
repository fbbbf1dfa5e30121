"""Pure reconciliation decisions (no I/O: plain tickets and times). One named test per
ambiguity of the theory of operation in `kioskd/outbox/reconcile.py`."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kioskd.banklot.models import CancelResult, PayResult, Ticket, Wager
from kioskd.config import outbox_policy
from kioskd.outbox import reconcile

P = outbox_policy(quiet_period_s=60, not_applied_probes=3, send_window_s=120)
OURS = [{"amount": 5, "event_id": 10, "game_id": 1, "wager": "341"}]
OTHER = [{"amount": 5, "event_id": 10, "game_id": 1, "wager": "342"}]
FOREIGN = [{"amount": 7, "event_id": 9, "game_id": 1, "wager": "1"}]


def ticket(number: int, created_at: float, wagers=OURS, status: str = "sold") -> Ticket:
    ws = tuple(Wager(w["amount"], w["event_id"], w["game_id"], w["wager"]) for w in wagers)
    return Ticket(number, 12345678, created_at, ws, sum(w.amount for w in ws), len(ws), status)


def bracket(now: float, over: bool = False, sent_at: float = 1000.0,
            sent_hi: float | None = 1001.0) -> reconcile.Bracket:  # fmt: skip
    """The send's bracket as the outbox builds it: sent between server 1000 and 1001."""
    return reconcile.send_window(sent_at, sent_hi, over=over, now_hi=now, policy=P)


def decide(*, now=1010.0, probes=1, window=None, deadline=5000.0, journaled=(), over=False,
           wagers=OURS, sent_at=1000.0, shared=False, unreadable=(), rounds=0):  # fmt: skip
    return reconcile.decide_create(
        wagers=wagers, amount=sum(w["amount"] for w in wagers),
        bracket=bracket(now, over, sent_at), elapsed=now - sent_at,
        deadline=deadline, probes=probes, over=over, journaled=frozenset(journaled), now=now,
        policy=P, window=window, shared=shared, unreadable=unreadable, unreadable_rounds=rounds,
    )  # fmt: skip


def test_nothing_is_decided_before_the_window_is_listed() -> None:
    """/user/ticket/last alone never decides (issue 18, Why: another terminal's ticket shown
    by /last was printed as ours): the whole send window is listed first."""
    assert decide(probes=5, now=5000).verdict == reconcile.NEED_WINDOW
    d = decide(window=[ticket(222, 1001.0)])
    assert d.verdict == reconcile.APPLIED and d.ticket is not None
    assert d.ticket.ticket_number == 222


def test_matching_ticket_outside_the_send_window_is_not_ours() -> None:
    d = decide(window=[ticket(222, 1000.0 + 500)], now=1100, probes=3)
    assert d.verdict == reconcile.NOT_APPLIED


def test_a_ticket_another_operation_owns_is_not_ours() -> None:
    d = decide(window=[ticket(222, 1001.0)], journaled={222}, now=1100, probes=3)
    assert d.verdict == reconcile.NOT_APPLIED


# Ambiguity 1: one create in doubt, nothing else in the air.
def test_ambiguity_1_window_shows_ours_or_nothing() -> None:
    d = decide(window=[ticket(111, 900.0, OTHER), ticket(222, 1002.0)])
    assert d.verdict == reconcile.APPLIED and d.ticket.ticket_number == 222
    assert decide(window=[], now=1100, probes=3).verdict == reconcile.NOT_APPLIED
    assert decide(window=[], now=6000, probes=3).verdict == reconcile.NOT_APPLIED_EXPIRED


# Ambiguity 2: two creates in doubt with different wagers.
def test_ambiguity_2_two_creates_in_doubt_with_different_wagers() -> None:
    mine, theirs = ticket(222, 1001.0), ticket(223, 1002.0, OTHER)
    a = decide(window=[mine, theirs])
    b = decide(window=[mine, theirs], wagers=OTHER)
    assert a.verdict == reconcile.APPLIED and a.ticket.ticket_number == 222
    assert b.verdict == reconcile.APPLIED and b.ticket.ticket_number == 223
    # Only the other one landed: ours is absent (once the request is over), theirs applied.
    alone = decide(window=[theirs], over=True)
    assert alone.verdict == reconcile.NOT_APPLIED


# Ambiguity 3: same wagers can never be two candidates of ours (the hold); if the server
# still shows two, a person decides.
def test_ambiguity_3_two_candidates_with_our_wagers_is_a_conflict() -> None:
    d = decide(window=[ticket(222, 1001.0), ticket(223, 1003.0)])
    assert d.verdict == reconcile.CONFLICT and "222" in d.reason
    a = reconcile.fingerprint(OURS, 5)
    assert a == reconcile.fingerprint(list(reversed(OURS)), 5)
    assert a != reconcile.fingerprint(OTHER, 5) and a != reconcile.fingerprint(OURS, 6)


# Ambiguity 4: one answered, one in doubt.
def test_ambiguity_4_the_answered_ones_ticket_is_excluded() -> None:
    answered = ticket(222, 1001.0)  # journaled by the answered create (same wagers, earlier)
    d = decide(journaled={222}, window=[answered], over=True)
    assert d.verdict == reconcile.NOT_APPLIED


# Ambiguity 5: a foreign terminal sells on this account in the window.
def test_ambiguity_5_foreign_ticket_is_not_ours_and_is_reported() -> None:
    foreign = ticket(333, 1002.0, FOREIGN)
    assert decide(window=[foreign], over=True).verdict == reconcile.NOT_APPLIED
    pending = [(OURS, 5, bracket(1010.0))]
    assert reconcile.foreign([foreign, ticket(222, 1001.0)], frozenset(), pending) == [foreign]
    assert reconcile.foreign([ticket(222, 1001.0)], frozenset({222}), []) == []
    twin = ticket(334, 1003.0)  # a foreign sale of our very wagers, ours landed too
    assert decide(window=[ticket(222, 1001.0), twin]).verdict == reconcile.CONFLICT


def test_ambiguity_5_on_a_shared_account_one_same_wager_candidate_is_for_a_person() -> None:
    """Why: ours never applied and another terminal sold the same wagers; its ticket was taken
    as ours without an alarm. Once the account is known to be shared, the one candidate is a
    conflict with an alarm, and the decision carries no ticket (its PIN is never printed)."""
    theirs = ticket(334, 1003.0)
    alone = decide(window=[theirs])
    # Unknowable on an account not known shared whose earlier sales show no other terminal
    # (the outbox searched them: `decide` here says so): the remaining risk of ambiguity 5.
    assert alone.verdict == reconcile.APPLIED
    d = decide(window=[theirs], shared=True)
    assert d.verdict == reconcile.CONFLICT and d.ticket is None
    assert d.alarm is not None and "334" in d.alarm and "12345678" not in d.alarm
    # Nothing with our wagers: the shared account changes nothing.
    assert decide(window=[], shared=True, over=True).verdict == reconcile.NOT_APPLIED


def test_ambiguity_5_a_lone_candidate_waits_for_the_accounts_earlier_sales() -> None:
    """Before a lone same-wager candidate is printed on an account not known to be shared,
    the outbox searches the account's earlier sales for another terminal's (NEED_HISTORY);
    two candidates or a shared account need no search."""
    theirs = ticket(334, 1003.0)
    kw = dict(
        wagers=OURS, amount=5, bracket=bracket(1010.0), elapsed=10.0, deadline=5000.0,
        probes=1, over=False, journaled=frozenset(), now=1010.0, policy=P, window=[theirs],
    )  # fmt: skip
    assert reconcile.decide_create(**kw, history_checked=False).verdict == reconcile.NEED_HISTORY
    assert reconcile.decide_create(**kw, history_checked=True).verdict == reconcile.APPLIED
    shared = reconcile.decide_create(**kw, shared=True, history_checked=False)
    assert shared.verdict == reconcile.CONFLICT
    two = {**kw, "window": [theirs, ticket(335, 1004.0)]}
    assert reconcile.decide_create(**two, history_checked=False).verdict == reconcile.CONFLICT
    none = {**kw, "window": [], "over": True}
    assert reconcile.decide_create(**none, history_checked=False).verdict == reconcile.NOT_APPLIED


def test_history_span_is_the_lookback_less_what_was_searched() -> None:
    day = P.history_lookback_s
    assert reconcile.history_span(10 * day, None, P) == (9 * day, 10 * day)
    assert reconcile.history_span(10 * day, 9.5 * day, P) == (9.5 * day, 10 * day)
    assert reconcile.history_span(10 * day, 3 * day, P) == (9 * day, 10 * day)
    assert reconcile.history_span(10 * day, 10 * day, P) is None
    assert reconcile.history_span(10 * day, 11 * day, P) is None


def test_foreign_rows_are_listed_rows_no_create_of_ours_owns_or_may_own() -> None:
    from kioskd.banklot.models import TicketSummary

    def row(n: int, at: float, total: int) -> TicketSummary:
        return TicketSummary(n, at, "sold", total)

    pending = [(OURS, 5, (1000.0, 1100.0))]
    rows = [row(1, 500.0, 5), row(2, 1050.0, 5), row(3, 1050.0, 7), row(4, 1200.0, 5)]
    # 1: our total but before the pending send; 2: may be the pending create's; 3: another
    # total; 4: after the bracket; 5: owned.
    assert reconcile.foreign_rows(rows, frozenset(), pending) == [1, 3, 4]
    assert reconcile.foreign_rows([*rows, row(5, 700.0, 9)], frozenset({1, 5}), pending) == [3, 4]
    assert reconcile.foreign_rows(rows, frozenset(), []) == [1, 2, 3, 4]


def test_surplus_rows_more_rows_of_a_total_than_our_creates_can_own() -> None:
    """Each create owns one ticket at most: two rows of one create's total inside its bracket
    prove another terminal (found by the field world: the other terminal sold the wagers of
    two of our sales in doubt, then our third's, and each looked like it may be ours)."""
    from kioskd.banklot.models import TicketSummary

    def row(n: int, at: float, total: int) -> TicketSummary:
        return TicketSummary(n, at, "sold", total)

    one = [(OURS, 5, (1000.0, 1100.0))]
    two = [*one, (OTHER, 5, (1050.0, 1200.0))]
    rows = [row(1, 1010.0, 5), row(2, 1060.0, 5)]
    assert reconcile.surplus_rows(rows, frozenset(), one) == [1, 2]
    assert reconcile.surplus_rows(rows, frozenset(), two) == []  # one each may be ours
    assert reconcile.surplus_rows(rows, frozenset({2}), one) == []  # 2 is owned
    assert reconcile.surplus_rows([*rows, rows[0]], frozenset(), two) == []  # listed twice
    assert reconcile.surplus_rows([row(3, 1300.0, 5), *rows[:1]], frozenset(), one) == []


def test_a_lookup_answer_for_another_ticket_or_total_reads_nothing() -> None:
    """Found by the field world (seed 4981): a cache answered the lookup of our own sale with
    other wagers; taken at its word, our sale was "not in the send window" and expired while
    the server had sold it."""
    ours = ticket(222, 1001.0)
    assert not reconcile.lookup_mismatch(ours, 222, 5)
    assert reconcile.lookup_mismatch(ours, 223, 5)
    assert reconcile.lookup_mismatch(ours, 222, 10)
    assert not reconcile.lookup_mismatch(ours, 222)


def test_a_window_list_without_the_ticket_last_shows_inside_it_proves_nothing() -> None:
    """Found by the field world (seed 6903): a cache repeated the list of the first probe
    (made before a late commit) at the second; "not in the send window" expired a sale the
    server had sold. `/user/ticket/last` showed a newer ticket inside the window the repeated
    list lacked."""
    b = (1000.0, 1100.0)
    assert reconcile.list_misses({1, 2}, [(3, 1050.0)], b) == [3]
    assert reconcile.list_misses({1, 3}, [(3, 1050.0)], b) == []
    assert reconcile.list_misses(set(), [(3, 1200.0)], b) == []  # after the window
    assert reconcile.list_misses(set(), [(3, 1000.5)], b) == []  # the edge second


def test_one_candidate_rule_lives_in_sole_candidate() -> None:
    one, two = ticket(222, 1001.0), ticket(223, 1002.0)
    assert reconcile.sole_candidate([one]) is one
    assert reconcile.sole_candidate([one, two]) is None and reconcile.sole_candidate([]) is None


# Ambiguity 6: a late commit; the API's envelope ends the request.
def test_ambiguity_6_quiet_period_after_a_drop_none_after_an_api_error() -> None:
    assert decide(window=[], now=1010, probes=5).verdict == reconcile.UNDECIDED
    assert decide(window=[], now=1100, probes=2).verdict == reconcile.UNDECIDED
    assert decide(window=[], now=1060, probes=3).verdict == reconcile.NOT_APPLIED
    assert decide(window=[], now=1000.5, probes=1, over=True).verdict == "not_applied"
    # "Applied" never waits, whatever the mark.
    d = decide(window=[ticket(222, 1000.2)], now=1000.3, probes=1)
    assert d.verdict == reconcile.APPLIED


# Ambiguity 8: a listed ticket that the lookup cannot read.
def test_ambiguity_8_unreadable_listed_ticket_goes_to_a_person_after_bounded_probes() -> None:
    """Why: a listed ticket the lookup could not read kept a sale in doubt past its deadline
    with no slip. Undecided for a bounded number of probes, then a conflict (with an alarm)."""
    bound = P.unreadable_probes
    for rounds in range(1, bound):
        d = decide(window=[], unreadable=[444], rounds=rounds, now=1100, probes=9, over=True)
        assert d.verdict == reconcile.UNDECIDED  # never "not applied": the row may be ours
    d = decide(window=[], unreadable=[444], rounds=bound, now=1100, probes=9)
    assert d.verdict == reconcile.CONFLICT and "444" in (d.alarm or "")
    # Before its deadline: one probe interval from it, a person decides now.
    d = decide(window=[], unreadable=[444], rounds=1, now=1100, deadline=1100 + P.probe_interval_s)
    assert d.verdict == reconcile.CONFLICT


# Ambiguity 10: an answer that does not match what was asked.
def test_ambiguity_10_answer_mismatch_names_what_did_not_match() -> None:
    def check(result, *, kind="create", asked=None, owned=(), sent_at=1000.0):
        return reconcile.answer_mismatch(
            kind=kind, result=result, asked_ticket=asked, wagers=OURS if kind == "create" else [],
            amount=5 if kind == "create" else 0, owned=frozenset(owned),
            bracket=reconcile.send_window(sent_at, sent_at + 2, over=True, now_hi=sent_at + 2,
                                          policy=P),
        )  # fmt: skip

    assert check(ticket(222, 1001.0)) is None
    other = check(ticket(222, 1001.0, OTHER))
    assert other is not None and "wagers" in other and "12345678" not in other
    assert "total" in (check(ticket(222, 1001.0, [{**OURS[0], "amount": 10}])) or "")
    assert "already belongs" in (check(ticket(222, 1001.0), owned={222}) or "")
    assert "created_at" in (check(ticket(222, 1001.0 + 500)) or "")
    paid = PayResult(ticket_number=7, status="paid", prize=10)
    assert check(paid, kind="pay", asked=7) is None
    assert "not the ticket asked" in (check(paid, kind="pay", asked=8) or "")
    canceled = CancelResult(ticket_number=9, status="canceled")
    assert check(canceled, kind="cancel", asked=9) is None
    assert check(canceled, kind="cancel", asked=10) is not None


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
    # No such ticket: it was there when the cancel was asked, so the lookup cannot read it
    # (ambiguity 8): undecided for `unreadable_probes` probes, then a person, never "not
    # applied" (the field world found a cancel resent for ever, and a payout told "did not
    # happen" while the server had paid it).
    kw = dict(kind="cancel", ticket=None, deadline=500, policy=P)
    assert reconcile.decide_lookup(**kw, now=5, unreadable_rounds=1).verdict == "undecided"
    d = reconcile.decide_lookup(**kw, now=5, unreadable_rounds=P.unreadable_probes)
    assert d.verdict == reconcile.CONFLICT and d.alarm and "may have happened" in d.alarm
    near = reconcile.decide_lookup(**kw, now=500 - P.probe_interval_s, unreadable_rounds=1)
    assert near.verdict == reconcile.CONFLICT
    pay = reconcile.decide_lookup(**{**kw, "kind": "pay"}, now=600, unreadable_rounds=1)
    assert pay.verdict == reconcile.CONFLICT  # past its deadline: a person, not "expired"


WAGER = st.fixed_dictionaries(
    {
        "amount": st.sampled_from([5, 5, 7]),
        "event_id": st.sampled_from([10, 10, 2]),  # our event most often: our sale can show up
        "game_id": st.just(1),
        "wager": st.sampled_from(["341", "341", "342"]),
    }
)
# Window tickets: often exactly our sale, else anything close to it.
THEIRS = st.one_of(st.just(OURS), st.lists(WAGER, min_size=1, max_size=3))


def ours_by_hand(t: Ticket, b: reconcile.Bracket) -> bool:
    """The oracle, written from the rules (not `reconcile.is_ours`): created inside the
    bracket, total 5, exactly one wager 341 on event 10 of game 1 for 5."""
    lo, hi = b
    keys = sorted((w.event_id, w.game_id, w.wager, w.amount) for w in t.wagers)
    return lo <= t.created_at <= hi and t.amount == 5 and keys == [(10, 1, "341", 5)]


@given(
    theirs=st.lists(THEIRS, max_size=3),
    created_at=st.lists(st.floats(800, 1300), min_size=3, max_size=3),
    probes=st.integers(0, 6),
    now=st.floats(1000, 6000),
    over=st.booleans(),
)
def test_decisions_need_evidence(theirs, created_at, probes, now, over) -> None:
    """Whatever the window shows: "applied" means exactly one unowned ticket with our wagers
    in the window; "not applied" means none, and a request that cannot commit any more."""
    window = [ticket(500 + i, created_at[i], w) for i, w in enumerate(theirs)]
    d = decide(now=now, probes=probes, window=window, over=over)
    matching = [t for t in window if ours_by_hand(t, bracket(now, over))]
    if d.verdict == reconcile.APPLIED:
        assert matching == [d.ticket]
    if d.verdict in (reconcile.NOT_APPLIED, reconcile.NOT_APPLIED_EXPIRED):
        assert not matching
        assert over or (probes >= P.not_applied_probes and now - 1000 >= P.quiet_period_s)
    if len(matching) > 1:
        assert d.verdict == reconcile.CONFLICT


def test_the_property_sees_our_sale_in_the_window() -> None:
    """The generator reaches the interesting case: a window holding exactly our sale decides
    "applied" (a property whose windows never hold our sale would pass on any code)."""
    d = decide(now=1010.0, window=[ticket(500, 1000.5, OURS), ticket(501, 1000.5, OTHER)])
    assert d.verdict == reconcile.APPLIED and d.ticket is not None and d.ticket.ticket_number == 500


def test_lookup_waits_for_a_late_commit_before_not_applied() -> None:
    """A ticket still `sold` right after the send proves nothing: the lost request may commit
    later. Only after the quiet period is a resend decided (found by the kill -9 campaign);
    after the API's own error envelope at once."""
    sold = ticket(5, 1.0, status="sold")
    early = reconcile.decide_lookup(
        kind="cancel", ticket=sold, deadline=500_000, now=1030, elapsed=30, policy=P
    )
    assert early.verdict == reconcile.UNDECIDED
    over = reconcile.decide_lookup(
        kind="cancel", ticket=sold, deadline=500_000, now=1001, elapsed=1, policy=P, over=True
    )
    assert over.verdict == reconcile.NOT_APPLIED
    late = reconcile.decide_lookup(
        kind="cancel", ticket=sold, deadline=500_000, now=1061, elapsed=61, policy=P
    )
    assert late.verdict == reconcile.NOT_APPLIED
    applied = reconcile.decide_lookup(
        kind="cancel",
        ticket=ticket(5, 1.0, status="canceled"),
        deadline=500,
        now=1001,
        elapsed=1,
        policy=P,
    )
    assert applied.verdict == reconcile.APPLIED  # proof of "applied" needs no waiting


def test_shipped_policy_decides_a_drop_well_inside_a_sales_deadline() -> None:
    """The slowest "not applied" after a drop (quiet period, then the next probe) leaves the
    resend at least half of `create_max_age_s` (item 2 of issue 11)."""
    shipped = outbox_policy()
    slowest = (
        max(shipped.quiet_period_s, shipped.not_applied_probes * shipped.probe_interval_s)
        + shipped.probe_interval_s
    )
    assert slowest <= shipped.create_max_age_s / 2


# The send's bracket is server time: whatever the kiosk's wall clock said, and wherever the
# server's clock is, a ticket is ours when the server stamped it between the lower bound known
# before the send and the upper bound known after (issue 18, "the kiosk's clock").
def test_bracket_is_the_server_instants_around_the_send_widened_by_the_date_resolution() -> None:
    answered = reconcile.send_window(1000.0, 1003.0, over=True, now_hi=1500.0, policy=P)
    assert answered == (999.0, 1004.0)
    assert reconcile.in_send_window(999.0, answered) and reconcile.in_send_window(1004.0, answered)
    assert not reconcile.in_send_window(998.9, answered)
    assert not reconcile.in_send_window(1004.1, answered)


def test_bracket_of_a_request_that_may_still_commit_reaches_the_quiet_period_never_past_now():
    late = reconcile.send_window(1000.0, 1003.0, over=False, now_hi=1020.0, policy=P)
    assert late == (999.0, 1021.0)
    settled = reconcile.send_window(1000.0, 1003.0, over=False, now_hi=5000.0, policy=P)
    assert settled == (999.0, 1003.0 + P.quiet_period_s + 1.0)
    # A crash in the middle: no upper bound journaled; the one known when looking frames it.
    crashed = reconcile.send_window(1000.0, None, over=False, now_hi=1200.0, policy=P)
    assert crashed == (999.0, 1201.0)


def test_server_2h_ahead_10min_behind_minus_45s_plus_130s_a_create_that_committed_is_ours():
    """Issue 18: with the kiosk's wall clock 2 h behind the server (or 10 min ahead, or -45 s
    or +130 s off) the old window (wall clock -30 s / +120 s) judged our committed create "not
    applied" and it was sold twice. The bracket is server time, so the skew does not enter."""
    for skew in (7200.0, -600.0, -45.0, 130.0):
        server_send = 1_780_000_000.0  # what the server's clock read when our create arrived
        wall_at_send = server_send - skew  # what the kiosk's wall clock read (never used)
        assert abs(wall_at_send - server_send) == abs(skew)
        b = reconcile.send_window(server_send - 0.2, server_send + 1.3, over=False,
                                  now_hi=server_send + 5, policy=P)  # fmt: skip
        committed = ticket(4242, server_send + 0.5)
        d = reconcile.decide_create(
            wagers=OURS, amount=5, bracket=b, elapsed=4.0, deadline=server_send + 60,
            probes=1, over=False, journaled=frozenset(), window=[committed],
            now=server_send + 4, policy=P,
        )  # fmt: skip
        assert d.verdict == reconcile.APPLIED and d.ticket is committed, skew
