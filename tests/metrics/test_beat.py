"""Issue 19 (CPU a sale): in the daemon the metrics' reading after a change starts on a beat
of its ticker once `MIN_GAP_S` has passed, not on a wake-up of the loop of its own; a beat
that never comes holds it no longer than `BEAT_GRACE_S` past the gap; without beats (tools,
tests) the gap is a plain sleep, as before."""

from __future__ import annotations

import asyncio

import pytest

from kioskd.config import MetricsConfig
from kioskd.daemon import metrics as m


@pytest.fixture
def short(monkeypatch):
    monkeypatch.setattr(m, "MIN_GAP_S", 0.2)
    monkeypatch.setattr(m, "BEAT_GRACE_S", 0.6)


def _metrics() -> tuple[m.Metrics, list[float]]:
    metrics = m.Metrics(
        lambda: MetricsConfig(textfile_dir="", interval_s=300),
        terminal_id="t-1",
        version="1",
        now=lambda: 5.0,
    )
    return metrics, []


async def _start(metrics: m.Metrics, reads: list[float]) -> asyncio.Task[None]:
    loop = asyncio.get_running_loop()

    def take() -> m.Snapshot:
        reads.append(loop.time())
        return m.Snapshot(taken_at=5.0)

    task = asyncio.create_task(metrics.run(take))
    for _ in range(100):  # the first reading, at start
        if reads:
            break
        await asyncio.sleep(0.01)
    assert len(reads) == 1
    return task


async def _second_read(reads: list[float], limit_s: float = 3.0) -> float:
    """When the reading after the change came (a bound on a hang, not a speed assertion)."""
    for _ in range(int(limit_s / 0.01)):
        if len(reads) == 2:
            return reads[1]
        await asyncio.sleep(0.01)
    raise AssertionError("the change was never read")


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_a_change_is_read_on_the_first_beat_after_the_gap_and_never_on_its_own(short):
    metrics, reads = _metrics()
    metrics.beats = True
    task = await _start(metrics, reads)
    try:
        loop = asyncio.get_running_loop()
        changed_at = loop.time()
        metrics.changed()
        await asyncio.sleep(0.05)
        metrics.beat()  # within the gap: nothing
        await asyncio.sleep(0.35)  # the gap has passed, no beat: still nothing
        assert len(reads) == 1
        metrics.beat()
        beat_at = loop.time()
        read_at = await _second_read(reads)
        assert read_at - changed_at >= m.MIN_GAP_S
        assert read_at - beat_at < 0.1  # on that beat's wake-up
    finally:
        await _stop(task)


async def test_a_beat_that_never_comes_holds_the_reading_only_for_the_grace(short):
    metrics, reads = _metrics()
    metrics.beats = True
    task = await _start(metrics, reads)
    try:
        changed_at = asyncio.get_running_loop().time()
        metrics.changed()
        read_at = await _second_read(reads)
        assert read_at - changed_at >= m.MIN_GAP_S + m.BEAT_GRACE_S - 0.02
    finally:
        await _stop(task)


async def test_without_beats_the_gap_is_a_sleep(short):
    metrics, reads = _metrics()
    task = await _start(metrics, reads)
    try:
        changed_at = asyncio.get_running_loop().time()
        metrics.changed()
        read_at = await _second_read(reads)
        assert m.MIN_GAP_S <= read_at - changed_at < m.MIN_GAP_S + m.BEAT_GRACE_S
    finally:
        await _stop(task)
