"""Loop-lag probe: the longest time one callback held the daemon's event loop.

Why: a sale waits behind whatever runs on the loop; a callback that holds it for long (a scan
of history, a big answer, a slow write) is the stall a clerk feels and what trips the watchdog
on a small board. asyncio's own slow-callback report needs debug mode, which slows every
callback down; this probe times each callback with `perf_counter()` and `thread_time()`
(about 0.5 us here) by wrapping `asyncio.events.Handle._run`, the one place every
callback, timer and task step passes through. Written by hand because no library measures
this (aiomonitor and aiodebug sample the loop's lateness, which misses a stall shorter than
their period).

`install()` wraps once per process; `PROBE.longest_s` is the longest since the last `reset()`
(the daemon resets it at READY=1, so start-up work is not counted as a counter stall) and
`PROBE.stalls` counts callbacks over `STALL_S`. `kioskctl status` and the metrics show both.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

STALL_S = 0.05  # a callback longer than this is a stall a clerk could notice
SLOW_KEPT = 8  # stalls kept with their names (status `loop_slow`)


class LoopLag:
    def __init__(self) -> None:
        self.longest_s = 0.0
        self.longest_what = ""
        self.longest_cpu_s = 0.0  # CPU time the loop's thread spent in that callback
        self.stalls = 0
        self.slow: list[tuple[float, float, str]] = []  # (wall s, CPU s, what) over STALL_S
        self.installed = False

    def reset(self) -> None:
        self.longest_s, self.longest_what, self.stalls = 0.0, "", 0
        self.longest_cpu_s = 0.0
        self.slow = []

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        original = asyncio.events.Handle._run
        probe = self
        clock = time.perf_counter
        cpu = time.thread_time

        def _run(handle: asyncio.events.Handle) -> None:
            t0, c0 = clock(), cpu()
            try:
                original(handle)
            finally:
                held = clock() - t0
                if held > probe.longest_s:
                    probe.longest_s = held
                    probe.longest_cpu_s = cpu() - c0
                    probe.longest_what = _name(handle)
                if held > STALL_S:
                    probe.stalls += 1
                    if len(probe.slow) < SLOW_KEPT:  # the first few, to say what they were
                        probe.slow.append((held, cpu() - c0, _name(handle)))

        asyncio.events.Handle._run = _run  # type: ignore[method-assign,assignment]

    def as_status(self) -> dict[str, Any]:
        return {
            "loop_longest_ms": round(self.longest_s * 1000, 2),
            "loop_longest_in": self.longest_what,
            # Wall time much above CPU time: the thread waited (the GIL, the OS scheduler on a
            # loaded machine, a page fault on the SD card), not our code computing.
            "loop_longest_cpu_ms": round(self.longest_cpu_s * 1000, 2),
            "loop_stalls": self.stalls,
            "loop_slow": [
                {"ms": round(w * 1000, 1), "cpu_ms": round(c * 1000, 1), "in": what}
                for w, c, what in self.slow
            ],
        }


def _name(handle: asyncio.events.Handle) -> str:
    """What the callback was: a task's coroutine name, else the callback's qualified name."""
    cb: Any = getattr(handle, "_callback", None)
    owner = getattr(cb, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro: Any = owner.get_coro()
        # The innermost coroutine the task was running (a supervisor wraps every task).
        while getattr(coro, "cr_await", None) is not None and hasattr(coro.cr_await, "cr_code"):
            coro = coro.cr_await
        return str(getattr(coro, "__qualname__", owner.get_name()))
    return str(getattr(cb, "__qualname__", repr(cb)))[:80]


PROBE = LoopLag()
