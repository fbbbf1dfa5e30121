"""Same seed and same calls -> same ledger; tokens expire after token_ttl_s."""

from __future__ import annotations

import httpx

from kioskd.clock import VirtualClock
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import DEFAULT_START, Simulator

from .helpers import Api


async def session(seed: int) -> dict:
    """A scripted day: sales, a foreign sale, faults, a cancel, draws, a payment."""
    clock = VirtualClock(DEFAULT_START)
    sim = Simulator(seed=seed, clock=clock, token_ttl_s=10**6)
    async with httpx.AsyncClient(transport=SimTransport(sim), base_url="http://s") as c:
        api = Api(c)
        await api.login()
        for i in range(12):
            ev = sim.open_events()
            await api.sell((5 + i, ev[1], 1, f"{i * 37 % 1000:03d}"), (2, ev[6], 5, str(i % 36)))
            clock.advance(97)
        sim.arm_fault("/user/ticket/create", "foreign_ticket")
        last = await api.sell((3, sim.open_events()[3], 3, "12304"))
        await api.post("/user/ticket/cancel", {"ticket_number": last["ticket_number"]})
        sim.set_time(catalog.event(sim.open_events()[6]).result_ts + 3 * 3600)
        ledger = sim.ledger()
        for t in ledger["tickets"]:
            if t["status"] == "winner":
                await api.post("/user/ticket/pay", {"ticket_number": t["ticket_number"],
                                                    "pin_number": t["pin_number"],
                                                    "date": "2024-10-22"})  # fmt: skip
        return sim.ledger()


# A seed whose draws make one of the scripted sales a winner, so the payment branch runs
# (seed 11, used before, never reached it: nothing was paid and the payment went unchecked).
SEED = 3


async def test_same_seed_same_ledger():
    a = await session(SEED)
    b = await session(SEED)
    assert a == b
    assert len(a["tickets"]) == 14 and len(a["cancellations"]) == 1
    assert {t["origin"] for t in a["tickets"]} == {"api", "foreign"}
    assert [t["status"] for t in a["tickets"]].count("paid") == 1  # the winner branch ran


async def test_other_seed_other_numbers():
    a = await session(SEED)
    b = await session(SEED + 1)
    assert [t["ticket_number"] for t in a["tickets"]] != [t["ticket_number"] for t in b["tickets"]]


async def test_token_expires_after_ttl():
    clock = VirtualClock(DEFAULT_START)
    sim = Simulator(seed=1, clock=clock, token_ttl_s=60)
    async with httpx.AsyncClient(transport=SimTransport(sim), base_url="http://s") as c:
        api = Api(c)
        await api.login()
        clock.advance(59)
        assert (await api.post("/gaming/get-data"))[0] == 200
        clock.advance(1)
        assert await api.post("/gaming/get-data") == (
            403,
            {"status": 403, "error": "token expired"},
        )
        await api.login()
        assert (await api.post("/gaming/get-data"))[0] == 200


async def test_custom_account():
    sim = Simulator(seed=1, email="a@b.c", password="s3cret")
    async with httpx.AsyncClient(transport=SimTransport(sim), base_url="http://s") as c:
        api = Api(c)
        status, _ = await api.post("/auth/login", {"email": "username@banklot.net",
                                                   "password": "banklot"})  # fmt: skip
        assert status == 403
        await api.login("a@b.c", "s3cret")
        assert "s3cret" not in repr(sim)


async def test_catch_up_after_a_long_jump_settles_every_draw():
    clock = VirtualClock(DEFAULT_START)
    sim = Simulator(seed=2, clock=clock)
    async with httpx.AsyncClient(transport=SimTransport(sim), base_url="http://s") as c:
        api = Api(c)
        await api.login()
        ev = sim.open_events()[6]
        sold = await api.sell(*[(2, ev, 5, w) for w in ["0", "00", *map(str, range(1, 19))]])
        result = sim.result_of(ev)
    clock.advance(7 * 86400)
    ledger = sim.ledger()
    (t,) = ledger["tickets"]
    statuses = {w["wager"]: w["status"] for w in t["wagers"]}
    assert all(s in ("winner", "loser") for s in statuses.values())
    assert sold["ticket_number"] == t["ticket_number"]
    if result in statuses:
        assert statuses[result] == "winner" and t["status"] == "winner" and t["prize"] == 60
    else:
        assert t["status"] == "sold" and t["prize"] == 0
