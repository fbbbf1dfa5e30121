"""Ticket rules: validation, draws and winners, pay, cancel, revert, reports, ledger."""

from __future__ import annotations

import pytest

from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.simulator import Simulator

from .helpers import DAY, Api


def create_body(*wagers: tuple[int, int, int, str]) -> dict:
    return {
        "ticket": {
            "wagers": [
                {"amount": a, "event_id": e, "game_id": g, "wager": w} for a, e, g, w in wagers
            ]
        }
    }


@pytest.mark.parametrize(
    ("wager", "error"),
    [
        ((150, 1, 1, "341"), "wager amount 150 above max_bet 99 for product 1"),
        ((0, 1, 1, "341"), "wager amount 0 below min_bet 1 for product 1"),
        ((3, 6, 5, "7"), "wager amount 3 not a multiple of 2 for product 6"),
        ((5, 1, 1, "1000"), "wager '1000' is not in the inventory of game 1"),
        ((5, 3, 3, "444"), "wager '444' is not in the inventory of game 3"),
        ((4, 6, 5, "37"), "wager '37' is not in the inventory of game 5"),
        ((5, 1, 5, "1"), "wager game_id 5 does not match event"),
    ],
)
async def test_create_rejects_wagers_outside_limits(authed: Api, sim: Simulator, wager, error):
    amount, product, game, text = wager
    event_id = sim.open_events()[product]
    status, body = await authed.post(
        "/user/ticket/create", create_body((amount, event_id, game, text))
    )
    assert status == 400 and body["status"] == 400
    assert body["error"].startswith(error)
    assert sim.ledger()["tickets"] == []


async def test_create_rejects_too_many_wagers(authed: Api, sim: Simulator):
    ev = sim.open_events()[6]
    wagers = [(2, ev, 5, str(n)) for n in range(1, 22)]
    status, body = await authed.post("/user/ticket/create", create_body(*wagers))
    assert (status, body["error"]) == (400, "wager count above ticket_max_wagers 20 for product 6")
    status, _ = await authed.post("/user/ticket/create", create_body(*wagers[:20]))
    assert status == 201


@pytest.mark.parametrize(
    "body",
    [{}, {"ticket": {"wagers": []}}, create_body((5, 1, 1, "341"))["ticket"],
     {"ticket": {"wagers": [{"amount": "5", "event_id": 1, "game_id": 1, "wager": "341"}]}},
     {"ticket": {"wagers": [{"amount": 5, "event_id": 1, "game_id": 1, "wager": 341}]}}],
)  # fmt: skip
async def test_create_rejects_malformed_bodies(authed: Api, body):
    status, reply = await authed.post("/user/ticket/create", body)
    assert status == 400 and reply["error"].startswith("wager")


async def test_create_names_every_closed_event(authed: Api, sim: Simulator):
    open1 = sim.open_events()[1]
    past = open1 - catalog.SLOTS_PER_DAY  # the same draw yesterday
    future = catalog.next_event(catalog.event(open1)).id  # not open yet
    body = create_body((5, open1, 1, "341"), (5, future, 1, "1"), (5, past, 1, "2"))
    status, reply = await authed.post("/user/ticket/create", body)
    assert status == 409
    assert reply["error"] == f"events are not open. closed events: [{past}, {future}]"


async def test_event_closes_at_its_time(authed: Api, sim: Simulator):
    ev = catalog.event(sim.open_events()[1])
    sim.set_time(ev.closing_ts - 1)
    await authed.login()
    await authed.sell((5, ev.id, 1, "341"))
    sim.advance(1)
    status, reply = await authed.post("/user/ticket/create", create_body((5, ev.id, 1, "341")))
    assert status == 409 and str(ev.id) in reply["error"]


async def test_numbers_and_pins_are_unique_8_digits(authed: Api, sim: Simulator):
    ev = sim.open_events()[6]
    numbers = set()
    for i in range(60):
        t = await authed.sell((2, ev, 5, str(i % 36 + 1)))
        assert len(str(t["ticket_number"])) == 8 and len(str(t["pin_number"])) == 8
        numbers.add(t["ticket_number"])
    assert len(numbers) == 60


async def drawn(authed: Api, sim: Simulator, product: int, result: str, *wagers) -> dict:
    """Sell `wagers` (amount, game, wager) on the product's open event, force its draw to
    `result` and let the result be posted."""
    ev = catalog.event(sim.open_events()[product])
    sold = await authed.sell(*((amount, ev.id, game, w) for amount, game, w in wagers))
    sim.force_result(ev.id, result)
    sim.set_time(ev.result_ts)
    await authed.login()
    return sold


async def winner(authed: Api, sim: Simulator, amount: int = 5) -> dict:
    """Sell 341 on product 1, force the draw to 341 and let the result be posted."""
    return await drawn(authed, sim, 1, "341", (amount, 1, "341"), (2, 1, "777"))


def pay_body(t: dict, pin: int | None = None, date: str = "2024-10-22") -> dict:
    pin = t["pin_number"] if pin is None else pin
    return {"ticket_number": t["ticket_number"], "pin_number": pin, "date": date}


async def test_winner_is_paid_once(authed: Api, sim: Simulator):
    sold = await winner(authed, sim)
    status, body = await authed.post("/user/ticket", {"ticket_number": sold["ticket_number"],
                                                      "date": "2024-10-22"})  # fmt: skip
    t = body["response"]
    assert t["status"] == "winner" and t["prize"] == 5 * 600
    assert [w["status"] for w in t["wagers"]] == ["winner", "loser"]
    status, body = await authed.post("/user/ticket/pay", pay_body(sold, pin=12345678))
    assert (status, body) == (400, {"status": 400, "error": "invalid pin"})
    status, body = await authed.post("/user/ticket/pay", pay_body(sold))
    assert status == 200
    assert body["response"] == {
        "ticket_number": sold["ticket_number"], "status": "paid", "prize": 3000,
        "paid_at": int(sim.now()),
    }  # fmt: skip
    status, body = await authed.post("/user/ticket/pay", pay_body(sold))
    assert (status, body) == (400, {"status": 400, "error": "ticket already paid"})
    ledger = sim.ledger()
    assert ledger["payments"] == [{"ticket_number": sold["ticket_number"], "prize": 3000,
                                   "paid_at": int(sim.now()), "id": sold["id"]}]  # fmt: skip
    assert ledger["tickets"][0]["status"] == "paid"


async def test_loser_is_not_a_winner_after_the_draw(authed: Api, sim: Simulator):
    sold = await drawn(authed, sim, 1, "342", (5, 1, "341"))
    assert await authed.post("/user/ticket/pay", pay_body(sold)) == (
        200,
        {"status": 200, "error": "not a winner"},
    )
    assert sim.ledger()["tickets"][0]["wagers"][0]["status"] == "loser"


async def test_result_forced_after_close_is_posted_at_once(authed: Api, sim: Simulator):
    ev = catalog.event(sim.open_events()[6])
    sold = await authed.sell((10, ev.id, 5, "00"))
    sim.set_time(ev.closing_ts)
    await authed.login()
    assert sim.force_result(ev.id, "00")["posted"] is True
    status, body = await authed.post("/user/ticket/pay", pay_body(sold))
    assert status == 200 and body["response"]["prize"] == 10 * 30


async def test_zodiac_winner_pays_6000(authed: Api, sim: Simulator):
    sold = await drawn(authed, sim, 3, "444-ARI", (2, 3, "44401"))
    assert (await authed.post("/user/ticket/pay", pay_body(sold)))[1]["response"]["prize"] == 12000


async def test_results_are_drawn_from_the_seed(sim: Simulator, clock):
    ev = catalog.event(sim.open_events()[1])
    other = Simulator(seed=7, clock=clock)
    third = Simulator(seed=8, clock=clock)
    draws = [sim.result_of(ev.id + k * catalog.SLOTS_PER_DAY) for k in range(20)]
    assert draws == [other.result_of(ev.id + k * catalog.SLOTS_PER_DAY) for k in range(20)]
    assert draws != [third.result_of(ev.id + k * catalog.SLOTS_PER_DAY) for k in range(20)]


async def test_pay_after_expiration_days(authed: Api, sim: Simulator):
    first = await winner(authed, sim)
    second = await winner(authed, sim)  # the 16:00 draw, same local day
    assert catalog.local_day(first["created_at"]) == catalog.local_day(second["created_at"])
    last_day_end = catalog.day_start(catalog.local_day(first["created_at"])) + 4 * 86400
    sim.set_time(last_day_end - 1)
    await authed.login()
    status, body = await authed.post("/user/ticket/pay", pay_body(first))
    assert status == 200 and body["response"]["status"] == "paid"  # the last day still pays
    sim.advance(1)
    await authed.login()
    assert await authed.post("/user/ticket/pay", pay_body(second)) == (
        400,
        {"status": 400, "error": "ticket expired"},
    )


async def test_cancel_only_inside_seconds_to_cancel(authed: Api, sim: Simulator):
    ev = sim.open_events()[1]
    a = await authed.sell((5, ev, 1, "341"))
    b = await authed.sell((5, ev, 1, "342"))
    sim.advance(180)
    status, body = await authed.post("/user/ticket/cancel", {"ticket_number": a["ticket_number"]})
    assert status == 200 and body["response"]["status"] == "canceled"
    sim.advance(1)
    status, body = await authed.post("/user/ticket/cancel", {"ticket_number": b["ticket_number"]})
    assert (status, body) == (400, {"status": 400, "error": "cancel window passed"})
    status, body = await authed.post("/user/ticket/cancel", {"ticket_number": a["ticket_number"]})
    assert (status, body["error"]) == (401, "ticket already rejected by user")
    ledger = sim.ledger()
    assert [c["ticket_number"] for c in ledger["cancellations"]] == [a["ticket_number"]]
    assert ledger["tickets"][0]["canceled_at"] == int(sim.now()) - 1


async def test_revert_has_no_cancel_window_but_needs_open_draws(authed: Api, sim: Simulator):
    ev = catalog.event(sim.open_events()[1])
    a = await authed.sell((5, ev.id, 1, "341"))
    b = await authed.sell((5, ev.id, 1, "342"))
    sim.advance(600)
    status, body = await authed.post("/user/ticket/revert", {"ticket_number": a["ticket_number"]})
    assert status == 200 and body["response"] == {"ticket_number": a["ticket_number"],
                                                  "status": "canceled"}  # fmt: skip
    sim.set_time(ev.closing_ts)
    await authed.login()
    status, body = await authed.post("/user/ticket/revert", {"ticket_number": b["ticket_number"]})
    assert (status, body["error"]) == (400, "cancel window passed")
    assert sim.ledger()["cancellations"][0]["via"] == "revert"


async def test_canceled_ticket_is_not_paid_nor_a_winner(authed: Api, sim: Simulator):
    ev = catalog.event(sim.open_events()[1])
    sold = await authed.sell((5, ev.id, 1, "341"))
    await authed.post("/user/ticket/cancel", {"ticket_number": sold["ticket_number"]})
    sim.force_result(ev.id, "341")
    sim.set_time(ev.result_ts)
    await authed.login()
    status, body = await authed.post("/user/ticket/pay", pay_body(sold))
    assert (status, body["error"]) == (401, "ticket already rejected by user")


async def test_reports_are_consistent_with_tickets(authed: Api, sim: Simulator):
    win = await winner(authed, sim, amount=4)  # lottery: 4 + 2, prize 2400
    sim.advance(60)
    ev = sim.open_events()
    jungla = await authed.sell((10, ev[6], 5, "5"), (6, ev[6], 5, "00"))
    canceled = await authed.sell((20, ev[2], 1, "123"))
    await authed.post("/user/ticket/cancel", {"ticket_number": canceled["ticket_number"]})
    assert win and jungla

    async def totals(category: str | None) -> dict:
        body = {"between_timestamp": DAY, "group": "user"}
        if category:
            body["category"] = category
        status, reply = await authed.post("/gaming/reports", body)
        assert status == 200 and reply["status"] == 200
        return reply["total"]

    lottery = await totals("lottery")
    assert (lottery["sale"], lottery["prize"]) == (6, 2400)
    assert lottery["agency"] == 0 and lottery["balance"] == 6 - 2400
    animal = await totals("animalitos")
    assert (animal["sale"], animal["prize"], animal["agency"]) == (16, 0, 1)
    assert animal["balance"] == 15 and animal["parent_balance"] == 16
    both = await totals(None)
    assert both["sale"] == 22 and both["prize"] == 2400
    # the same numbers from the ledger
    ledger = sim.ledger()["tickets"]
    assert sum(t["amount"] for t in ledger if t["status"] != "canceled") == both["sale"]
    assert sum(t["prize"] for t in ledger) == both["prize"]


async def test_foreign_ticket_becomes_last(authed: Api, sim: Simulator):
    mine = await authed.sell((5, sim.open_events()[1], 1, "341"))
    foreign = sim.foreign_ticket()
    assert foreign["ticket_number"] != mine["ticket_number"]
    status, body = await authed.post("/user/ticket/last")
    assert status == 202 and body["response"]["ticket_number"] == foreign["ticket_number"]
    origins = [(t["ticket_number"], t["origin"]) for t in sim.ledger()["tickets"]]
    assert origins == [(mine["ticket_number"], "api"), (foreign["ticket_number"], "foreign")]


async def test_current_event_id_follows_the_open_event(authed: Api, sim: Simulator):
    ev = catalog.event(sim.open_events()[1])
    sold = await authed.sell((5, ev.id, 1, "341"))
    sim.set_time(ev.closing_ts)
    await authed.login()
    body = {"ticket_number": sold["ticket_number"], "date": "2024-10-22"}
    wager = (await authed.post("/user/ticket", body))[1]["response"]["wagers"][0]
    assert wager["event_id"] == ev.id
    assert wager["current_event_id"] == catalog.next_event(ev).id


def test_sign_codes_are_keypad_digits():
    assert catalog.normalize_wager(3, "44401") == "444-ARI"
    assert catalog.normalize_wager(3, "00012") == "000-PIS"
    assert catalog.normalize_wager(3, "00013") is None
    assert catalog.normalize_wager(1, "041") == "041"


def test_event_ids_name_product_day_and_time():
    ev = catalog.open_event(catalog.PRODUCTS_BY_ID[2], 1729605600.0)
    again = catalog.event(ev.id)
    assert again == ev
    assert (again.product.id, again.day.isoformat(), again.time) == (2, "2024-10-22", "12:45")
    assert catalog.event(19999) is None
    assert catalog.event(catalog.EVENT_ID_BASE + len(catalog.SLOTS)) is None


def test_each_product_has_one_open_event_that_rolls_to_tomorrow():
    product = catalog.PRODUCTS_BY_ID[1]
    late = catalog.day_start(catalog.local_day(1729605600.0)) + 20 * 3600  # 20:00 local
    ev = catalog.open_event(product, late)
    assert (ev.day.isoformat(), ev.time) == ("2024-10-23", "12:00")
