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


def test_the_inventory_digest_goes_through_the_cache():
    """The digest of the answer the tables were made of survives the journal's cache, so the
    first refresh after a restart can keep them (issue 19, idle CPU); a cache written before
    it reads as not known."""
    built = Catalog.build(
        samples.entity(), samples.products(), samples.inventory(), NOW, inventory_digest="ab" * 32
    )
    data = json.loads(json.dumps(built.to_json()))
    assert Catalog.from_json(data).inventory_digest == "ab" * 32
    del data["inventory_digest"]
    assert Catalog.from_json(data).inventory_digest is None


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


# ---------------------------------------------------------------- compact inventory (issue 19)

# A catalog cache exactly as the daemon wrote it before the inventory became CodeTables
# (its rows in the API's order; indented here): a kiosk upgraded while offline must still
# sell from it.
OLD_CACHE = r"""
{
 "agency_name": "AGENCIA EL TREBOL",
 "close_margin_s": 0.0,
 "entity_id": 213,
 "fetched_at": 1729700940.0,
 "footer": "Caduca a los 3 d\u00edas\nGracias por su compra",
 "format": 1,
 "header": "LOTER\u00cdA DEMO\nRIF J-00000000-0",
 "inventory": [
  {
   "code": "44401",
   "game_id": 3,
   "wager": "444-ARI"
  },
  {
   "code": "44402",
   "game_id": 3,
   "wager": "444-TAU"
  },
  {
   "code": "341",
   "game_id": 1,
   "wager": "341"
  },
  {
   "code": "007",
   "game_id": 1,
   "wager": "007"
  },
  {
   "code": "120",
   "game_id": 1,
   "wager": "120"
  },
  {
   "code": "00",
   "game_id": 5,
   "wager": "00"
  }
 ],
 "products": [
  {
   "active": true,
   "closes_at": 1729713600.0,
   "event_at": 1729713600.0,
   "event_id": 23301,
   "game_category": "lottery",
   "id": 1,
   "limits": {
    "amount_multiple": 1,
    "commission": 10,
    "game_id": 1,
    "max_bet": 99,
    "max_permutations": 6,
    "max_sequence_size": 10,
    "max_sequences": 2,
    "min_bet": 1,
    "product_id": 1,
    "ticket_max_wagers": 100
   },
   "lottery": "LOTER\u00cdA DEL ZULIA",
   "name": "TRIPLE ZAMORANO"
  },
  {
   "active": true,
   "closes_at": 1729716300.0,
   "event_at": 1729716300.0,
   "event_id": 23302,
   "game_category": "lottery",
   "id": 2,
   "limits": {
    "amount_multiple": 5,
    "commission": 10,
    "game_id": 1,
    "max_bet": 500,
    "max_permutations": 6,
    "max_sequence_size": 10,
    "max_sequences": 2,
    "min_bet": 5,
    "product_id": 2,
    "ticket_max_wagers": 3
   },
   "lottery": "LOTER\u00cdA DEL ZULIA",
   "name": "TRIPLE ZULIA"
  },
  {
   "active": true,
   "closes_at": 1729724400.0,
   "event_at": 1729724400.0,
   "event_id": 23303,
   "game_category": "lottery",
   "id": 3,
   "limits": {
    "amount_multiple": 1,
    "commission": 10,
    "game_id": 3,
    "max_bet": 99,
    "max_permutations": 6,
    "max_sequence_size": 10,
    "max_sequences": 2,
    "min_bet": 1,
    "product_id": 3,
    "ticket_max_wagers": 100
   },
   "lottery": "LOTER\u00cdA DEL ZULIA",
   "name": "ZOD\u00cdACO DEL ZULIA"
  }
 ],
 "seconds_to_cancel": 180,
 "ticket_expiration_days": 3,
 "time_zone": "America/Caracas"
}
"""


def _dict_inventory(rows) -> dict[int, dict[str, str]]:
    """The inventory as the catalog kept it before: a dict per game, the last wager wins."""
    out: dict[int, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r.game_id, {})[r.code] = r.wager
    return out


def test_compact_inventory_answers_every_lookup_as_the_dicts_did(catalog):
    rows = samples.inventory()
    reference = _dict_inventory(rows)
    assert set(catalog.inventory) == set(reference)
    for game, table in reference.items():
        compact = catalog.inventory[game]
        assert isinstance(compact, cat.CodeTable)
        assert len(compact) == len(table)
        assert compact == table  # every pair, through lookups
        assert dict(compact.pairs()) == table
        for code, wager in table.items():
            assert catalog.wager_for_code(game, code) == wager
    near_misses = ["", "3410", "34", "44400", "4440", "444-ARI ", "999999", "zz", "00000", "-1"]
    for game, table in reference.items():
        for code in near_misses:
            assert catalog.wager_for_code(game, code) == table.get(code), (game, code)
    assert 341 not in catalog.inventory[1]  # not a text: absent, not an error
    assert catalog.wager_for_code(77, "341") is None


def test_compact_inventory_validates_drafts_as_before(catalog):
    reference = _dict_inventory(samples.inventory())
    for product, game in ((1, 1), (3, 3), (30, 5)):
        codes = [*list(reference[game])[::97], "3410", "4441", "37", ""]
        for code in codes:
            result = validate(catalog, [DraftWager(product, code, 10)], NOW)
            if code in reference[game]:
                event = catalog.products[product].event_id
                assert result == [WagerRequest(10, event, game, reference[game][code])], code
            else:
                assert reason(result) == cat.BAD_WAGER_CODE, code


def test_a_code_given_twice_keeps_the_last_wager_as_a_dict_did():
    table = cat.CodeTable([("b", "1"), ("a", "2"), ("b", "3")])
    assert dict(table) == {"a": "2", "b": "3"}
    assert list(table) == ["a", "b"]
    assert table.get("c") is None and len(cat.CodeTable()) == 0


def test_a_cache_written_before_the_compact_inventory_still_loads_and_sells():
    old = Catalog.from_json(json.loads(OLD_CACHE))
    assert validate(old, [DraftWager(3, "44401", 5), DraftWager(1, "007", 5)], NOW) == [
        WagerRequest(amount=5, event_id=23303, game_id=3, wager="444-ARI"),
        WagerRequest(amount=5, event_id=23301, game_id=1, wager="007"),
    ]
    assert reason(validate(old, [DraftWager(1, "008", 5)], NOW)) == cat.BAD_WAGER_CODE
    rows = json.loads(OLD_CACHE)["inventory"]
    assert old.inventory == {
        g: {r["code"]: r["wager"] for r in rows if r["game_id"] == g} for g in (1, 3, 5)
    }
    # ... and this version writes the tables themselves (format 2, issue 19: CPU to READY),
    # which read back to the same inventory. (Until issue 19's start-up work it wrote the rows
    # again, so that an older kioskd could read its cache; an older one now finds format 2
    # unsupported and waits for a fresh catalog, as with any unreadable cache.)
    again = old.to_json()
    assert again["format"] == 2 and "inventory" not in again
    assert {t["game_id"] for t in again["inventory_tables"]} == {1, 3, 5}
    assert Catalog.from_json(json.loads(json.dumps(again))).inventory == old.inventory


def test_the_cache_keeps_each_table_whole_and_reads_it_back(catalog):
    data = json.loads(json.dumps(catalog.to_json()))
    parts = {t["game_id"]: t for t in data["inventory_tables"]}
    assert set(parts) == set(catalog.inventory)
    table = catalog.inventory[3]
    assert parts[3]["codes"] == "".join(table) and parts[3]["wagers"] == "".join(table.values())
    again = Catalog.from_json(data)
    assert again == catalog and isinstance(again.inventory[3], cat.CodeTable)
    # A catalog row of format 1 with an inventory row of tables (a crash between the daemon's
    # two cache writes) loads too.
    mixed = {**data, "format": 1}
    assert Catalog.from_json(mixed).inventory == catalog.inventory


@pytest.mark.parametrize(
    "damage",
    [
        {"code_at": "AAAA"},  # offsets that do not reach the end of the text
        {"codes": "x"},  # a text the offsets do not cut
        {"wager_at": "not base64!"},
        {"code_at": None},
    ],
)
def test_a_garbled_table_in_the_cache_is_refused(catalog, damage):
    data = json.loads(json.dumps(catalog.to_json()))
    data["inventory_tables"][0].update(damage)
    with pytest.raises((ValueError, TypeError)):
        Catalog.from_json(data)


def test_offsets_out_of_order_are_refused():
    parts = cat.CodeTable([("a", "1"), ("bb", "22"), ("c", "3")]).to_parts()
    at = cat._u32_array(parts["code_at"])
    assert list(at) == [0, 1, 3, 4]
    at[1], at[2] = at[2], at[1]  # ends where the text does, but backwards in between
    with pytest.raises(ValueError, match="offsets"):
        cat.CodeTable.from_parts({**parts, "code_at": cat._u32_text(at)})


def _with_closes(catalog: Catalog, *closes: tuple[bool, float | None]) -> Catalog:
    """The catalog's products made (active, closes_at) as given, in order."""
    products = {}
    for (pid, p), (active, at) in zip(catalog.products.items(), closes, strict=False):
        products[pid] = dataclasses.replace(p, active=active, closes_at=at)
    return dataclasses.replace(catalog, products=products)


def test_the_next_refresh_comes_just_after_the_next_close(catalog):
    """A product whose draw closed sells again only once a refresh finds its next draw: the
    catalog asks for one AFTER_CLOSE_S after the earliest close ahead, CLOSED_RETRY_S while a
    closed draw has no successor yet, `refresh_s` otherwise; inactive products do not count."""
    assert len(catalog.products) >= 3
    far = _with_closes(catalog, (True, NOW + 9000), (True, None), (False, NOW - 50))
    assert far.refresh_in(NOW, 300.0) == 300.0
    soon = _with_closes(catalog, (True, NOW + 9000), (True, NOW + 100), (False, NOW - 50))
    assert soon.refresh_in(NOW, 300.0) == 100 + cat.AFTER_CLOSE_S
    closed = _with_closes(catalog, (True, NOW + 100), (True, NOW - 1), (True, NOW + 9000))
    assert closed.refresh_in(NOW, 300.0) == cat.CLOSED_RETRY_S
    # A closed draw the API never replaces (the day's last one, overnight) stops the retries
    # CLOSED_RETRY_FOR_S after its close: each refresh downloads the whole inventory.
    long_closed = _with_closes(
        catalog, (True, NOW - cat.CLOSED_RETRY_FOR_S - 1), (True, None), (True, NOW + 9000)
    )
    assert long_closed.refresh_in(NOW, 300.0) == 300.0
    now_closing = _with_closes(catalog, (True, NOW + 0.5), (True, None), (True, None))
    assert now_closing.refresh_in(NOW, 300.0) == 0.5 + cat.AFTER_CLOSE_S
    assert now_closing.refresh_in(NOW + 10, 1.0) == cat.MIN_REFRESH_S  # never a busy loop
