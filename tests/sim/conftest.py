"""Fixtures: a simulator on a virtual clock, reached by plain httpx through SimTransport."""

from __future__ import annotations

import httpx
import pytest

from kioskd.clock import VirtualClock
from kioskd.proving.sim.inprocess import SimTransport
from kioskd.proving.sim.simulator import DEFAULT_START, Simulator

from .helpers import Api


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(DEFAULT_START)


@pytest.fixture
def sim(clock: VirtualClock) -> Simulator:
    return Simulator(seed=7, clock=clock)


@pytest.fixture
async def api(sim: Simulator):
    async with httpx.AsyncClient(
        transport=SimTransport(sim), base_url="http://banklot.sim", timeout=5.0
    ) as client:
        yield Api(client)


@pytest.fixture
async def authed(api: Api) -> Api:
    await api.login()
    return api
