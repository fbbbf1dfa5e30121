import dataclasses
import json

import pytest

from kioskd.banklot.models import WagerRequest
from kioskd.counter import catalog as cat
from kioskd.counter.catalog import Catalog, Rejection, event_time, validate
from kioskd.counter.grammar import DraftWager
from kioskd.proving.fakes import samples

NOW = samples.NOW


@pytest.fixture
def catalog() -> Catalog:
    return samples.catalog()


def reason(result) -> str:
    assert isinstance(result, Rejection), result
    return result.reason


def test_valid_draft_becomes_wager_requests(catalog):
    result = validate(catalog, [DraftWager(1, "341", 20), DraftWager(30, "00", 10)], NOW)
    assert result == [
        WagerRequest(amount=20, event_id=23301, game_id=1, wager="341"),
        WagerRequest(amount=10, event_id=23330, game_id=5, wager="00"),
    ]


def test_inventory_code_maps_to_api_wager(catalog):
    assert validate(catalog, [DraftWager(3, "44401", 5)], NOW) == [
        WagerRequest(amount=5, event_id=23303, game_id=3, wager="444-ARI")
    ]


def test_closing_time_is_computed_in_the_entity_zone(catalog):
    # 16:00 in Caracas is 20:00 UTC, whatever zone the machine runs in.
    assert catalog.products[1].closes_at == NOW + 3.5 * 3600
    assert event_time("2024-10-23", "16:00:00", "America/Caracas") == NOW + 3.5 * 3600
    assert event_time(None, "16:00:00", "America/Caracas") is None


def test_close_margin_closes_early():
    early = Catalog.build(
        samples.entity(), samples.products(), samples.inventory(), NOW, close_margin_s=300
    )
    w = [DraftWager(30, "1", 10)]  # LOTTO REY draws at 13:30, NOW is 12:30
    assert isinstance(validate(early, w, NOW + 3600 - 301), list)
    assert reason(validate(early, w, NOW + 3600 - 300)) == cat.EVENT_CLOSED


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        ([DraftWager(4, "341", 10)], cat.EVENT_CLOSED),  # drew at 12:00
        ([DraftWager(99, "341", 10)], cat.UNKNOWN_PRODUCT),
        ([DraftWager(1, "3410", 10)], cat.BAD_WAGER_CODE),
        ([DraftWager(3, "444", 10)], cat.BAD_WAGER_CODE),  # zodiac needs the sign code
        ([DraftWager(30, "37", 10)], cat.BAD_WAGER_CODE),
        ([DraftWager(2, "341", 4)], cat.UNDER_MIN_BET),
        ([DraftWager(1, "341", 100)], cat.OVER_MAX_BET),
        ([DraftWager(2, "341", 12)], cat.NOT_A_MULTIPLE),
        ([DraftWager(2, f"{n:03d}", 5) for n in range(4)], cat.TOO_MANY_WAGERS),
        ([], cat.EMPTY_DRAFT),
    ],
)
def test_every_rejection_path(catalog, draft, expected):
    assert reason(validate(catalog, draft, NOW)) == expected


def test_catalog_never_loaded():
    assert reason(validate(None, [DraftWager(1, "341", 20)], NOW)) == cat.CATALOG_NOT_LOADED


def test_event_closes_at_its_time(catalog):
    w = [DraftWager(1, "341", 20)]
    closes = catalog.products[1].closes_at
    assert isinstance(validate(catalog, w, closes - 1), list)
    assert reason(validate(catalog, w, closes)) == cat.EVENT_CLOSED


def test_first_bad_wager_is_named(catalog):
    result = validate(catalog, [DraftWager(1, "341", 20), DraftWager(1, "341", 100)], NOW)
    assert result.index == 1 and "max_bet 99" in result.detail


def test_too_many_uses_the_strictest_product(catalog):
    # product 1 allows 100 per ticket, product 2 only 3: a ticket mixing them takes 3.
    draft = [DraftWager(1, "341", 1), DraftWager(1, "342", 1), DraftWager(2, "000", 5)]
    assert isinstance(validate(catalog, draft, NOW), list)
    assert reason(validate(catalog, [*draft, DraftWager(1, "343", 1)], NOW)) == "too_many_wagers"


def test_inactive_product_is_unknown():
    products = samples.products()
    products[0] = dataclasses.replace(products[0], status="inactive")
    c = Catalog.build(samples.entity(), products, samples.inventory(), NOW)
    assert reason(validate(c, [DraftWager(1, "341", 20)], NOW)) == cat.UNKNOWN_PRODUCT


def test_json_round_trip_through_text(catalog):
    text = json.dumps(catalog.to_json())
    again = Catalog.from_json(json.loads(text))
    assert again == catalog
    assert validate(again, [DraftWager(3, "44401", 5)], NOW) == validate(
        catalog, [DraftWager(3, "44401", 5)], NOW
    )


def test_unknown_cache_format_is_refused(catalog):
    data = catalog.to_json() | {"format": 99}
    with pytest.raises(ValueError, match="format 99"):
        Catalog.from_json(data)


def test_staleness(catalog):
    assert catalog.age(NOW) == 60
    assert not catalog.is_stale(NOW, 600)
    assert catalog.is_stale(NOW + 600, 600)
    open_now = {p.id for p in catalog.products.values() if cat._closed_reason(p, NOW) is None}
    assert open_now == {1, 2, 3, 30}


def test_explicit_closing_timestamp_from_kiosk_events_wins_when_earlier():
    from kioskd.banklot.models import KioskEvent

    events = [KioskEvent(id=23301, closing_timestamp=NOW + 600)]
    c = Catalog.build(samples.entity(), samples.products(), samples.inventory(), NOW, events=events)
    assert c.products[1].closes_at == NOW + 600
    assert reason(validate(c, [DraftWager(1, "341", 20)], NOW + 600)) == cat.EVENT_CLOSED
    assert c.products[2].closes_at == NOW + 4.25 * 3600  # no explicit time: computed


def test_refusal_details_in_the_slip_language():
    """Slips are Spanish by default: the numbers behind a refusal are said in Spanish there
    (the English `detail` stays for logs)."""
    from kioskd.counter.catalog import Rejection
    from kioskd.counter.i18n import rejection_detail

    r = Rejection("not_a_multiple", "amount 3 is not a multiple of 2", 0, {"amount": 3, "limit": 2})
    assert rejection_detail(r.reason, r.facts, "es") == "monto 3: debe ser múltiplo de 2"
    assert rejection_detail(r.reason, r.facts, "en") == r.detail
    assert rejection_detail("catalog_not_loaded", {}, "es") == "el catálogo aún no se ha cargado"
    assert rejection_detail("not_a_multiple", {}, "es") is None  # facts missing: use `detail`
    assert rejection_detail("no_such_reason", {}, "es") is None
