"""The kill -9 campaign's stepping wall clock: libfaketime really steps the daemon's wall clock
and leaves its monotonic and boot-time clocks alone."""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from kioskd.proving.faketime import FaketimeWall, find_library, loaded_in

pytestmark = pytest.mark.skipif(
    find_library() is None, reason="needs libfaketime (Debian package `faketime`, see dev.sh)"
)
DAY = 86400.0


def test_the_offset_file_steps_the_wall_clock_not_monotonic_or_boottime(tmp_path) -> None:
    wall = FaketimeWall(tmp_path / "offset", -2 * DAY)
    seen = wall.probe()
    assert abs(seen["wall_offset_s"] + 2 * DAY) < 5
    assert abs(seen["monotonic_off_s"]) < 5 and abs(seen["boottime_off_s"]) < 5
    wall.step(3600)  # NTP steps the clock forward by an hour
    seen = wall.probe()
    assert abs(seen["wall_offset_s"] - (-2 * DAY + 3600)) < 5
    assert abs(seen["monotonic_off_s"]) < 5 and abs(seen["boottime_off_s"]) < 5
    assert wall.steps == 1


def _last_log_time(text: str) -> float:
    stamps = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", text, re.MULTILINE)
    assert stamps, text[-2000:]
    return datetime.strptime(stamps[-1], "%Y-%m-%d %H:%M:%S").timestamp()


def test_the_real_daemon_runs_on_the_stepping_wall_clock(tmp_path) -> None:
    """`kioskd run` under libfaketime: the library is mapped into the daemon, and the times it
    writes in its log follow the offset file, before and after a step while it runs."""
    from kioskd.proving.harness import VirtualKiosk

    wall = FaketimeWall(tmp_path / "offset", -3 * DAY)
    with VirtualKiosk(tmp_path / "kiosk", preview=False, log_level="info", timers="short") as k:
        k.start_daemon(env=wall.env())
        assert k.proc is not None and loaded_in(k.proc.pid)
        before = _last_log_time(k.log_path.read_text())
        assert abs(before - (time.time() - 3 * DAY)) < 120
        wall.step(DAY + 3600)  # a step while the daemon runs: it must see it at once
        k.stop_daemon()  # its goodbye lines are written after the step
        after = _last_log_time(k.log_path.read_text())
        assert abs(after - (time.time() - 2 * DAY + 3600)) < 120
