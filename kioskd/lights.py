"""The counter lights: three LEDs (green, amber, red) and a buzzer, through gpiozero.

Rules:
- One steady state at a time, by name (the table ``STATES``): ``ready`` green steady,
  ``working`` green blink, ``offline`` amber steady, ``reconciling`` amber blink,
  ``attention`` red blink, ``off``. One-shot signals on top: ``beep``, ``double_beep``,
  ``reject`` (red flash + two beeps); after a red flash the steady red pattern comes back.
- Nothing here blocks the caller: blinking and beeping run in gpiozero's background threads,
  so ``set_state`` and ``signal`` are safe to call from the event loop.
- The pin backend is chosen once, at the edge: ``backend="mock"`` (or "auto" off a Raspberry
  Pi) uses gpiozero's ``MockFactory``; "auto" on a Pi lets gpiozero pick (lgpio first, the
  only one that works on a Pi 5); "lgpio" forces it. Pins are BCM numbers from config.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Pattern = Literal["off", "on", "blink"]
LEDS = ("green", "amber", "red")

# state -> pattern per LED
STATES: dict[str, dict[str, Pattern]] = {
    "ready": {"green": "on", "amber": "off", "red": "off"},
    "working": {"green": "blink", "amber": "off", "red": "off"},
    "offline": {"green": "off", "amber": "on", "red": "off"},
    "reconciling": {"green": "off", "amber": "blink", "red": "off"},
    "attention": {"green": "off", "amber": "off", "red": "blink"},
    "off": {"green": "off", "amber": "off", "red": "off"},
}
SIGNALS = ("beep", "double_beep", "reject")

BLINK_ON_S = 0.4
BLINK_OFF_S = 0.4
BEEP_S = 0.08
FLASH_S = 0.6


@dataclass(frozen=True)
class Pins:
    """BCM pin numbers (see hardware/WIRING.md)."""

    green: int = 17
    amber: int = 27
    red: int = 22
    buzzer: int = 23


def on_raspberry_pi() -> bool:
    try:
        return "raspberry pi" in Path("/proc/device-tree/model").read_text().lower()
    except OSError:
        return False


def make_pin_factory(backend: str = "auto"):
    """The gpiozero pin factory for ``backend`` ("auto", "mock", "lgpio", or None for default)."""
    if backend == "mock" or (backend == "auto" and not on_raspberry_pi()):
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if backend == "lgpio":
        from gpiozero.pins.lgpio import LGPIOFactory

        return LGPIOFactory()
    if backend == "auto":
        return None  # gpiozero's own choice: lgpio, then RPi.GPIO, pigpio, native
    raise ValueError(f"unknown lights backend {backend!r} (auto, mock, lgpio)")


class Lights:
    """LEDs + buzzer facade. ``set_state(name)``, ``signal(name)``, ``current()``, ``test()``."""

    def __init__(
        self,
        pins: Pins = Pins(),
        *,
        backend: str = "auto",
        pin_factory=None,
        active_high: bool = True,
    ) -> None:
        from gpiozero import LED, Buzzer

        self.pin_factory = pin_factory or make_pin_factory(backend)
        kw = {"pin_factory": self.pin_factory, "active_high": active_high}
        self.leds = {
            "green": LED(pins.green, **kw),
            "amber": LED(pins.amber, **kw),
            "red": LED(pins.red, **kw),
        }
        self.buzzer = Buzzer(pins.buzzer, **kw)
        self._lock = threading.Lock()
        self._state = "off"
        self._flashing = False
        self._last_signal: str | None = None
        self._restore_timer: threading.Timer | None = None
        self._closing = threading.Event()
        self._test_threads: list[threading.Thread] = []
        self._apply_all()

    # -- steady states ---------------------------------------------------------------------
    def _apply(self, name: str, pattern: Pattern) -> None:
        led = self.leds[name]
        if pattern == "on":
            led.on()
        elif pattern == "off":
            led.off()
        else:
            led.blink(on_time=BLINK_ON_S, off_time=BLINK_OFF_S, background=True)

    def _apply_all(self) -> None:
        for name, pattern in STATES[self._state].items():
            if name == "red" and self._flashing:
                continue
            self._apply(name, pattern)

    def set_state(self, name: str) -> None:
        """Switch the steady pattern (no-op when already in it, so blinking keeps its phase)."""
        if name not in STATES:
            raise ValueError(f"unknown light state {name!r} (known: {', '.join(STATES)})")
        with self._lock:
            if name == self._state:
                return
            self._state = name
            self._apply_all()

    # -- one-shot signals --------------------------------------------------------------------
    def signal(self, name: str) -> None:
        """Play a one-shot signal in the background."""
        if name not in SIGNALS:
            raise ValueError(f"unknown light signal {name!r} (known: {', '.join(SIGNALS)})")
        with self._lock:
            self._last_signal = name
            if name == "beep":
                self.buzzer.beep(on_time=BEEP_S, off_time=BEEP_S, n=1, background=True)
            elif name == "double_beep":
                self.buzzer.beep(on_time=BEEP_S, off_time=BEEP_S, n=2, background=True)
            else:
                self.buzzer.beep(on_time=BEEP_S, off_time=BEEP_S, n=2, background=True)
                self._flashing = True
                self.leds["red"].blink(on_time=FLASH_S, off_time=0.01, n=1, background=True)
                if self._restore_timer is not None:
                    self._restore_timer.cancel()
                self._restore_timer = threading.Timer(FLASH_S + 0.05, self._end_flash)
                self._restore_timer.daemon = True
                self._restore_timer.start()

    def _end_flash(self) -> None:
        with self._lock:
            self._flashing = False
            self._restore_timer = None
            self._apply("red", STATES[self._state]["red"])

    # -- introspection and self-test -------------------------------------------------------
    def current(self) -> dict[str, object]:
        """Snapshot for status output and tests: state, pattern per LED, last signal."""
        with self._lock:
            snapshot: dict[str, object] = {"state": self._state, "last_signal": self._last_signal}
            snapshot.update(STATES[self._state])
            if self._flashing:
                snapshot["red"] = "flash"
            return snapshot

    def test(self, step_s: float = 0.5) -> float:
        """``kioskctl leds test``: each LED alone, then a beep, then back to the state.

        Runs in a background thread; returns how long it takes.
        """

        stop = self._closing
        self._test_threads = [t for t in self._test_threads if t.is_alive()]

        def run() -> None:
            with self._lock:
                for led in self.leds.values():
                    led.off()
            for led in self.leds.values():
                if stop.is_set():
                    return  # close() came first: the devices are going away
                led.on()
                stop.wait(step_s)
                led.off()
            if not stop.is_set():
                self.buzzer.beep(on_time=BEEP_S, off_time=BEEP_S, n=1, background=False)
            with self._lock:
                if not stop.is_set():
                    self._apply_all()

        thread = threading.Thread(target=run, name="lights test", daemon=True)
        self._test_threads.append(thread)
        thread.start()
        return step_s * len(self.leds) + 2 * BEEP_S

    def close(self) -> None:
        if self._restore_timer is not None:
            self._restore_timer.cancel()
        self._closing.set()  # a running `leds test` ends before its LEDs are closed
        for thread in self._test_threads:
            thread.join(timeout=2.0)
        for device in (*self.leds.values(), self.buzzer):
            device.close()
