"""Every response example of the seed parses into its model; broken shapes raise BadResponse."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from kioskd.banklot import models as m
from kioskd.banklot.errors import BadResponse, InDoubt

from . import seed_examples as seed


def test_lookup_ticket_parses_every_field() -> None:
    t = m.Ticket.from_json(seed.LOOKUP["response"])
    assert t.ticket_number == 32426439
    assert t.pin_number == 76479163
    assert t.created_at == 1729587036
    assert t.amount == 18 and t.num_wagers == 6 and len(t.wagers) == 6
    assert t.status == "sold"
    assert (t.entity_id, t.parent_id, t.entity_name, t.parent_name) == (213, 212, "test-1", "test")
    w = t.wagers[3]
    assert (w.amount, w.event_id, w.current_event_id, w.game_id, w.list_id) == (
        3,
        23147,
        23310,
        3,
        3,
    )
    assert (w.wager, w.status, w.event_name, w.p_event_time) == (
        "444-ARI",
        "sold",
        "ZODÍACO DEL ZULIA",
        "12:45 pm",
    )


def test_last_ticket_with_null_list_id() -> None:
    t = m.Ticket.from_json(seed.LAST["response"])
    assert t.ticket_number == 10063292 and t.amount == 66
    assert [w.wager for w in t.wagers] == ["0", "1", "2"]
    assert all(w.list_id is None for w in t.wagers)


def test_pin_never_in_repr_or_str() -> None:
    t = m.Ticket.from_json(seed.LOOKUP["response"])
    assert "76479163" not in repr(t)
    assert "76479163" not in str(t)
    assert "pin" not in repr(t)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (["sold", "sold"], "sold"),
        (["canceled", "canceled"], "canceled"),
        (["winner", "loser"], "winner"),
        (["paid", "loser"], "paid"),
        (["sold", "loser"], "sold"),
        (["expired", "expired"], "expired"),
        ([None], "sold"),
    ],
)
def test_ticket_status_derived_from_wagers(statuses: list, expected: str) -> None:
    raw = copy.deepcopy(seed.LAST["response"])
    raw["wagers"] = raw["wagers"][: len(statuses)]
    for w, s in zip(raw["wagers"], statuses, strict=True):
        w["status"] = s
    assert m.Ticket.from_json(raw).status == expected


def test_top_level_status_wins_and_unknown_status_is_kept() -> None:
    raw = copy.deepcopy(seed.LOOKUP["response"])
    raw["status"] = "quarantined"
    assert m.Ticket.from_json(raw).status == "quarantined"


def test_unknown_extra_fields_tolerated() -> None:
    raw = copy.deepcopy(seed.LOOKUP["response"])
    raw["new_field"] = {"x": [1, 2]}
    raw["wagers"][0]["odds"] = 1.5
    assert m.Ticket.from_json(raw).ticket_number == 32426439


@pytest.mark.parametrize("field", ["ticket_number", "created_at"])
def test_missing_required_field_names_it(field: str) -> None:
    raw = copy.deepcopy(seed.LOOKUP["response"])
    del raw[field]
    with pytest.raises(BadResponse, match=f"Ticket.{field}: missing"):
        m.Ticket.from_json(raw)


def test_wrong_type_names_path_not_value() -> None:
    raw = copy.deepcopy(seed.LOOKUP["response"])
    raw["wagers"][2]["amount"] = "3"
    with pytest.raises(BadResponse) as info:
        m.Ticket.from_json(raw)
    assert "Ticket.wagers[2].amount: expected number, got str" in str(info.value)
    assert isinstance(info.value, InDoubt)


def test_wrong_pin_type_never_shows_the_value() -> None:
    raw = copy.deepcopy(seed.LOOKUP["response"])
    raw["pin_number"] = "76479163"
    with pytest.raises(BadResponse) as info:
        m.Ticket.from_json(raw)
    assert "pin_number" in str(info.value)
    assert "76479163" not in str(info.value)


@pytest.mark.parametrize("value", [True, 12.5, "12", [12], None])
def test_ints_are_strict(value: object) -> None:
    raw = copy.deepcopy(seed.LOOKUP["response"])
    raw["ticket_number"] = value
    with pytest.raises(BadResponse, match=r"Ticket\.ticket_number"):
        m.Ticket.from_json(raw)


def test_not_an_object() -> None:
    with pytest.raises(BadResponse, match="Ticket: expected object, got list"):
        m.Ticket.from_json([1, 2])


@pytest.mark.parametrize("example", [seed.LIST_CANCELED, seed.LIST_WINNER, seed.LIST_WAGER])
def test_ticket_list_rows(example: dict) -> None:
    rows = m.parse_list(example["response"], m.TicketSummary)
    assert len(rows) == 1
    raw = example["response"][0]
    row = rows[0]
    assert (row.ticket_number, row.status, row.total, row.prize, row.id) == (
        raw["ticket_number"],
        raw["status"],
        raw["total"],
        raw["prize"],
        raw["id"],
    )
    assert row.email == "username@banklot.net" and row.user_id == 864


def test_parse_list_names_bad_index() -> None:
    rows = copy.deepcopy(seed.LIST_WINNER["response"]) * 3
    rows[2] = {"ticket_number": 1}
    with pytest.raises(BadResponse, match=r"response\[2\]\.created_at: missing"):
        m.parse_list(rows, m.TicketSummary)
    with pytest.raises(BadResponse, match="response: expected list, got dict"):
        m.parse_list({}, m.TicketSummary)


def test_entity_data() -> None:
    e = m.EntityData.from_json(seed.GET_DATA["response"])
    assert (e.entity_id, e.name, e.status) == (213, "test-1", "active")
    assert e.seconds_to_cancel == 180 and e.ticket_expiration_days == 3
    assert e.time_zone == "America/Caracas" and e.header == "123" and e.footer == "123"
    assert e.games == ("animalitos77", "animalitos", "tripleta", "lottery")
    assert sorted(e.limits) == [1, 2, 3]
    lim = e.limits[2]
    assert (lim.game_id, lim.min_bet, lim.max_bet, lim.amount_multiple) == (1, 1, 99, 1)
    assert (lim.ticket_max_wagers, lim.max_permutations, lim.commission) == (100, 6, 10)


def test_entity_data_unknown_zone_is_bad_response() -> None:
    raw = copy.deepcopy(seed.GET_DATA["response"])
    raw["entity_data"]["time_zone"] = "Mars/Olympus"
    with pytest.raises(BadResponse, match="time_zone: unknown"):
        m.EntityData.from_json(raw)


def test_entity_data_missing_block() -> None:
    raw = copy.deepcopy(seed.GET_DATA["response"])
    del raw["entity_data"]
    with pytest.raises(BadResponse, match=r"EntityData\.entity_data: missing"):
        m.EntityData.from_json(raw)


def test_copy_proposal_and_its_requests() -> None:
    p = m.CopyProposal.from_json(seed.COPY["response"])
    assert p.ticket_number == 71998218 and p.num_wagers == 1
    assert p.ticket_uuid == "362a5a41-2ac4-4c8f-a8f7-a907f86e4426"
    w = p.wagers[0]
    assert (w.old_event_id, w.event_id, w.wager, w.amount, w.game_id) == (18748, 23335, "001", 5, 1)
    assert p.to_requests() == (m.WagerRequest(5, 23335, 1, "001"),)


def test_report_totals() -> None:
    r = m.ReportTotals.from_json(seed.REPORTS["total"])
    assert (r.sale, r.prize, r.balance, r.agency, r.parent_balance) == (0, 0, 0, 0, 0)
    r2 = m.ReportTotals.from_json({"sale": 40.0, "prize": 0, "balance": 37.5})
    assert r2.sale == 40 and isinstance(r2.sale, int) and r2.balance == 37.5


def test_draw_results() -> None:
    rows = m.parse_list(seed.RESULTS["response"], m.DrawResult)
    assert [r.id for r in rows] == [18697, 18732, 18731]
    z = rows[1]
    assert (z.main_result, z.list_name, z.list_id, z.zodiac) == ("000-ACU", "C", 3, True)
    assert z.event_timestamp == 1726603200 and z.closing_timestamp == 1729713300
    assert z.result_created_at == pytest.approx(1726545660.192719)
    assert rows[0].zodiac is False and rows[0].game_category == "animalitos"


def test_inventory_codes() -> None:
    rows = m.parse_list(seed.INVENTORY["response"], m.InventoryCode)
    assert rows == (m.InventoryCode(1, "001", "001"), m.InventoryCode(1, "002", "002"))


def test_products() -> None:
    rows = m.parse_list(seed.PRODUCTS["response"], m.Product)
    assert [p.id for p in rows] == [17, 30, 18, 27, 2, 1]
    p = rows[0]
    assert (p.name, p.lottery, p.game_category, p.status) == (
        "TRIPLE DORADO",
        "LOTERIA DE GUAYANA",
        "lottery",
        "active",
    )
    assert (p.open_event_id, p.open_event_date, p.open_event_time) == (
        23286,
        "2024-10-23",
        "14:00:00",
    )
    assert (p.next_event_date, p.next_event_time) == ("2024-10-24", "12:00:00")
    assert rows[3].next_event_time is None
    closed = dict(seed.PRODUCTS["response"][0], data=[])
    assert m.Product.from_json(closed).open_event_id is None


def test_kiosk_event_like_result_row() -> None:
    e = m.KioskEvent.from_json(seed.RESULTS["response"][0])
    assert (e.id, e.game_product_id, e.closing_timestamp) == (18697, 6, 1729713300)


def test_pay_and_cancel_results() -> None:
    p = m.PayResult.from_json({"ticket_number": 1, "status": "paid", "prize": 330, "paid_at": 5})
    assert (p.ticket_number, p.status, p.prize, p.paid_at) == (1, "paid", 330, 5)
    c = m.CancelResult.from_json({"ticket_number": 1, "status": "canceled"})
    assert c == m.CancelResult(1, "canceled")
    with pytest.raises(BadResponse, match=r"PayResult\.prize: missing"):
        m.PayResult.from_json({"ticket_number": 1})


@pytest.mark.parametrize(
    ("payload", "unix"),
    [
        (1729664000, 1729664000),
        ({"unix": 1729664000.5}, 1729664000.5),
        ({"time": "2024-10-23T06:13:20Z"}, 1729664000),
        ({"now": {"seconds": 1729664000}}, 1729664000),
        ("2024-10-23T02:13:20-04:00", 1729664000),
    ],
)
def test_server_time_shapes(payload: object, unix: float) -> None:
    assert m.ServerTime.from_json(payload).unix == unix


@pytest.mark.parametrize("payload", [{}, {"time": "yesterday"}, "2024-10-23T02:13:20", True])
def test_server_time_bad(payload: object) -> None:
    with pytest.raises(BadResponse):
        m.ServerTime.from_json(payload)


def test_wager_request_validates() -> None:
    assert m.WagerRequest(20, 18859, 1, "341").to_json() == seed.CREATE_REQUEST["ticket"]["wagers"][
        0
    ] | {"amount": 20}
    with pytest.raises(ValueError):
        m.WagerRequest(0, 1, 1, "341")
    with pytest.raises(TypeError):
        m.WagerRequest(True, 1, 1, "341")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        m.WagerRequest(5, 1, 1, "")


DECLARATIVE = (
    m.Wager, m.TicketSummary, m.PayResult, m.CancelResult, m.CopiedWager, m.GameLimits,
    m.Product, m.KioskEvent, m.InventoryCode, m.DrawResult, m.ReportTotals,
)  # fmt: skip
GOOD = {"int": 1, "str": "x", "bool": True, "float": 1.5, "int | float": 2, "Money": 3, "Stamp": 4}


@pytest.mark.parametrize("model", DECLARATIVE, ids=lambda c: c.__name__)
def test_every_declared_field_names_itself_when_it_has_the_wrong_type(model) -> None:
    """The one declarative reader: each field of the wrong type is named `Model.key`."""
    slot = ("open_", "next_")  # Product's event fields come from its data[0]
    plan = [(key, str(f.type).removesuffix(" | None")) for f, (_, key, *_r) in
            zip(dataclasses.fields(model), m._plan(model), strict=True)
            if _r[0] is not None and not key.startswith(slot)]  # fmt: skip
    good = {key: GOOD[declared] for key, declared in plan}
    assert isinstance(model.from_json(good), model)
    for key, _ in plan:
        with pytest.raises(BadResponse, match=rf"^{model.__name__}\.{key}: expected "):
            model.from_json({**good, key: [1]})


@pytest.mark.parametrize(
    "field,value",
    [
        ("ticket_number", 2**64 + 1),
        ("ticket_number", 2**63),
        ("ticket_number", -1),
        ("pin_number", 2**64),
        ("amount", 2**64),
        ("amount", -5),
        ("amount", 2**53 + 1),
        ("created_at", 2**64),
    ],
)
def test_ticket_numbers_and_amounts_are_range_checked(field: str, value: int) -> None:
    """Item 4 (Why: a ticket number or amount beyond 64 bits left the operation stuck in
    `sending`): out of range is a BadResponse before anything can store it, naming the field
    and never the value (a PIN)."""
    with pytest.raises(BadResponse) as info:
        m.Ticket.from_json({**seed.LAST["response"], field: value})
    assert field in str(info.value) and str(value) not in str(info.value)


def test_wager_amount_and_list_rows_beyond_64_bits_are_refused() -> None:
    wagers = [{**seed.LAST["response"]["wagers"][0], "amount": 2**64}]
    with pytest.raises(BadResponse):
        m.Ticket.from_json({**seed.LAST["response"], "wagers": wagers})
    row = {"ticket_number": 2**64, "created_at": 1, "status": "sold", "total": 5}
    with pytest.raises(BadResponse):
        m.TicketSummary.from_json(row)
    with pytest.raises(BadResponse):
        m.PayResult.from_json({"ticket_number": 1, "prize": 2**70})
