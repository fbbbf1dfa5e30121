"""Double reads are one read: a scanner reading a slip twice never sells or pays twice."""

from __future__ import annotations

from kioskd.counter.scan import barcode_data
from kioskd.counter.session import (
    CounterSession,
    Done,
    Feedback,
    Ignored,
    Pay,
    PrintSlip,
    Queued,
    Scan,
    Sell,
    SessionSettings,
    State,
)
from kioskd.proving.fakes import samples

from .conftest import press

NOW = samples.NOW
BARCODE = barcode_data(32426439, 76479163, samples.DAY)
SLIP = "K1:1.341.20;1.000.20"


def of(kind: type, actions: list) -> list:
    return [a for a in actions if isinstance(a, kind)]


def test_a_play_slip_scanned_twice_sells_its_wagers_once(session):
    first = session.handle(Scan(SLIP, NOW))
    again = session.handle(Scan(SLIP, NOW + 0.05))  # the same read, 50 ms later
    assert of(Feedback, again) == [Feedback("beep")]
    assert "double read" in of(Ignored, again)[0].reason
    later = session.handle(Scan(SLIP, NOW + 5))  # held again long after: still in the draft
    assert of(Ignored, later) and "already in the sale" in of(Ignored, later)[0].reason
    (sell,) = of(Sell, press(session, "\n"))
    assert of(Feedback, first) == [Feedback("beep")]
    assert [(w.wager, w.amount) for w in sell.wagers] == [("341", 20), ("000", 20)]


def test_a_winning_ticket_scanned_twice_is_paid_and_printed_once(session):
    (pay,) = of(Pay, session.handle(Scan(BARCODE, NOW)))
    again = session.handle(Scan(BARCODE, NOW + 0.05))
    assert of(Pay, again) == [] and of(PrintSlip, again) == []
    assert of(Feedback, again) == [Feedback("beep")]
    # Past the window but the payment is still in flight (queued offline): nothing new either.
    assert session.handle(Queued(pay.command_id))  # prints the pending slip for the first
    later = session.handle(Scan(BARCODE, NOW + 30))
    assert of(Pay, later) == [] and of(PrintSlip, later) == []
    assert "already being paid" in of(Ignored, later)[0].reason
    assert "76479163" not in of(Ignored, later)[0].reason  # never the PIN
    typed = press(session, "32426439\n76479163\n", NOW + 31)
    assert of(Pay, typed) == [] and of(Ignored, typed)
    assert session.state is State.IDLE
    # Once it is done, a new scan is a new question (the server says "already paid").
    session.handle(Done(pay.command_id, samples.pay_result()))
    assert of(Pay, session.handle(Scan(BARCODE, NOW + 60)))


def test_the_window_is_configurable_and_zero_turns_it_off():
    s = CounterSession(settings=SessionSettings(double_read_s=0.0), catalog=samples.catalog())
    s.handle(Scan("32426439", NOW))
    assert s.state is State.PAY_PIN
    actions = s.handle(Scan("32426439", NOW + 0.01))
    assert of(Ignored, actions) == [] and s.state is State.PAY_PIN
