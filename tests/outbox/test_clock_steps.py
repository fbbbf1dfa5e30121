"""A wall-clock step of any size while anything is in doubt changes no decision (issue 18).

The real outbox, journal file, client and simulator, on virtual time: the kiosk's wall clock
(`VirtualClock.step_wall`) steps forward and back, by seconds to days, before every unit of
work of a doubtful create, payout or cancel; the server's clock (`server_view`) and the
monotonic clock do not move. The decision (final state, ticket, what the server holds) must
be the one reached without the step. The control shows the test can fail: an outbox given the
wall clock itself (what kioskd did before) decides differently under the same step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kioskd import servertime as st
from kioskd.banklot.client import BanklotClient
from kioskd.banklot.models import WagerRequest
from kioskd.clock import Clock, ServerTimeClock, VirtualClock
from kioskd.config import outbox_policy
from kioskd.journal import Journal
from kioskd.outbox import Outbox
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator
from tests.outbox.conftest import START

STEPS = (3600.0, 100.0, -300.0, -3 * 86400.0, 86400.0)
CREATE_FAULTS = ("commit_then_drop", "drop_before_commit", "html_error", "commit_late")


class ClockRig:
    """Kiosk and server on one true timeline; the kiosk's wall clock may be off and step."""

    def __init__(self, path: Path, *, wall_off: float = 0.0, plain: bool = False) -> None:
        self.clock = VirtualClock(START)
        self.clock.step_wall(wall_off)
        self.server = self.clock.server_view()
        self.sim = Simulator(seed=7, clock=self.server, password="banklot")
        self.est = st.ServerTime()
        self.money: Clock = self.clock if plain else ServerTimeClock(self.clock, self.est)
        self.client = BanklotClient(
            "http://banklot.sim", self.sim.email, "banklot", transport=SimTransport(self.sim),
            on_answer=self._answer, monotonic=self.clock.monotonic,
        )  # fmt: skip
        self.journal = Journal(path)
        policy = outbox_policy(time_zone=catalog.TIME_ZONE)
        self.outbox = Outbox(self.journal, self.client, self.money, policy)

    def _answer(self, status: int, date: str | None, started: float, ended: float) -> None:
        server = st.parse_http_date(date)
        if server is not None and status not in (502, 503, 504):
            self.est.learn(server, started, ended)

    async def learn_time(self) -> None:
        await self.client.time()  # what the daemon does once at start

    def wagers(self) -> tuple[list[WagerRequest], float]:
        product = catalog.PRODUCTS_BY_ID[1]
        ev = catalog.open_event(product, self.server.now())
        code = catalog.inventory(product.game_id)[0][0]
        return [WagerRequest(5, ev.id, product.game_id, code)], ev.closing_ts

    async def run(self, step_at: int | None, step: float, rounds: int = 400) -> None:
        """Step the outbox until nothing is due; the wall clock steps before unit `step_at`."""
        for n in range(rounds):
            if n == step_at:
                self.clock.step_wall(step)
            if await self.outbox.step():
                continue
            due = self.outbox.next_due()
            if due is None:
                return
            self.clock.advance(max(0.001, min(due - self.money.now(), 3600.0)))
            self.sim.now()  # let late commits land
        raise AssertionError("the outbox never settled")

    async def close(self) -> None:
        self.journal.close()
        await self.client.aclose()


def decision(rig: ClockRig) -> tuple[Any, ...]:
    ops = rig.journal.operations()
    server = [
        (t["ticket_number"], t["status"]) for t in rig.sim.ledger()["tickets"]
        if t["origin"] == "api"
    ]  # fmt: skip
    return tuple((op.kind, op.state, op.ticket_number) for op in ops), tuple(server)


async def doubtful_create(path: Path, fault: str, step_at: int | None, step: float,
                          plain: bool = False) -> tuple[Any, ...]:  # fmt: skip
    rig = ClockRig(path, plain=plain)
    try:
        await rig.learn_time()
        rig.sim.arm_fault("/user/ticket/create", fault, delay_s=20.0)
        wagers, closes = rig.wagers()
        await rig.outbox.submit_create(wagers, closes)
        await rig.run(step_at, step)
        return decision(rig)
    finally:
        await rig.close()


@pytest.mark.parametrize("fault", CREATE_FAULTS)
async def test_a_wall_clock_step_at_any_point_of_a_doubtful_create_changes_no_decision(
    tmp_path: Path, fault: str
) -> None:
    """NTP steps +1 h / +100 s, booted ahead then stepped back, days either way: at every
    unit of work of a create in doubt, the outcome is the one without a step."""
    base = await doubtful_create(tmp_path / "base.sqlite", fault, None, 0.0)
    (ops, server) = base
    assert ops[0][1] in ("done", "expired", "rejected"), base
    assert len(server) <= 1 and (ops[0][1] == "done") == (len(server) == 1), base
    n = 0
    for step_at in range(0, 8):
        for step in STEPS:
            n += 1
            got = await doubtful_create(tmp_path / f"s{n}.sqlite", fault, step_at, step)
            assert got == base, (fault, step_at, step, got, base)


async def test_control_an_outbox_on_the_wall_clock_is_fooled_by_a_plus_1h_step(
    tmp_path: Path,
) -> None:
    """The same scenario with the outbox reading the kiosk's wall clock (kioskd before issue
    18): a +1 h step between Enter and the send expires the sale at once (NOT SOLD) where the
    server would have sold it. So the test above can fail."""
    base = await doubtful_create(tmp_path / "b.sqlite", "commit_then_drop", None, 0.0, plain=True)
    stepped = await doubtful_create(
        tmp_path / "s.sqlite", "commit_then_drop", 0, 3600.0, plain=True
    )
    assert len(base[1]) == 1
    assert stepped != base
    assert stepped[0][0][1] == "expired" and stepped[1] == ()


async def _doubtful_ticket_op(path: Path, kind: str, step_at: int | None, step: float):
    rig = ClockRig(path)
    try:
        await rig.learn_time()
        wagers, closes = rig.wagers()
        await rig.outbox.submit_create(wagers, closes)
        await rig.run(None, 0.0)
        (sale,) = rig.journal.operations()
        ticket = rig.sim.ledger()["tickets"][-1]
        if kind == "pay":
            ev = catalog.event(wagers[0].event_id)
            assert ev is not None
            rig.sim.force_result(wagers[0].event_id, wagers[0].wager)
            rig.clock.advance(max(0.0, ev.result_ts + 60 - rig.server.now()))
            rig.sim.now()
            rig.sim.arm_fault("/user/ticket/pay", "commit_then_drop")
            date = catalog.local_day(ticket["created_at"]).isoformat()
            await rig.outbox.submit_pay(sale.ticket_number, ticket["pin_number"], date)
        else:
            rig.sim.arm_fault("/user/ticket/cancel", "commit_then_drop")
            await rig.outbox.submit_cancel(sale.ticket_number, ticket["created_at"], 300.0)
        await rig.run(step_at, step)
        return decision(rig)
    finally:
        await rig.close()


@pytest.mark.parametrize("kind", ["pay", "cancel"])
async def test_a_wall_clock_step_while_a_payout_or_cancel_is_in_doubt_changes_no_decision(
    tmp_path: Path, kind: str
) -> None:
    """Issue 18: a payout or a cancel in doubt during a +1 h step told the customer it did not
    happen while the server had paid / cancelled. Every step, at every point: same outcome,
    and it is the server's (applied)."""
    base = await _doubtful_ticket_op(tmp_path / "base.sqlite", kind, None, 0.0)
    assert base[0][1] == (kind, "done", base[0][0][2]), base
    n = 0
    for step_at in range(0, 6):
        for step in (3600.0, -300.0, 86400.0):
            n += 1
            got = await _doubtful_ticket_op(tmp_path / f"s{n}.sqlite", kind, step_at, step)
            assert got == base, (kind, step_at, step, got, base)


async def test_booted_offline_never_having_reached_the_server_new_money_is_refused(tmp_path):
    """No sample and no floor (a journal that never reached the server): no deadline can be set
    without the kiosk's wall clock, so a sale is refused with the reason, nothing journaled."""
    from kioskd.outbox.outbox import ServerTimeUnknown

    rig = ClockRig(tmp_path / "j.sqlite")
    try:
        wagers, closes = rig.wagers()
        with pytest.raises(ServerTimeUnknown, match="server time unknown"):
            await rig.outbox.submit_create(wagers, closes)
        assert rig.journal.operations() == []
    finally:
        await rig.close()


async def test_booted_offline_after_a_reboot_a_queued_sale_lives_on_the_floor_then_is_sent(
    tmp_path,
):
    """After a reboot, before any answer: the saved figure is a floor (server time had passed
    it before this boot's monotonic zero). A sale queued offline is stamped on it; its age is
    a duration; once the server answers it is sent (the true time is later than the floor, so
    an expiry can only come earlier, never later)."""
    rig = ClockRig(tmp_path / "j.sqlite")
    try:
        floor = rig.server.now() - 600.0  # saved ten minutes before this boot
        record = {"boot_id": "an-earlier-boot", "mono": 5000.0, "lo": floor - 5000.0,
                  "hi": floor - 5000.0, "floor": floor}  # fmt: skip
        assert rig.est.restore(record, rig.clock.boot_id(), rig.clock.monotonic()) == "provisional"
        assert rig.money.now() <= rig.server.now()
        rig.sim.set_offline(True)
        wagers, closes = rig.wagers()
        await rig.outbox.submit_create(wagers, closes)
        await rig.outbox.step()  # not sent: offline
        (op,) = rig.journal.operations()
        assert op.state == "queued" and op.created_at == pytest.approx(floor, abs=1.0)
        rig.clock.step_wall(-3 * 86400.0)  # the saved wall time of an old shutdown: irrelevant
        rig.sim.set_offline(False)
        rig.clock.advance(5.0)
        await rig.run(None, 0.0)
        ((kind, state, _number),) = decision(rig)[0]
        assert (kind, state) == ("create", "done") and len(decision(rig)[1]) == 1
        assert rig.est.known
    finally:
        await rig.close()
