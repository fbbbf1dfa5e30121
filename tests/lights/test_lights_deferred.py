"""Issue 19 (CPU to READY): `Lights(defer=True)` imports gpiozero and opens the pins only at
`open()` (the daemon's worker right after READY=1); the state set meanwhile is kept and shown
once the pins are open."""

from __future__ import annotations

from gpiozero.pins.mock import MockFactory

from kioskd.lights import Lights, Pins
from tests.run_kioskd import python_lines

PINS = Pins(green=17, amber=27, red=22, buzzer=23)


def test_deferred_lights_import_no_gpiozero_until_opened() -> None:
    code = (
        "import sys\n"
        "from kioskd.lights import Lights\n"
        "lit = Lights(backend='mock', defer=True)\n"
        "lit.set_state('working')\n"
        "print('gpiozero' in sys.modules, lit.opened, lit.current()['state'])\n"
        "lit.open()\n"
        "print('gpiozero' in sys.modules, lit.opened)\n"
        "lit.close()\n"
    )
    out = python_lines(code)
    assert out[0] == "False False working"
    assert out[1] == "True True"


def test_the_state_set_before_open_is_shown_when_opened() -> None:
    factory = MockFactory()
    lit = Lights(PINS, pin_factory=factory, defer=True)
    try:
        lit.set_state("offline")
        lit.signal("beep")  # not played (no pins yet), remembered as the last signal
        assert lit.current() == {
            "state": "offline", "last_signal": "beep", "opened": False,
            "green": "off", "amber": "on", "red": "off",
        }  # fmt: skip
        assert not lit.opened and not lit.leds
        lit.open()
        lit.open()  # once
        assert lit.opened and lit.current()["opened"]
        assert [factory.pin(n).state for n in (17, 27, 22)] == [False, True, False]
        assert not factory.pin(23).state  # the beep before open was not played late
        lit.set_state("ready")
        assert [factory.pin(n).state for n in (17, 27, 22)] == [True, False, False]
    finally:
        lit.close()
        factory.close()


def test_closed_before_open_never_opens() -> None:
    factory = MockFactory()
    lit = Lights(PINS, pin_factory=factory, defer=True)
    lit.set_state("ready")
    lit.close()
    lit.open()  # the daemon's worker, late: nothing is claimed
    assert not lit.opened
    factory.close()
