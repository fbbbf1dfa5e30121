"""The loop-lag probe measures how long one callback held a real event loop, names it, and
tells a computing callback (CPU) from a waiting one."""

from __future__ import annotations

import asyncio
import time

from kioskd.daemon.looplag import PROBE, STALL_S


async def _blocks_the_loop(seconds: float, spin: bool) -> None:
    await asyncio.sleep(0)
    end = time.perf_counter() + seconds
    if spin:
        # Computes for `seconds` and for at least 30 ms of CPU: on a machine shared with other
        # jobs (load 10 on 2 cores) an 80 ms spin got under 10 ms of CPU.
        cpu_end = time.thread_time() + 0.03
        while time.perf_counter() < end or time.thread_time() < cpu_end:
            pass
    else:
        time.sleep(seconds)  # what a blocking call on the loop does


def test_the_longest_callback_is_measured_and_named() -> None:
    PROBE.install()

    async def main() -> None:
        PROBE.reset()
        await asyncio.sleep(0.01)
        assert PROBE.longest_s < STALL_S and PROBE.stalls == 0
        await asyncio.create_task(_blocks_the_loop(0.12, spin=False))
        assert PROBE.longest_s >= 0.12 and PROBE.stalls == 1
        assert "_blocks_the_loop" in PROBE.longest_what
        assert PROBE.longest_cpu_s < 0.05  # it waited, it did not compute
        PROBE.reset()
        await asyncio.create_task(_blocks_the_loop(0.08, spin=True))
        assert PROBE.longest_s >= 0.08 and PROBE.longest_cpu_s > 0.01  # shared machine
        status = PROBE.as_status()
        assert status["loop_stalls"] == 1 and status["loop_longest_ms"] >= 80

    asyncio.run(main())
