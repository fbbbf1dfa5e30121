"""Contract tests: BanklotClient against the simulator, in process (SimTransport) and over real
loopback HTTP (SimServer on a free port). Every endpoint is called; every fault mode maps to the
error class the outbox relies on, and the simulator's ledger shows whether the call was applied.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date

import pytest

from kioskd.banklot import errors as e
from kioskd.banklot import models as m
from kioskd.banklot.client import BanklotClient
from kioskd.banklot.days import local_date, local_day_range

# Our own simulator: a broken one must fail these tests, never skip them.
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim import simulator as sim_state
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.server import SimServer

EMAIL = "username@banklot.net"
PASSWORD = "pw-Xq81-Secret"
TZ = "America/Caracas"


@dataclass
class Target:
    """A simulator and a way to build clients that reach it."""

    kind: str
    sim: sim_state.Simulator
    make: Callable[..., BanklotClient]

    def ledger_tickets(self) -> list[dict]:
        return self.sim.ledger()["tickets"]


@pytest.fixture(params=["inproc", "http"])
async def target(request: pytest.FixtureRequest) -> AsyncIterator[Target]:
    sim = sim_state.Simulator(seed=7, password=PASSWORD)
    if request.param == "inproc":

        def make(**kw) -> BanklotClient:
            kw.setdefault("password", PASSWORD)
            return BanklotClient("http://banklot.sim", EMAIL, transport=SimTransport(sim), **kw)

        yield Target("inproc", sim, make)
        return
    server = SimServer(sim).start()
    try:

        def make_http(**kw) -> BanklotClient:
            kw.setdefault("connect_timeout", 2.0)
            kw.setdefault("read_timeout", 5.0)
            kw.setdefault("password", PASSWORD)
            return BanklotClient(server.base_url, EMAIL, **kw)

        yield Target("http", sim, make_http)
    finally:
        server.close()


async def _sell(client: BanklotClient, product_id: int = 1, wager: str = "341", amount: int = 5):
    """Sell one wager on a product's open event (from products + get-data limits)."""
    data = await client.get_data()
    product = next(p for p in await client.products() if p.id == product_id)
    assert product.open_event_id is not None
    req = m.WagerRequest(amount, product.open_event_id, data.limits[product_id].game_id, wager)
    return await client.create([req])


# ------------------------------------------------------------------ every endpoint


async def test_every_endpoint_round_trip(target: Target) -> None:
    sim = target.sim
    async with target.make() as client:
        await client.login()
        assert client.logged_in

        data = await client.get_data()
        assert data.time_zone == TZ and data.seconds_to_cancel == 180
        assert data.ticket_expiration_days == 3 and data.limits

        products = await client.products()
        assert {p.id for p in products} >= {1, 3, 6}
        assert all(p.open_event_id for p in products)

        inventory = await client.inventory_template()
        codes = {(c.game_id, c.wager) for c in inventory}
        assert (1, "341") in codes and (3, "444-ARI") in codes and (5, "00") in codes

        today = local_date(sim.now(), TZ)
        events = await client.events_kiosk(local_day_range(today, TZ), game_category="lottery")
        assert events and all(ev.game_category == "lottery" for ev in events)

        # sale, last, lookup, list, image, copy
        ticket = await _sell(client, 1, "341", 5)
        assert ticket.status == "sold" and ticket.amount == 5 and ticket.pin_number is not None
        last = await client.last()
        assert last is not None and last.ticket_number == ticket.ticket_number
        assert last.pin_number == ticket.pin_number
        sold_day = local_date(ticket.created_at, TZ)
        looked = await client.ticket(ticket.ticket_number, sold_day)
        assert looked.wagers[0].wager == "341"
        rows = await client.tickets(local_day_range(sold_day, TZ), status="sold")
        assert ticket.ticket_number in {r.ticket_number for r in rows}
        rows = await client.tickets(
            local_day_range(sold_day, TZ),
            transaction_type="wager",
            order_by=[{"name": "created_at", "value": "desc"}],
        )
        assert rows[0].ticket_number == ticket.ticket_number
        assert ticket.uuid is not None
        image = await client.image(ticket.uuid)
        assert image.data.startswith(b"\x89PNG") and image.content_type == "image/png"
        proposal = await client.copy(ticket.ticket_number, sold_day)
        assert proposal.wagers[0].old_event_id == ticket.wagers[0].event_id
        assert proposal.to_requests()[0].wager == "341"

        # cancel, then cancel/revert again
        canceled = await client.cancel(ticket.ticket_number)
        assert canceled == m.CancelResult(ticket.ticket_number, "canceled")
        with pytest.raises(e.AlreadyRejected):
            await client.cancel(ticket.ticket_number)
        with pytest.raises(e.AlreadyRejected):
            await client.revert(ticket.ticket_number)

        # revert of a fresh sale
        other = await _sell(client, 6, "00", 4)
        assert (await client.revert(other.ticket_number)).status == "canceled"

        # a winner, a loser: force the draw, move to its result time, pay
        win = await _sell(client, 1, "777", 2)
        lose = await _sell(client, 1, "778", 2)
        event_id = win.wagers[0].event_id
        sim.force_result(event_id, "777")
        ev = catalog.event(event_id)
        assert ev is not None
        sim.set_time(ev.result_ts + 1)
        day = local_date(win.created_at, TZ)
        with pytest.raises(e.WrongPin):
            await client.pay(win.ticket_number, (win.pin_number or 0) + 1, day)
        paid = await client.pay(win.ticket_number, win.pin_number or 0, day)
        assert paid.status == "paid" and paid.prize == 2 * 600
        with pytest.raises(e.AlreadyPaid):
            await client.pay(win.ticket_number, win.pin_number or 0, day)
        with pytest.raises(e.NotAWinner) as info:
            await client.pay(lose.ticket_number, lose.pin_number or 0, day)
        assert info.value.status == 200
        with pytest.raises(e.TicketNotFound):
            await client.ticket(99999999, day)
        with pytest.raises(e.CancelWindowPassed):
            await client.cancel(lose.ticket_number)

        results = await client.results(local_day_range(day, TZ))
        assert any(r.id == event_id and r.main_result == "777" for r in results)
        totals = await client.reports(local_day_range(day, TZ), category="lottery")
        assert totals.sale == 4 and totals.prize == 1200  # canceled tickets do not count

        assert (await client.time()).unix == pytest.approx(sim.now())

        await client.logout()
        assert not client.logged_in
        assert (await client.time()).unix > 0  # logs in again on demand

    assert [t["status"] for t in target.ledger_tickets()] == [
        "canceled",
        "canceled",
        "paid",
        "sold",
    ]


async def test_events_closed_carries_ids(target: Target) -> None:
    async with target.make() as client:
        data = await client.get_data()
        product = next(p for p in await client.products() if p.id == 1)
        event_id = product.open_event_id
        ev = catalog.event(event_id)
        assert ev is not None
        target.sim.set_time(ev.closing_ts + 1)
        req = m.WagerRequest(5, event_id, data.limits[1].game_id, "341")
        with pytest.raises(e.EventsClosed) as info:
            await client.create([req])
    assert info.value.event_ids == (event_id,)
    assert target.ledger_tickets() == []


async def test_wager_outside_limits_is_rejected(target: Target) -> None:
    async with target.make() as client:
        with pytest.raises(e.WagerRejected):
            await _sell(client, 1, "341", 150)
    assert target.ledger_tickets() == []


async def test_bad_password_is_auth_failed(target: Target) -> None:
    async with target.make(password="not-it") as client:
        with pytest.raises(e.AuthFailed):
            await client.get_data()


# ------------------------------------------------------------------ fault modes


# mode -> (error class or None for success, applied on the server?)
FAULTS: dict[str, tuple[type[Exception] | None, bool]] = {
    "fail_before_commit": (e.InDoubt, False),
    "commit_then_drop": (e.InDoubt, True),
    "commit_then_504": (e.InDoubt, True),
    "html_error": (e.InDoubt, False),
    "malformed": (e.BadResponse, True),
    "empty_body": (e.BadResponse, True),
    "huge_body": (e.BadResponse, False),
    "wrong_types": (e.BadResponse, True),
    "hang": (e.InDoubt, False),
    "expire_token": (None, True),  # 403, fresh login, one resend: applied once
    "foreign_ticket": (None, True),
    "delay": (None, True),
}


@pytest.mark.parametrize("mode", sorted(FAULTS))
async def test_fault_mode_on_create(target: Target, mode: str) -> None:
    expected, applied = FAULTS[mode]
    async with target.make(read_timeout=1.0) as client:
        data = await client.get_data()
        product = next(p for p in await client.products() if p.id == 1)
        req = m.WagerRequest(5, product.open_event_id or 0, data.limits[1].game_id, "341")
        target.sim.arm_fault("/user/ticket/create", mode, 1, 0.05 if mode == "delay" else 0)
        if expected is None:
            ticket = await client.create([req])
            assert ticket.wagers[0].wager == "341"
        else:
            with pytest.raises(expected) as info:
                await client.create([req])
            assert isinstance(info.value, expected)
            if expected is e.InDoubt:
                assert not isinstance(info.value, e.BadResponse)
            assert info.value.endpoint == "/user/ticket/create"
        # After the fault the client still works (a broken connection is not reused).
        assert (await client.time()).unix > 0
    ours = [t for t in target.ledger_tickets() if t["origin"] == "api"]
    assert len(ours) == (1 if applied else 0)
    if mode == "foreign_ticket":
        assert [t["origin"] for t in target.ledger_tickets()] == ["foreign", "api"]


async def test_delay_beyond_read_timeout_is_in_doubt_and_commits(target: Target) -> None:
    async with target.make(read_timeout=0.3) as client:
        await client.login()
        target.sim.arm_fault("/user/ticket/cancel", "delay", 1, 0.6)
        with pytest.raises(e.InDoubt):
            await client.cancel(12345678)  # unknown ticket: the server answers late, we gave up
        target.sim.arm_fault("/gaming/get-data", "hang")
        with pytest.raises(e.InDoubt) as info:
            await client.get_data()
        assert not isinstance(info.value, e.BadResponse)


@pytest.mark.parametrize("mode", ["wrong_types", "malformed", "huge_body", "empty_body"])
async def test_fault_on_reads_is_bad_response(target: Target, mode: str) -> None:
    async with target.make() as client:
        target.sim.arm_fault("/gaming/get-data", mode)
        with pytest.raises(e.BadResponse):
            await client.get_data()
        assert (await client.get_data()).entity_id == 213


async def test_expired_token_on_read_logs_in_again(target: Target) -> None:
    async with target.make() as client:
        await client.login()
        target.sim.arm_fault("/user/ticket/last", "expire_token")
        assert await client.last() is None


async def test_offline_is_not_sent_and_recovers(target: Target) -> None:
    async with target.make() as client:
        await client.login()
        target.sim.set_offline(True)
        try:
            with pytest.raises(e.NotSent):
                await client.get_data()
            with pytest.raises(e.NotSent):
                await _sell(client)
        finally:
            target.sim.set_offline(False)
        assert (await client.get_data()).entity_id == 213
    assert target.ledger_tickets() == []


# ------------------------------------------------------------------ secrets never logged


async def test_password_token_and_pin_never_logged(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # root: every logger, httpx and httpcore included
    for name in ("httpx", "httpcore", "kioskd", "uvicorn", "asyncio"):
        caplog.set_level(logging.DEBUG, logger=name)
    errors: list[str] = []
    async with target.make() as client:
        await client.login()
        assert client._token is not None
        token = client._token.get()
        ticket = await _sell(client, 1, "123", 3)
        target.sim.force_result(ticket.wagers[0].event_id, "123")
        ev = catalog.event(ticket.wagers[0].event_id)
        assert ev is not None
        target.sim.set_time(ev.result_ts + 1)
        day: date = local_date(ticket.created_at, TZ)
        pin = ticket.pin_number
        assert pin is not None
        try:
            await client.pay(ticket.ticket_number, pin + 1, day)
        except e.BanklotError as exc:
            errors.append(f"{exc!s} {exc!r}")
        paid = await client.pay(ticket.ticket_number, pin, day)
        assert paid.status == "paid"
        errors.append(repr(client) + repr(ticket) + str(ticket))
    records = caplog.records
    # Every exchange's own line (the client's); the HTTP stack under it logs nothing of its
    # own since requests go to the transport itself, and would be checked below if it did.
    assert sum(r.name == "kioskd.banklot" for r in records) >= 4
    text = "\n".join(
        [r.getMessage() for r in records] + [repr(r.__dict__) for r in records] + errors
    )
    for secret in (PASSWORD, token, str(pin), f"{pin:08d}", str(pin + 1)):
        assert secret not in text
