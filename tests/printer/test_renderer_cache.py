"""python-escpos writes its capabilities cache (a pickle) at its first import, not atomically:
a full disk leaves it torn, and its import then fails at every slip. The renderer loads anyway,
with the cache rebuilt in a memory-backed folder (`printer._load_renderer`; found by the
disk-full test). A fresh interpreter each time: the import is what is tested."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

CHECK = """
import os, sys, threading
from kioskd.printer.printer import _render, warm_renderer
from kioskd.receipt import Receipt
# The warm-up worker and the first slip at once (as after READY=1): both must get the
# renderer, neither a half-made module (found by the disk-full test in CI).
errors = []
def slip():
    try:
        _render(Receipt(kind="test"), 80)
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=warm_renderer), threading.Thread(target=slip)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors
assert "kioskd.printer.escpos_render" in sys.modules
print(os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"])
"""


def _run(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", CHECK], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_torn_capabilities_cache_does_not_stop_printing(tmp_path: Path) -> None:
    torn = tmp_path / f"{platform.python_version()}.capabilities.pickle"
    torn.write_bytes(b"")  # what a full disk leaves: escpos opened it, could not write
    future = time.time() + 3600  # newer than escpos's database: escpos trusts it
    os.utime(torn, (future, future))
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    moved = Path(proc.stdout.strip())
    assert moved != tmp_path and (moved / torn.name).stat().st_size > 0
    assert not torn.exists()  # the torn file is gone: the next start uses the state folder
    assert "capabilities cache unusable" in proc.stderr


def test_a_good_cache_stays_where_it_is(tmp_path: Path) -> None:
    first = _run(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert Path(first.stdout.strip()) == tmp_path
    assert (tmp_path / f"{platform.python_version()}.capabilities.pickle").stat().st_size > 0
