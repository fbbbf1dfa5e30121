"""The field's faults (gateways, caching proxies, other terminals, 64-bit overflow) in process:
what the caller sees, and what the server really holds afterwards."""

from __future__ import annotations

import httpx
import pytest

from kioskd.clock import VirtualClock
from kioskd.proving.sim.faults import ALL_MODES, APPLIED_MODES, FIELD_MODES, MODES, FaultError
from kioskd.proving.sim.simulator import Simulator

from .helpers import DAY, Api


def sale(sim: Simulator, wager: str = "341") -> dict:
    ev = sim.open_events()[1]
    return {"ticket": {"wagers": [{"amount": 5, "event_id": ev, "game_id": 1, "wager": wager}]}}


async def create(api: Api, sim: Simulator, wager: str = "341") -> httpx.Response:
    return await api.client.post(
        "/user/ticket/create", json=sale(sim, wager), headers={"x-auth-token": api.token or ""}
    )


def tickets(sim: Simulator) -> list[dict]:
    return sim.ledger()["tickets"]


def test_field_modes_are_armable_but_not_in_the_campaigns_table():
    assert set(FIELD_MODES).isdisjoint(MODES) and set(ALL_MODES) == set(MODES) | set(FIELD_MODES)
    assert {"gateway_502", "gateway_504", "other_wagers"} <= APPLIED_MODES
    assert "replay_previous" not in APPLIED_MODES


@pytest.mark.parametrize(
    "mode,code,text", [("gateway_502", 502, "Bad Gateway"), ("gateway_504", 504, "Gateway Timeout")]
)
async def test_gateway_answers_a_json_error_and_the_upstream_commits_later(
    authed: Api, sim: Simulator, clock: VirtualClock, mode: str, code: int, text: str
):
    sim.arm_fault("/user/ticket/create", mode, delay_s=3)
    r = await create(authed, sim)
    assert r.status_code == code and r.json() == {"status": code, "error": text}
    assert tickets(sim) == []  # not yet
    clock.advance(2.9)
    assert tickets(sim) == []
    clock.advance(0.2)
    [t] = tickets(sim)
    assert t["origin"] == "api" and t["created_at"] >= sim.now() - 4


async def test_other_wagers_answer_differs_from_what_the_server_sold(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "other_wagers")
    r = await create(authed, sim)
    answered = r.json()["response"]
    [held] = tickets(sim)
    assert answered["ticket_number"] == held["ticket_number"]
    assert answered["wagers"][0]["wager"] != "341" and held["wagers"][0]["wager"] == "341"
    assert answered["amount"] != held["amount"]


async def test_replay_previous_answers_the_last_ticket_again_and_sells_nothing(
    authed: Api, sim: Simulator
):
    first = (await create(authed, sim)).json()
    sim.arm_fault("/user/ticket/create", "replay_previous")
    again = (await create(authed, sim, "342")).json()
    assert again == first and len(tickets(sim)) == 1


async def test_replay_previous_with_nothing_to_replay_drops(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "replay_previous")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim)
    assert tickets(sim) == []


@pytest.mark.parametrize(
    "mode,key", [("huge_ticket_number", "ticket_number"), ("huge_amount", "amount")]
)
async def test_answer_beyond_64_bits(authed: Api, sim: Simulator, mode: str, key: str):
    sim.arm_fault("/user/ticket/create", mode)
    answered = (await create(authed, sim)).json()["response"]
    [held] = tickets(sim)
    assert answered[key] >= 2**64 and held[key] < 2**63


async def test_foreign_same_sells_the_same_wagers_on_the_account_first(authed: Api, sim: Simulator):
    sim.foreign_ticket()  # the other terminal has sold on this account before
    sim.arm_fault("/user/ticket/create", "drop_before_commit", foreign="same")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim, "777")
    [_, other] = tickets(sim)
    assert other["origin"] == "foreign"
    assert [(w["wager"], w["amount"]) for w in other["wagers"]] == [("777", 5)]


async def test_a_terminals_first_sale_of_our_wagers_comes_only_with_ours(
    authed: Api, sim: Simulator
):
    """The one case no answer can decide (reconcile's ambiguity 5) is not made by the flag:
    the other terminal's very first sale carries our wagers only when ours commits too;
    while ours does not, it sells something else."""
    sim.arm_fault("/user/ticket/create", "drop_before_commit", foreign="same")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim, "777")
    [first] = tickets(sim)
    assert first["origin"] == "foreign"
    assert [(w["wager"], w["amount"]) for w in first["wagers"]] != [("777", 5)]


async def test_a_terminals_first_sale_of_our_wagers_with_ours_committed(
    authed: Api, sim: Simulator
):
    sim.arm_fault("/user/ticket/create", "commit_then_drop", foreign="same")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim, "777")
    both = tickets(sim)
    assert sorted(t["origin"] for t in both) == ["api", "foreign"]
    assert all([(w["wager"], w["amount"]) for w in t["wagers"]] == [("777", 5)] for t in both)


async def test_foreign_other_with_commit_then_drop_leaves_two_tickets(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "commit_then_drop", foreign="other")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim)
    assert sorted(t["origin"] for t in tickets(sim)) == ["api", "foreign"]


async def test_unreadable_ticket_is_listed_and_last_but_never_found(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "commit_then_drop", unreadable=True)
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim)
    [held] = tickets(sim)
    status, listed = await authed.post("/user/ticket/", {"filter": {"between_created_at": DAY}})
    assert [row["ticket_number"] for row in listed["response"]] == [held["ticket_number"]]
    status, last = await authed.post("/user/ticket/last")
    assert last["response"]["ticket_number"] == held["ticket_number"]
    status, found = await authed.post(
        "/user/ticket", {"ticket_number": held["ticket_number"], "date": held["local_date"]}
    )
    assert status == 400 and found["error"] == "no rows in result set"


async def test_field_fault_flags_through_the_admin_api(api: Api, sim: Simulator):
    status, body = await api.post(
        "/_sim/faults", {"endpoint": "/user/ticket/create", "mode": "gateway_504",
                         "delay_s": 1, "foreign": "same", "unreadable": True},
    )  # fmt: skip
    assert status == 200 and body["armed"]["foreign"] == "same" and body["armed"]["unreadable"]
    status, body = await api.post("/_sim/faults", {"mode": "delay", "foreign": "nobody"})
    assert status == 400 and "foreign" in body["error"]
    with pytest.raises(FaultError):
        sim.arm_fault("*", "delay", unreadable="yes")  # type: ignore[arg-type]


async def test_unreadable_concerns_only_the_ticket_a_create_makes(authed: Api, sim: Simulator):
    """A pay or cancel answer names a ticket it did not create: the flag leaves it readable."""
    sold = (await create(authed, sim)).json()["response"]
    sim.arm_fault("/user/ticket/cancel", "delay", unreadable=True)
    status, _ = await authed.post("/user/ticket/cancel", {"ticket_number": sold["ticket_number"]})
    assert status == 200
    [held] = tickets(sim)
    status, found = await authed.post(
        "/user/ticket", {"ticket_number": held["ticket_number"], "date": held["local_date"]}
    )
    assert status == 201 and found["response"]["status"] == "canceled"
