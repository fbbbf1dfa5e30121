"""`wait_event`: the outbox's idle wait, until woken or a time of its clock has passed.

On a clock that sleeps in real time it is one timer and no task (issue 19: the two tasks of
the general way cost a sale about 0.3 ms); on a virtual clock the clock's sleep still races
the event (its sleep moves time). Either way a wake ends it, the time ends it, and a
cancellation of the waiter is never swallowed."""

from __future__ import annotations

import asyncio
import time

import pytest

from kioskd.clock import (
    OffsetClock,
    ServerTimeClock,
    SystemClock,
    VirtualClock,
    sleeps_in_real_time,
    wait_event,
)
from kioskd.servertime import ServerTime


def _real_clocks() -> list[object]:
    return [SystemClock(), OffsetClock(), ServerTimeClock(SystemClock(), ServerTime())]


@pytest.mark.parametrize("clock", _real_clocks(), ids=["system", "offset", "servertime"])
def test_a_real_clock_waits_with_a_timer_and_no_task(clock: object) -> None:
    async def main() -> None:
        event = asyncio.Event()
        tasks_seen: list[int] = []

        async def wake_later() -> None:
            await asyncio.sleep(0.05)
            tasks_seen.append(len(asyncio.all_tasks()))  # main and this one, nothing else
            event.set()

        waker = asyncio.create_task(wake_later())
        started = time.monotonic()
        await wait_event(clock, event, 30.0)  # type: ignore[arg-type]
        assert time.monotonic() - started < 5.0  # the wake ended it, not the 30 s
        await waker
        assert tasks_seen == [2]

        event.clear()
        started = time.monotonic()
        await wait_event(clock, event, 0.05)  # type: ignore[arg-type]
        assert 0.04 <= time.monotonic() - started < 5.0  # the time ended it

    asyncio.run(main())


def test_a_virtual_clock_still_races_its_sleep_which_moves_time() -> None:
    async def main() -> None:
        clock = VirtualClock(1_700_000_000.0)
        event = asyncio.Event()
        before = clock.monotonic()
        await wait_event(clock, event, 60.0)
        assert clock.monotonic() - before == 60.0  # slept in virtual time, at once
        await asyncio.sleep(0)  # the cancelled racer ends at its next step
        assert asyncio.all_tasks() == {asyncio.current_task()}  # both racers are gone

        server_clock = ServerTimeClock(clock, ServerTime())
        await wait_event(server_clock, event, 5.0)
        assert clock.monotonic() - before == 65.0

    asyncio.run(main())


@pytest.mark.parametrize("virtual", [False, True], ids=["real", "virtual"])
def test_a_cancelled_waiter_is_cancelled(virtual: bool) -> None:
    async def main() -> None:
        clock = VirtualClock(0.0) if virtual else SystemClock()
        event = asyncio.Event()
        if virtual:
            # A virtual sleep ends at once: hold the clock's sleep so that the wait is parked.
            async def held_sleep(seconds: float) -> None:
                await asyncio.Event().wait()

            clock.sleep = held_sleep  # type: ignore[method-assign]
        waiter = asyncio.create_task(wait_event(clock, event, 30.0))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        event.set()  # set after the cancel: nothing is woken, nothing left behind
        await asyncio.sleep(0)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(main())


@pytest.mark.parametrize("clock", _real_clocks(), ids=type)
def test_the_real_clocks_sleep_in_real_time(clock: object) -> None:
    assert sleeps_in_real_time(clock)  # type: ignore[arg-type]


def test_a_virtual_clock_does_not_sleep_in_real_time_even_behind_the_server_time() -> None:
    virtual = VirtualClock(1_700_000_000.0)
    assert not sleeps_in_real_time(virtual)
    assert not sleeps_in_real_time(ServerTimeClock(virtual, ServerTime()))
