"""Every Banklot endpoint with the seed's request examples and response shapes (in process)."""

from __future__ import annotations

import httpx
import pytest

from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.app import create_app
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator
from tests.banklot import seed_examples

from .helpers import DAY, EMAIL, Api

TICKET_KEYS = {
    "ticket_number", "pin_number", "num_wagers", "entity_id", "parent_id", "entity_name",
    "parent_name", "created_at", "wagers", "amount",
}  # fmt: skip
WAGER_KEYS = {
    "amount", "current_event_id", "event_id", "event_name", "game_id", "list_id",
    "p_event_time", "status", "wager",
}  # fmt: skip
SUMMARY_KEYS = {
    "id", "ticket_number", "created_at", "user_id", "email", "status", "total", "prize",
    "entity_id", "parent_id", "entity_name", "parent_name",
}  # fmt: skip
RESULT_KEYS = {
    "id", "game_product_id", "name", "event_time", "event_time_utc", "closing_timestamp",
    "game_category", "status", "event_timestamp", "display_order", "main_result",
    "event_status", "result_created_at",
}  # fmt: skip


async def test_login_answers_token_under_response(api: Api):
    status, body = await api.post(
        "/auth/login", {"email": "username@banklot.net", "password": "banklot"}
    )
    assert status == 200
    assert body["status"] == 200
    token = body["response"]["x_auth_token"]
    assert isinstance(token, str) and len(token) == 32


async def test_login_with_wrong_password_is_403(api: Api):
    status, body = await api.post("/auth/login", {"email": EMAIL, "password": "nope"})
    assert (status, body) == (403, {"status": 403, "error": "invalid email or password"})


async def test_calls_without_token_are_403(api: Api):
    status, body = await api.post("/gaming/get-data")
    assert (status, body) == (403, {"status": 403, "error": "token expired"})
    api.token = "0" * 32
    status, body = await api.post("/user/ticket/last")
    assert status == 403 and body["error"] == "token expired"


async def test_logout_ends_the_token(authed: Api):
    status, body = await authed.get("/auth/logout")
    assert status == 200 and body["status"] == 200
    status, body = await authed.post("/gaming/get-data")
    assert status == 403 and body["error"] == "token expired"


async def test_get_data_matches_the_seed(authed: Api):
    status, body = await authed.post("/gaming/get-data")
    assert status == 200
    data = body["response"]
    assert data["entity_id"] == 213 and data["name"] == "test-1" and data["status"] == "active"
    assert data["games"] == ["animalitos77", "animalitos", "tripleta", "lottery"]
    ed = data["entity_data"]
    assert ed["seconds_to_cancel"] == 180
    assert ed["time_zone"] == "America/Caracas"
    assert ed["ticket_expiration_days"] == 3
    assert ed["ticket_header"] == "123" and ed["ticket_footer"] == "123"
    first = data["game_data"][0]
    assert first == {
        "amount_multiple": 1, "commission": 10, "game_id": 1, "max_bet": 99,
        "max_permutations": 6, "max_sequence_size": 10, "max_sequences": 2, "min_bet": 1,
        "product_id": 1, "ticket_max_wagers": 100,
    }  # fmt: skip
    assert {g["game_id"] for g in data["game_data"]} == {1, 3, 5}


async def test_products_search_shows_open_and_next_event(authed: Api, sim: Simulator):
    status, body = await authed.post("/gaming/products/search")
    assert status == 201 and body["status"] == 201
    rows = {p["id"]: p for p in body["response"]}
    assert {1, 2, 3, 6} <= set(rows)
    zamorano = rows[1]
    assert zamorano["name"] == "TRIPLE ZAMORANO" and zamorano["game_category"] == "lottery"
    for key in ("lottery", "lottery_id", "status", "quota", "lottery_status"):
        assert key in zamorano
    slot = zamorano["data"][0]
    # 10:00 local: the 12:00 draw is open, 16:00 is next.
    assert (slot["event_date"], slot["event_time"]) == ("2024-10-22", "12:00:00")
    assert (slot["next_event_date"], slot["next_event_time"]) == ("2024-10-22", "16:00:00")
    assert slot["event_id"] == sim.open_events()[1]
    assert rows[6]["game_category"] == "animalitos"


async def test_events_search_kiosk_seed_example_answers_total_zero(authed: Api):
    body = seed_examples.EVENTS_KIOSK_REQUEST
    assert await authed.post("/gaming/events/search/kiosk", body) == (
        201,
        {"status": 201, "total": 0},
    )


async def test_events_search_kiosk_lists_open_events_of_today(authed: Api, sim: Simulator):
    body = {"filter": {"between_created_at": DAY, "game_category": "lottery", "status": "open"}}
    status, reply = await authed.post("/gaming/events/search/kiosk", body)
    assert status == 200
    ids = {row["id"] for row in reply["response"]}
    opened = sim.open_events()
    assert ids == {opened[1], opened[2], opened[3], opened[4]}
    assert all(row["status"] == "open" for row in reply["response"])


async def test_inventory_template_lists_every_code(authed: Api):
    status, body = await authed.post("/gaming/inventory/template")
    assert status == 200
    rows = body["response"]
    assert {"game_id": 1, "wager": "001", "code": "001"} in rows
    assert {"game_id": 3, "wager": "444-ARI", "code": "44401"} in rows
    assert {"game_id": 3, "wager": "444-PIS", "code": "44412"} in rows
    animal = [r["wager"] for r in rows if r["game_id"] == 5]
    assert animal == ["0", "00", *[str(n) for n in range(1, 37)]]
    assert sum(r["game_id"] == 1 for r in rows) == 1000
    assert sum(r["game_id"] == 3 for r in rows) == 12000


async def test_result_seed_example_shape(authed: Api, sim: Simulator):
    sim.set_time(1726700000)  # 2024-09-18: the seed's range has passed
    body = {
        "filter": {"between_created_at": ["2024-08-18T04:00:00.000Z", "2024-09-18T03:59:59.999Z"]},
        "order_by": [{"name": "event_timestamp", "value": "desc"}],
    }
    status, reply = await authed.post("/gaming/result/0", body)
    assert status == 200 and reply["status"] == 200
    rows = reply["response"]
    assert len(rows) == 31 * len(catalog.SLOTS)
    assert set(rows[0]) >= RESULT_KEYS
    stamps = [r["event_timestamp"]["seconds"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    jungla = next(r for r in rows if r["game_product_id"] == 6)
    assert jungla["game_category"] == "animalitos" and jungla["status"] == "result"
    assert jungla["event_status"] == "closed" and "list" not in jungla
    zodiac = next(r for r in rows if r["game_product_id"] == 3)
    assert zodiac["zodiac"] is True and zodiac["list_id"] == 3
    assert zodiac["main_result"][3] == "-" and zodiac["main_result"][4:] in catalog.SIGNS
    triple = next(r for r in rows if r["game_product_id"] == 1)
    assert triple["list"] == "A" and len(triple["main_result"]) == 3


async def test_results_only_after_result_time(authed: Api, sim: Simulator):
    status, reply = await authed.post("/gaming/result/0", {"filter": {"between_created_at": DAY}})
    # 10:00 local: only the 09:00 animalitos draw has a result (posted 09:05).
    assert status == 200 and [r["event_time"] for r in reply["response"]] == ["09:00"]
    sim.set_time(sim.next_result())  # 10:05
    status, reply = await authed.post("/gaming/result/0", {"filter": {"between_created_at": DAY}})
    assert [r["event_time"] for r in reply["response"]] == ["10:00", "09:00"]


async def test_reports_seed_example_answers_zeros(authed: Api):
    body = {
        "between_timestamp": ["2024-06-27T04:00:00.000Z", "2024-06-28T03:59:59.999Z"],
        "group": "user",
        "category": "lottery",
    }
    assert await authed.post("/gaming/reports", body) == (
        200,
        {
            "status": 200,
            "total": {"agency": 0, "balance": 0, "parent_balance": 0, "prize": 0, "sale": 0},
        },
    )


async def test_time_get_with_seed_body(authed: Api, sim: Simulator):
    r = await authed.client.request(
        "GET",
        "/gaming/time",
        headers={"x-auth-token": authed.token or ""},
        json={
            "filter": {"between_created_at": ["2024-04-21", "2024-04-21"]},
            "sort": {"event_timestamp": "desc"},
        },
    )
    assert r.status_code == 200
    reply = r.json()["response"]
    assert reply["unix"] == sim.now() and reply["time_zone"] == "America/Caracas"
    assert (reply["date"], reply["local_time"]) == ("2024-10-22", "10:00:00")


async def test_create_seed_example_is_409_closed(authed: Api):
    body = {
        "ticket": {
            "wagers": [
                {"amount": 2000, "event_id": 18859, "game_id": 1, "wager": "341"},
                {"amount": 2000, "event_id": 18859, "game_id": 1, "wager": "000"},
            ]
        }
    }
    assert await authed.post("/user/ticket/create", body) == (
        409,
        {"status": 409, "error": "events are not open. closed events: [18859]"},
    )


async def test_create_then_lookup_like_the_seed(authed: Api, sim: Simulator):
    ev = sim.open_events()
    sold = await authed.sell((3, ev[3], 3, "444-ARI"), (3, ev[3], 3, "44404"), (22, ev[6], 5, "0"))
    assert set(sold) >= TICKET_KEYS
    assert sold["created_at"] == int(sim.now()) and sold["amount"] == 28
    assert 10_000_000 <= sold["ticket_number"] <= 99_999_999
    assert 10_000_000 <= sold["pin_number"] <= 99_999_999
    w0, w1, w2 = sold["wagers"]
    assert set(w0) >= WAGER_KEYS
    assert (w0["wager"], w1["wager"]) == ("444-ARI", "444-CAN")
    assert w0["event_name"] == "ASTRO ZAMORANO" and w0["p_event_time"] == "12:00 pm"
    assert w0["list_id"] == 3 and w2["list_id"] is None
    assert w0["current_event_id"] == w0["event_id"] and w0["status"] == "sold"
    status, body = await authed.post(
        "/user/ticket", {"ticket_number": sold["ticket_number"], "date": "2024-10-22"}
    )
    assert status == 201 and body["status"] == 201 and body["response"] == sold


async def test_lookup_seed_example_unknown_ticket(authed: Api):
    assert await authed.post("/user/ticket", {"ticket_number": 32426439, "date": "2024-10-22"}) == (
        400,
        {"status": 400, "error": "no rows in result set"},
    )


async def test_lookup_needs_the_local_creation_date(authed: Api, sim: Simulator):
    sold = await authed.sell((5, sim.open_events()[1], 1, "341"))
    status, body = await authed.post(
        "/user/ticket", {"ticket_number": sold["ticket_number"], "date": "2024-10-21"}
    )
    assert status == 400 and body["error"] == "no rows in result set"


async def test_last_is_202_with_pin(authed: Api, sim: Simulator):
    status, body = await authed.post("/user/ticket/last")
    assert (status, body["error"]) == (400, "no rows in result set")
    await authed.sell((5, sim.open_events()[1], 1, "341"))
    sold = await authed.sell((22, sim.open_events()[6], 5, "1"))
    status, body = await authed.post("/user/ticket/last")
    assert status == 202 and body["status"] == 202
    assert body["response"]["ticket_number"] == sold["ticket_number"]
    assert body["response"]["pin_number"] == sold["pin_number"]


async def test_ticket_list_seed_examples(authed: Api, sim: Simulator):
    ev = sim.open_events()
    a = await authed.sell((6, ev[1], 1, "123"))
    sim.advance(10)
    b = await authed.sell((10, ev[2], 1, "456"))
    status, _ = await authed.post("/user/ticket/cancel", {"ticket_number": a["ticket_number"]})
    assert status == 200
    canceled = {
        "filter": {"between_created_at": DAY, "status": "canceled"},
        "sort": {"created_at": 1},
    }
    status, body = await authed.post("/user/ticket/", canceled)
    assert status == 200 and body["status"] == 200
    (row,) = body["response"]
    assert set(row) >= SUMMARY_KEYS
    assert (row["ticket_number"], row["status"], row["total"], row["prize"]) == (
        a["ticket_number"], "canceled", 6, 0,
    )  # fmt: skip
    assert row["email"] == EMAIL and row["user_id"] == 864
    sales = {
        "filter": {"between_created_at": DAY, "transaction_type": "wager"},
        "order_by": [{"name": "created_at", "value": "desc"}],
    }
    status, body = await authed.post("/user/ticket/", sales)
    assert [r["ticket_number"] for r in body["response"]] == [
        b["ticket_number"],
        a["ticket_number"],
    ]
    winners = {"filter": {"between_created_at": DAY, "status": "winner"}, "sort": {"created_at": 1}}
    assert (await authed.post("/user/ticket/", winners))[1]["response"] == []
    outside = {"filter": {"between_created_at": ["2024-06-05T04:00:00.000Z", DAY[0]]}}
    assert (await authed.post("/user/ticket/", outside))[1]["response"] == []


async def test_ticket_list_without_range_is_400(authed: Api):
    status, body = await authed.post("/user/ticket/", {"filter": {"status": "sold"}})
    assert status == 400 and "between_created_at" in body["error"]


async def test_pay_seed_example_unknown_ticket(authed: Api):
    body = {"ticket_number": 10653459, "pin_number": 84038675, "date": "2024-09-16"}
    assert await authed.post("/user/ticket/pay", body) == (
        400,
        {"status": 400, "error": "no rows in result set"},
    )


async def test_pay_not_a_winner_is_http_200_error(authed: Api, sim: Simulator):
    sold = await authed.sell((5, sim.open_events()[1], 1, "341"))
    body = {"ticket_number": sold["ticket_number"], "pin_number": sold["pin_number"],
            "date": "2024-10-22"}  # fmt: skip
    assert await authed.post("/user/ticket/pay", body) == (
        200,
        {"status": 200, "error": "not a winner"},
    )


async def test_cancel_seed_example_unknown_ticket(authed: Api):
    assert await authed.post("/user/ticket/cancel", {"ticket_number": 18712010}) == (
        400,
        {"status": 400, "error": "no rows in result set"},
    )


async def test_revert_seed_example_already_rejected(authed: Api, sim: Simulator):
    sold = await authed.sell((5, sim.open_events()[1], 1, "341"))
    body = {"ticket_number": sold["ticket_number"]}
    assert await authed.post("/user/ticket/cancel", body) == (
        200,
        {"status": 200, "response": {"ticket_number": sold["ticket_number"], "status": "canceled"}},
    )
    assert await authed.post("/user/ticket/revert", body) == (
        401,
        {"status": 401, "error": "ticket already rejected by user"},
    )


async def test_copy_seed_shape_retargets_to_open_event(authed: Api, sim: Simulator):
    old = sim.open_events()[1]
    sold = await authed.sell((5, old, 1, "001"))
    sim.set_time(catalog.event(old).closing_ts)  # the 12:00 draw of product 1 closes
    new = sim.open_events()[1]
    assert new != old
    await authed.login()  # two hours later: the token has expired
    status, body = await authed.post(
        "/user/ticket/copy", {"ticket_number": sold["ticket_number"], "date": "2024-10-22"}
    )
    assert status == 201 and body["status"] == 201
    reply = body["response"]
    assert reply["ticket_number"] == sold["ticket_number"] and reply["num_wagers"] == 1
    assert reply["ticket_uuid"] == sold["id"]
    assert reply["wagers"] == [
        {"amount": 5, "event_id": new, "game_id": 1, "old_event_id": old, "wager": "001"}
    ]
    assert len(sim.ledger()["tickets"]) == 1  # a proposal: nothing sold


async def test_image_is_a_png(authed: Api, sim: Simulator):
    sold = await authed.sell((5, sim.open_events()[1], 1, "341"))
    r = await authed.client.get(
        f"/user/ticket/image/{sold['id']}", headers={"x-auth-token": authed.token or ""}
    )
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content.startswith(b"\x89PNG\r\n\x1a\n")
    status, body = await authed.get("/user/ticket/image/f3f30cdb-2165-487b-bfd0-c990b7ab62c1")
    assert (status, body["error"]) == (400, "no rows in result set")


@pytest.mark.parametrize("path", ["/nope", "/user/ticket/nope"])
async def test_unknown_path_is_404(authed: Api, path: str):
    status, body = await authed.post(path, {})
    assert status == 404 and body["status"] == 404


async def test_body_that_is_not_an_object_is_400(authed: Api):
    r = await authed.client.post(
        "/user/ticket/create", content=b"[1,2", headers={"x-auth-token": authed.token or ""}
    )
    assert r.status_code == 400 and r.json()["error"] == "body must be a JSON object"


async def test_asgi_app_and_transport_share_the_handler(sim: Simulator):
    app = create_app(sim)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://a") as c:
        api = Api(c)
        await api.login()
        sold = await api.sell((5, sim.open_events()[1], 1, "341"))
    async with httpx.AsyncClient(transport=SimTransport(app), base_url="http://b") as c:
        api = Api(c)
        await api.login()
        status, body = await api.post("/user/ticket/last")
    assert status == 202 and body["response"]["ticket_number"] == sold["ticket_number"]
