"""The campaigns' clock model reboots like a Raspberry Pi: monotonic time starts from zero.

The server-time estimate carries a floor across a reboot as `floor + monotonic` (kioskd/
servertime.py), which is only a floor if the new boot's monotonic clock starts at zero, as
CLOCK_BOOTTIME does. A model whose monotonic clock ran on across a "power cut" made that
floor run ahead of the server by the time the previous boot had lasted: stamps, brackets and
deadlines of a kiosk booted offline in the campaign were then later than any real kiosk's.
"""

from __future__ import annotations

from kioskd import servertime as st
from kioskd.clock import VirtualClock
from kioskd.proving.clockmodel import KioskClock
from tests.outbox.conftest import START


def test_a_reboot_of_the_model_restarts_monotonic_time_and_keeps_the_floor_a_floor() -> None:
    server = VirtualClock(START)
    kiosk = KioskClock(server, offset_s=-7200.0)
    server.advance(5000)  # the first boot has run for a while
    est = st.ServerTime()
    est.learn(server.now(), kiosk.monotonic(), kiosk.monotonic())
    saved = est.to_record(kiosk.boot_id(), kiosk.monotonic())
    assert saved is not None
    server.advance(30)
    kiosk.reboot()  # the power goes; the kiosk boots again at once
    assert kiosk.monotonic() == 0.0
    server.advance(40)  # booted, offline: only the saved floor
    assert kiosk.monotonic() == 40.0
    after = st.ServerTime()
    assert after.restore(saved, kiosk.boot_id(), kiosk.monotonic()) == st.PROVISIONAL
    lower = after.estimate(kiosk.monotonic()).lower
    assert server.now() - 71.0 <= lower <= server.now()
