"""Every fault mode in process: what the caller sees, and whether the server applied the call."""

from __future__ import annotations

import json

import httpx
import pytest

from kioskd.clock import VirtualClock
from kioskd.proving.sim.faults import FaultError, FaultPlan
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator

from .helpers import Api


def sale(sim: Simulator) -> dict:
    ev = sim.open_events()[1]
    return {"ticket": {"wagers": [{"amount": 5, "event_id": ev, "game_id": 1, "wager": "341"}]}}


async def create(api: Api, sim: Simulator) -> httpx.Response:
    return await api.client.post(
        "/user/ticket/create", json=sale(sim), headers={"x-auth-token": api.token or ""}
    )


def sold(sim: Simulator) -> int:
    return len(sim.ledger()["tickets"])


async def test_fail_before_commit_is_500_and_applies_nothing(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "fail_before_commit")
    r = await create(authed, sim)
    assert r.status_code == 500 and r.json() == {"status": 500, "error": "internal server error"}
    assert sold(sim) == 0
    assert (await create(authed, sim)).status_code == 201  # count=1: consumed


async def test_commit_then_drop_raises_remote_protocol_error(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "commit_then_drop")
    with pytest.raises(httpx.RemoteProtocolError):
        await create(authed, sim)
    assert sold(sim) == 1


async def test_commit_then_504_answers_html(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "commit_then_504")
    r = await create(authed, sim)
    assert r.status_code == 504 and r.headers["content-type"].startswith("text/html")
    assert b"504" in r.content and sold(sim) == 1


async def test_malformed_body_is_broken_json_after_commit(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "malformed")
    r = await create(authed, sim)
    assert r.status_code == 201
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)
    assert sold(sim) == 1


async def test_html_error_is_502_without_commit(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "html_error")
    r = await create(authed, sim)
    assert r.status_code == 502 and r.content.startswith(b"<html>")
    assert sold(sim) == 0


async def test_empty_body_after_commit(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "empty_body")
    r = await create(authed, sim)
    assert (r.status_code, r.content) == (200, b"")
    assert sold(sim) == 1


async def test_huge_body_is_10_mb_without_commit(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "huge_body")
    r = await create(authed, sim)
    assert r.status_code == 200 and len(r.content) >= 10 * 1024 * 1024
    assert sold(sim) == 0


async def test_wrong_types_after_commit(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "wrong_types")
    r = await create(authed, sim)
    body = r.json()
    assert body["status"] == "201" and isinstance(body["response"], str)
    assert sold(sim) == 1


async def test_hang_times_out_at_once_and_applies_nothing(sim: Simulator, clock: VirtualClock):
    transport = SimTransport(sim)
    async with httpx.AsyncClient(transport=transport, base_url="http://s", timeout=15.0) as c:
        api = Api(c)
        await api.login()
        sim.arm_fault("/user/ticket/create", "hang")
        before = clock.now()
        with pytest.raises(httpx.ReadTimeout):
            await create(api, sim)
        assert clock.now() == before + 15.0  # virtual time waited the read timeout
    assert sold(sim) == 0


async def test_delay_below_timeout_answers_later(authed: Api, sim: Simulator, clock):
    sim.arm_fault("/user/ticket/create", "delay", delay_s=2)
    before = clock.now()
    r = await create(authed, sim)
    assert r.status_code == 201 and r.json()["response"]["created_at"] == int(before + 2)
    assert clock.now() == before + 2


async def test_delay_above_timeout_commits_and_times_out(authed: Api, sim: Simulator, clock):
    sim.arm_fault("/user/ticket/create", "delay", delay_s=60)
    before = clock.now()
    with pytest.raises(httpx.ReadTimeout):
        await create(authed, sim)  # the api fixture's read timeout is 5 s
    assert sold(sim) == 1
    assert clock.now() == before + 5


async def test_expire_token_is_403_and_the_token_is_gone(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "expire_token")
    r = await create(authed, sim)
    assert r.status_code == 403 and r.json() == {"status": 403, "error": "token expired"}
    assert sold(sim) == 0
    assert (await authed.post("/user/ticket/last"))[0] == 403
    await authed.login()
    assert (await create(authed, sim)).status_code == 201


async def test_foreign_ticket_sells_first(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/create", "foreign_ticket")
    r = await create(authed, sim)
    assert r.status_code == 201
    origins = [t["origin"] for t in sim.ledger()["tickets"]]
    assert origins == ["foreign", "api"]


async def test_offline_is_connect_error_but_admin_answers(authed: Api, sim: Simulator):
    sim.set_offline(True)
    with pytest.raises(httpx.ConnectError):
        await create(authed, sim)
    with pytest.raises(httpx.ConnectError):
        await authed.post("/auth/login", {})
    r = await authed.client.post("/_sim/offline", json={"offline": False})
    assert r.json() == {"offline": False}
    assert (await create(authed, sim)).status_code == 201
    assert sold(sim) == 1


async def test_offline_for_a_while_ends_by_the_clock(authed: Api, sim: Simulator, clock):
    await authed.client.post("/_sim/offline", json={"offline": True, "for_s": 30})
    with pytest.raises(httpx.ConnectError):
        await create(authed, sim)
    clock.advance(30)
    assert (await create(authed, sim)).status_code == 201


async def test_wildcard_and_count(authed: Api, sim: Simulator):
    sim.arm_fault("*", "fail_before_commit", count=2)
    assert (await authed.post("/gaming/get-data"))[0] == 500
    assert (await authed.post("/user/ticket/last"))[0] == 500
    assert (await authed.post("/gaming/get-data"))[0] == 200


async def test_fault_on_other_endpoint_does_not_fire(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/pay", "fail_before_commit")
    assert (await create(authed, sim)).status_code == 201
    assert [f.endpoint for f in sim.faults.armed()] == ["/user/ticket/pay"]


async def test_image_fault_matches_the_endpoint_without_uuid(authed: Api, sim: Simulator):
    sim.arm_fault("/user/ticket/image", "html_error")
    r = await authed.client.get("/user/ticket/image/x", headers={"x-auth-token": authed.token})
    assert r.status_code == 502


async def test_admin_faults_api(authed: Api, sim: Simulator):
    c = authed.client
    r = await c.post("/_sim/faults", json={"endpoint": "/user/ticket/create",
                                           "mode": "commit_then_504", "count": 2})  # fmt: skip
    assert r.status_code == 200
    assert r.json()["armed"] == {"endpoint": "/user/ticket/create", "mode": "commit_then_504",
                                 "count": 2, "delay_s": 0.0}  # fmt: skip
    assert len((await c.get("/_sim/faults")).json()["faults"]) == 1
    r = await c.post("/_sim/faults", json={"endpoint": "*", "mode": "explode"})
    assert r.status_code == 400 and "explode" in r.json()["error"]
    assert (await c.delete("/_sim/faults")).json() == {"cleared": 1}
    assert (await c.get("/_sim/faults")).json() == {"faults": []}
    assert (await create(authed, sim)).status_code == 201


async def test_admin_ledger_clock_results_foreign(authed: Api, sim: Simulator, clock):
    c = authed.client
    t = await authed.sell((5, sim.open_events()[1], 1, "341"))
    r = await c.post("/_sim/foreign-ticket", json={})
    foreign = r.json()["ticket"]
    ledger = (await c.get("/_sim/ledger")).json()
    assert [x["ticket_number"] for x in ledger["tickets"]] == [t["ticket_number"],
                                                              foreign["ticket_number"]]  # fmt: skip
    assert ledger["tickets"][0]["pin_number"] == t["pin_number"]
    assert ledger["now"] == clock.now() and ledger["payments"] == []
    now = (await c.post("/_sim/clock", json={"advance_s": 60})).json()["now"]
    assert now == clock.now() == ledger["now"] + 60
    expected = sim.next_close()
    state = (await c.post("/_sim/clock", json={"to": "next_close"})).json()
    assert state["now"] == expected == clock.now() and state["next_close"] > expected
    expected = sim.next_result()
    state = (await c.post("/_sim/clock", json={"to": "next_result"})).json()
    assert state["now"] == expected == clock.now()
    r = await c.post(
        "/_sim/results", json={"event_id": t["wagers"][0]["event_id"], "result": "341"}
    )
    assert r.json()["result"] == "341"
    r = await c.post("/_sim/results", json={"event_id": t["wagers"][0]["event_id"], "result": "x"})
    assert r.status_code == 400
    state = (await c.post("/_sim/clock", json={"set": clock.now() + 86400})).json()
    assert state["now"] == clock.now()
    assert (await c.post("/_sim/clock", json={"bogus": 1})).status_code == 400


def test_fault_plan_rejects_nonsense():
    plan = FaultPlan()
    for args in [("/x", "nope"), ("/x", "delay", 0), ("/x", "delay", 1, -1), ("", "hang")]:
        with pytest.raises(FaultError):
            plan.arm(*args)
    plan.arm("/x", "hang")
    assert plan.take("/_sim/ledger") is None
    assert plan.take("/x").mode == "hang"
    assert plan.take("/x") is None
