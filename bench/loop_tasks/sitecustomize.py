"""The daemon's event-loop CPU by the task each callback stepped (bench/bench_sale_tasks.py).

Loaded by the daemon's interpreter only when bench/loop_tasks is on its PYTHONPATH, and active
only with ``KIOSKD_BENCH_LOOP_TASKS=FILE``: every asyncio callback is timed with
`time.thread_time()` while the accounting is on; SIGUSR2 switches it on, then off and writes
FILE (``TOTAL seconds`` of the loop thread's CPU, then ``seconds calls name`` lines). A step of a
task is named by where the task stood when the step ended: the chain of coroutines it awaits,
each with its line (``done`` when the step finished the task). Naming a step is left out of
every figure (TOTAL too); the two clock reads a callback still add a little to each: read the
shares, and compare two trees in one sitting.

With ``KIOSKD_BENCH_LOOP_FUNCTIONS=module:Class.function,...`` it times those functions
instead (inclusive `time.thread_time()` of each call made on the loop's thread while the
accounting is on; nested ones count in both), wrapped when the accounting is switched on (the
modules are loaded by then); a name that does not resolve is listed as ``MISSING``. Only
synchronous functions mean anything here (a coroutine function's figure is the coroutine's
creation), and only those called through the attribute (a name imported with ``from`` before
the wrapping keeps the original).

Not a part of kioskd: a benchmark's probe, as `strace` is one.
"""

from __future__ import annotations

import os

if os.environ.get("KIOSKD_BENCH_LOOP_TASKS"):
    import asyncio
    import asyncio.events
    import collections
    import functools
    import importlib
    import signal
    import threading
    import time
    from typing import Any

    _cpu: collections.Counter[str] = collections.Counter()
    _calls: collections.Counter[str] = collections.Counter()
    _on = [False, 0.0]
    _probe = [0.0]  # the probe's own CPU (naming the steps), left out of TOTAL
    _run = asyncio.events.Handle._run

    def _name(handle: asyncio.events.Handle) -> str:
        callback = handle._callback  # type: ignore[attr-defined]
        task = getattr(callback, "__self__", None)
        if isinstance(task, asyncio.Task):
            coro, names = task.get_coro(), []
            while coro is not None and len(names) < 8:
                frame = getattr(coro, "cr_frame", None)
                where = f":{frame.f_lineno}" if frame is not None else ""
                names.append(getattr(coro, "__qualname__", type(coro).__name__) + where)
                coro = getattr(coro, "cr_await", None)
            return "task " + (" > ".join(names) if task.done() is False else "done " + names[0])
        inner = getattr(callback, "func", callback)
        return str(getattr(inner, "__qualname__", repr(inner)))

    def _timed(handle: asyncio.events.Handle) -> None:
        if not _on[0]:
            return _run(handle)
        start = time.thread_time()
        try:
            return _run(handle)
        finally:
            spent = time.thread_time()
            name = _name(handle)
            _cpu[name] += spent - start
            _calls[name] += 1
            _probe[0] += time.thread_time() - spent  # the naming: charged to nobody

    def _switch(*_: object) -> None:
        if not _on[0]:
            _cpu.clear()
            _calls.clear()
            _probe[0] = 0.0
            _on[:] = [True, time.thread_time()]
            return
        total = time.thread_time() - _on[1] - _probe[0]
        _on[0] = False
        with open(os.environ["KIOSKD_BENCH_LOOP_TASKS"], "w", encoding="utf-8") as out:
            out.write(f"TOTAL {total}\n")
            for name, seconds in _cpu.most_common():
                out.write(f"{seconds:.6f} {_calls[name]} {name}\n")

    def _wrapped(name: str, function: Any) -> Any:
        main = threading.main_thread()

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if not _on[0] or threading.current_thread() is not main:
                return function(*args, **kwargs)
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                _cpu[name] += time.thread_time() - start
                _calls[name] += 1

        return timed

    def _wrap_functions(names: str) -> None:
        for target in filter(None, names.split(",")):
            module_name, _, dotted = target.partition(":")
            try:
                owner: Any = importlib.import_module(module_name)
                *path, attribute = dotted.split(".")
                for part in path:
                    owner = getattr(owner, part)
                raw = vars(owner).get(attribute) if isinstance(owner, type) else None
                if isinstance(raw, staticmethod | classmethod):  # keep the binding it had
                    setattr(owner, attribute, type(raw)(_wrapped(dotted, raw.__func__)))
                else:
                    setattr(owner, attribute, _wrapped(dotted, getattr(owner, attribute)))
            except (ImportError, AttributeError, ValueError):
                _cpu["MISSING " + target] += 0.0
                _calls["MISSING " + target] += 0

    _functions = os.environ.get("KIOSKD_BENCH_LOOP_FUNCTIONS", "")

    _functions_wrapped = [False]

    def _switch_functions(*_: object) -> None:
        if not _functions_wrapped[0]:
            _functions_wrapped[0] = True
            _wrap_functions(_functions)  # at the first switch: the modules are loaded by now
        _switch()

    if _functions:
        signal.signal(signal.SIGUSR2, _switch_functions)
    else:
        asyncio.events.Handle._run = _timed  # type: ignore[method-assign]
        signal.signal(signal.SIGUSR2, _switch)
