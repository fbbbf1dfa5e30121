"""The daemon's glibc calls (kioskd/daemon/malloc.py), in fresh interpreters: threads that
allocate after `limit_arenas()` share its two arenas (glibc's own `malloc_info` counts them);
without it each takes its own. Issue 19: 45.0 -> 44.6 MB RSS after start."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kioskd.daemon import malloc

PROBE = """
import ctypes, os, sys, tempfile, threading
from kioskd.daemon import malloc
if sys.argv[1] == "limit":
    assert malloc.limit_arenas()
keep = []
# All six threads alive at once: glibc hands an exited thread's arena to the next new thread,
# so threads that ran one after another (a loaded machine) would share arenas anyway.
together = threading.Barrier(6)
def work():
    together.wait()
    keep.append([bytes(2048) for _ in range(500)])  # > 512 bytes: glibc's, not pymalloc's
    together.wait()
    malloc.give_back()
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
path = os.path.join(tempfile.mkdtemp(), "info.xml")
f = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, ctypes.c_void_p(f))
libc.fclose(ctypes.c_void_p(f))
print(open(path).read().count("<heap nr="))
"""


def arenas(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    ).stdout
    return int(out.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_threads_share_two_arenas_once_limited() -> None:
    assert arenas("limit") <= malloc.ARENAS
    assert arenas("free") > malloc.ARENAS  # the default: one a thread, the cap is not a given
