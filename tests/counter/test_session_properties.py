"""Whatever the clerk types or scans, the session never crashes and never sells an invalid wager."""

from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.counter.scan import barcode_data
from kioskd.counter.session import (
    CounterSession,
    Done,
    Failed,
    Key,
    Lookup,
    Scan,
    Sell,
    SessionSettings,
    State,
    Tick,
)
from kioskd.proving.fakes import samples

from .conftest import EVDEV

CATALOG = samples.catalog()
SCANS = [
    barcode_data(32426439, 76479163, samples.DAY),
    "32426439",
    "K1:1.341.20;30.00.10",
    "K1:2.341.12",
    "K1:1.341.20;" * 3,
    "garbage",
]
keys = st.sampled_from(sorted(EVDEV.values())).map(lambda name: ("key", name))
scans = st.sampled_from(SCANS).map(lambda text: ("scan", text))
ticks = st.floats(min_value=0, max_value=30).map(lambda dt: ("tick", dt))
events = st.lists(st.one_of(keys, keys, keys, scans, ticks), max_size=60)


def check_sell(sell: Sell, now: float) -> None:
    by_event = {p.event_id: p for p in CATALOG.products.values()}
    for w in sell.wagers:
        product = by_event[w.event_id]
        assert product.closes_at > now
        assert product.limits.min_bet <= w.amount <= product.limits.max_bet
        assert w.amount % product.limits.amount_multiple == 0
        assert w.wager in CATALOG.inventory[w.game_id].values()
    assert len(sell.wagers) <= min(
        by_event[w.event_id].limits.ticket_max_wagers for w in sell.wagers
    )


@settings(max_examples=150, deadline=None)
@given(events, st.booleans())
def test_random_input_never_crashes_and_never_sells_invalid_wagers(script, answer):
    session = CounterSession(
        settings=SessionSettings(supervisor_code="12", supervised_functions=frozenset({"9"})),
        catalog=CATALOG,
    )
    now = samples.NOW
    for kind, value in script:
        if kind == "tick":
            now += value
            actions = session.handle(Tick(now))
        elif kind == "key":
            actions = session.handle(Key(value, now))
        else:
            actions = session.handle(Scan(value, now))
        for action in actions:
            if isinstance(action, Sell):
                check_sell(action, now)
            if answer and isinstance(action, Lookup):
                session.handle(Failed(action.command_id, "ticket_not_found"))
        assert isinstance(session.state, State)
    for command_id in list(session.pending):
        session.handle(Failed(command_id, "offline"))
    for command_id in list(session.pending):  # a cancel queued after an offline lookup
        session.handle(Done(command_id, None))
    assert session.pending == {}
