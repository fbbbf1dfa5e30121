"""A failing task is restarted with backoff and never takes the others down."""

from __future__ import annotations

import asyncio

from kioskd.daemon.daemon import Daemon, Health, light_state, status_line


async def test_failing_task_restarts_without_stopping_the_rest() -> None:
    daemon = Daemon.__new__(Daemon)  # only the supervisor is exercised here
    daemon._stop = asyncio.Event()
    runs = {"flaky": 0, "steady": 0}

    async def flaky() -> None:
        runs["flaky"] += 1
        if runs["flaky"] < 3:
            raise OSError("device vanished")
        await asyncio.Event().wait()  # then stays up

    async def steady() -> None:
        while True:
            runs["steady"] += 1
            await asyncio.sleep(0.05)

    async with asyncio.timeout(10):
        tasks = [
            asyncio.create_task(daemon._supervised("flaky", flaky)),
            asyncio.create_task(daemon._supervised("steady", steady)),
        ]
        while runs["flaky"] < 3:
            await asyncio.sleep(0.05)
        before = runs["steady"]
        await asyncio.sleep(0.2)
        assert runs["steady"] > before  # the other task kept running throughout
        assert not any(t.done() for t in tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert runs["flaky"] == 3


def test_lights_follow_health() -> None:
    assert light_state(Health()) == "ready"
    assert light_state(Health(working=True)) == "working"
    assert light_state(Health(outbox="offline")) == "offline"
    assert light_state(Health(api="offline")) == "offline"
    assert light_state(Health(outbox="in_doubt")) == "reconciling"
    assert light_state(Health(printer_needs_person=True, outbox="offline")) == "attention"
    assert light_state(Health(journal="disk full")) == "attention"
    assert light_state(Health(api="login refused")) == "attention"
    line = status_line(Health(printer="ok", api="ok"), {"queued": 2, "in_doubt": 1, "done": 9})
    assert line == "ready · 3 queued · printer ok · API ok"
