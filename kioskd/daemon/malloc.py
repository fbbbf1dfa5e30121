"""What the daemon asks of glibc's allocator: fewer arenas, and freed pages given back.

Why by hand: no library covers `mallopt` and `malloc_trim` (two glibc calls); ctypes reaches
them, and where they are missing (another C library) both are no-ops.

- `limit_arenas()`, before the first thread: glibc gives each thread that allocates an arena
  of its own (up to eight per core). The daemon's workers (imports after READY=1, the catalog's
  decode, the journal's retention) each filled one; CPython allocates under its GIL, so they
  never contended for a shared one. Two arenas, all threads sharing them: 45.0 -> 44.6 MB
  RSS after start here, with 1 the same (issue 19, a Pi 3's memory;
  bench/bench_rss.py, bench/RESULTS.md).
- `give_back()`, after a catalog refresh (megabytes of JSON parsed and dropped): collect,
  and return freed heap pages, so a long-running kiosk's RSS stays near its working set.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)
ARENAS = 2


def _libc() -> Any:
    import ctypes

    return ctypes.CDLL("libc.so.6")


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's arenas; whether it took (it applies to threads that allocate later)."""
    with contextlib.suppress(OSError, AttributeError):
        return bool(_libc().mallopt(M_ARENA_MAX, arenas))
    return False


def give_back() -> None:
    """Collect, then ask glibc to return the freed pages of every arena."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        _libc().malloc_trim(0)
