"""A kiosk rig for outbox tests: real journal file, real client, in-process simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kioskd.banklot.client import BanklotClient
from kioskd.banklot.models import WagerRequest
from kioskd.clock import VirtualClock
from kioskd.config import outbox_policy
from kioskd.journal import Journal
from kioskd.outbox import Outbox, Policy
from kioskd.proving.sim import games as catalog
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import Simulator

# 2024-10-22 10:00 in Caracas: product 1 closes at 12:00, JUNGLA every hour.
START = catalog.day_start(catalog.local_day(1729612800.0 + 86400)) + 10 * 3600


class Rig:
    def __init__(self, path: Path, policy: Policy | None = None) -> None:
        self.path = path
        self.clock = VirtualClock(START)
        self.sim = Simulator(seed=7, clock=self.clock, password="banklot")
        self.policy = policy or outbox_policy(time_zone=catalog.TIME_ZONE)
        self.signals: list[str] = []
        self.boot()

    def boot(self, crash_hook=None) -> None:
        self.journal = Journal(self.path, crash_hook=crash_hook)
        self.client = BanklotClient(
            "http://banklot.sim", self.sim.email, "banklot", transport=SimTransport(self.sim)
        )
        self.outbox = Outbox(
            self.journal, self.client, self.clock, self.policy,
            on_signal=self.signals.append, crash_hook=crash_hook,
        )  # fmt: skip

    async def reboot(self, crash_hook=None) -> list[int]:
        self.journal.close()
        await self.client.aclose()
        self.boot(crash_hook)
        return await self.outbox.recover()

    def wagers(self, product_id: int = 1, code_index: int = 0, amount: int = 5):
        product = catalog.PRODUCTS_BY_ID[product_id]
        ev = catalog.open_event(product, self.clock.now())
        code = catalog.inventory(product.game_id)[code_index][0]
        return [WagerRequest(amount, ev.id, product.game_id, code)], ev.closing_ts

    async def sell(self, **kw) -> int:
        wagers, closes = self.wagers(**kw)
        return await self.outbox.submit_create(wagers, closes)

    async def drain(self, seconds: float = 0.0, rounds: int = 200) -> None:
        """Step (and let virtual time pass, up to `seconds`) until nothing is due."""
        end = self.clock.now() + seconds
        for _ in range(rounds):
            if await self.outbox.step():
                continue
            due = self.outbox.next_due()
            if due is None or due > end:
                return
            self.clock.set(max(due, self.clock.now() + 0.001))

    def print_all(self) -> list[int]:
        done = []
        for job in self.journal.pending_print_jobs():
            self.journal.mark_printed(job.id, now=self.clock.now())
            done.append(job.id)
        return done

    def api_tickets(self) -> list[dict]:
        return [t for t in self.sim.ledger()["tickets"] if t["origin"] == "api"]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path / "journal.sqlite")
    await r.outbox.recover()
    yield r
    r.journal.close()
    await r.client.aclose()
