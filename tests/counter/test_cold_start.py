"""Cold start: input typed while the first catalog load is in flight waits for it."""

from __future__ import annotations

from kioskd.counter.session import (
    CatalogFailed,
    CatalogUpdated,
    CounterSession,
    Feedback,
    PrintSlip,
    Sell,
    SessionSettings,
    Tick,
)
from kioskd.proving.fakes import samples

from .conftest import press

NOW = samples.NOW


def of(kind: type, actions: list) -> list:
    return [a for a in actions if isinstance(a, kind)]


def cold(wait_s: float = 20.0) -> CounterSession:
    return CounterSession(settings=SessionSettings(catalog_wait_s=wait_s), catalog=None)


def test_a_sale_typed_before_the_catalog_is_sold_when_it_arrives():
    session = cold()
    held = press(session, "+1.341.20\n\n", NOW)
    assert held == [Feedback("working")]  # amber: nothing refused, nothing sold yet
    actions = session.handle(CatalogUpdated(samples.catalog(), NOW + 0.1))
    assert actions[0] == Feedback("idle")
    (sell,) = of(Sell, actions)
    assert [(w.wager, w.amount) for w in sell.wagers] == [("341", 20)]
    assert of(PrintSlip, actions) == []


def test_a_failed_first_load_refuses_with_the_reason_on_the_slip():
    session = cold()
    press(session, "+1.341.20\n\n", NOW)
    actions = session.handle(CatalogFailed("offline", NOW + 1))
    assert of(Sell, actions) == []
    (slip,) = of(PrintSlip, actions)
    text = repr(slip.receipt)
    assert "no se pudo cargar el catálogo" in text and "el servidor no responde" in text
    # Later input is refused at once (no more waiting) until a catalog comes.
    assert Feedback("reject") in press(session, "+1.341.20\n", NOW + 2)
    session.handle(CatalogUpdated(samples.catalog(), NOW + 30))
    assert of(Sell, press(session, "\x1b+1.341.20\n\n", NOW + 31))


def test_the_wait_is_bounded():
    session = cold(wait_s=5.0)
    press(session, "+1.341.20\n\n", NOW)
    assert session.handle(Tick(NOW + 4)) == []
    actions = session.handle(Tick(NOW + 5))
    assert of(Sell, actions) == []
    assert "no llegó a tiempo" in repr(of(PrintSlip, actions)[0].receipt)


def test_without_a_wait_a_missing_catalog_is_refused_at_once():
    session = cold(wait_s=0.0)
    assert Feedback("reject") in press(session, "+1.341.20\n", NOW)
