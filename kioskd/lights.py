"""The counter lights: three LEDs (green, amber, red) and a buzzer, through gpiozero.

Rules:
- One steady state at a time, by name (the table ``STATES``): ``ready`` green steady,
  ``working`` green blink, ``offline`` amber steady, ``reconciling`` amber blink,
  ``attention`` red blink, ``off``. One-shot signals on top: ``beep``, ``double_beep``,
  ``reject`` (red flash + two beeps); after a red flash the steady red pattern comes back.
- Nothing here blocks the caller: ``set_state`` and ``signal`` are safe to call from the event
  loop. Timed patterns (blinks, beeps) play on the timers of the event loop the lights were
  made in (`_LoopBlinker`: the daemon; a call from another thread hops onto the loop), or,
  made outside a running loop (tools, tests), on one thread of ours (`_Blinker`). Not
  gpiozero's ``blink``/``beep``: each starts a thread and stopping it joins that thread,
  about 0.8 ms of CPU for a sale's beep and green blink here, 0.4 ms with one thread woken
  for each change, less on the loop's timers (issue 19: CPU per sale). Both play the same
  patterns (`level_at`: on first, ``on_s`` then ``off_s``, ``n`` times or for ever, off at
  the end) and write the pins through gpiozero's devices.
- Opening the pins imports gpiozero (about 50 ms of CPU here, ~0.7 s on a Pi 3B: its pin
  factories, board tables, `importlib.metadata`). ``Lights(..., defer=True)`` (the daemon's
  start) opens nothing: ``open()``, run by the daemon in a worker right after READY=1, does
  it and shows the steady state set meanwhile; until then states are kept (and shown by
  ``current``) and one-shot signals are not played. The LEDs are dark while the daemon starts
  and show its state from just after READY=1 (issue 19: CPU to READY).
- The pin backend is chosen once, at the edge: ``backend="mock"`` (or "auto" off a Raspberry
  Pi) uses gpiozero's ``MockFactory``; "auto" on a Pi lets gpiozero pick (lgpio first, the
  only one that works on a Pi 5); "lgpio" forces it. Pins are BCM numbers from config.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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


@dataclass(frozen=True)
class Blink:
    """A timed pattern: on for ``on_s``, off for ``off_s``, ``n`` times (None: for ever)."""

    on_s: float
    off_s: float
    n: int | None = None


def level_at(blink: Blink, elapsed: float) -> tuple[bool, float | None]:
    """The level ``elapsed`` seconds after ``blink`` started, and the seconds until it next
    changes (None: never again; it stays off, as gpiozero's ``blink(n=...)`` leaves a device)."""
    period = blink.on_s + blink.off_s
    cycles, into = divmod(max(0.0, elapsed), period)
    if blink.n is not None and cycles >= blink.n:
        return False, None
    if into < blink.on_s:
        return True, blink.on_s - into
    last = blink.n is not None and cycles == blink.n - 1
    return False, None if last else period - into


def _follow(device, blink: Blink, started: float, written: bool) -> tuple[bool, float | None]:
    """Write the level ``blink`` (started at monotonic ``started``) has now to ``device`` if
    it is not the level last ``written``; returns it and the seconds until it next changes
    (`level_at`). Both blinkers step with this: they differ only in what wakes them."""
    level, left = level_at(blink, time.monotonic() - started)
    if level != written:
        if level:
            device.on()
        else:
            device.off()
    return level, left


class _Blinker:
    """One thread that plays every device's `Blink` (started at the first one, kept until
    `close`). A steady write by the caller stops the device's blink first (`stop`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._playing: dict[Any, tuple[Blink, float, bool]] = {}  # device -> start, level
        self._thread: threading.Thread | None = None
        self._closed = False

    def play(self, device, blink: Blink) -> None:
        """Start ``blink`` on ``device`` now (its first "on" is written before returning)."""
        with self._cond:
            if self._closed:
                return
            device.on()
            self._playing[device] = (blink, time.monotonic(), True)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lights", daemon=True)
                self._thread.start()
            self._cond.notify()

    def stop(self, device) -> None:
        """Stop the device's blink where it is (the caller writes the level it wants next)."""
        with self._cond:
            self._playing.pop(device, None)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                wait: float | None = None
                for device, (blink, started, written) in list(self._playing.items()):
                    level, left = _follow(device, blink, started, written)
                    self._playing[device] = (blink, started, level)
                    if left is None:
                        del self._playing[device]
                    else:
                        wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._playing.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2.0)


class _LoopBlinker:
    """Plays every device's `Blink` on an asyncio loop's timers: no thread to wake (the
    daemon's loop runs anyway). `play` and `stop` may come from any thread; the timers are
    only touched on the loop, and a step that a later `play` or `stop` overtook does nothing
    (each play has its own number)."""

    def __init__(self, loop) -> None:
        self._loop = loop
        self._lock = threading.Lock()
        self._playing: dict[Any, tuple[Blink, float, bool, int]] = {}  # ... level, play number
        self._timers: dict[Any, Any] = {}  # device -> its asyncio.TimerHandle (loop only)
        self._plays = 0
        self._closed = False

    def play(self, device, blink: Blink) -> None:
        """Start ``blink`` on ``device`` now (its first "on" is written before returning)."""
        with self._lock:
            if self._closed:
                return
            device.on()
            self._plays += 1
            number = self._plays
            self._playing[device] = (blink, time.monotonic(), True, number)
        self._on_loop(self._step, device, number)

    def stop(self, device) -> None:
        """Stop the device's blink where it is (the caller writes the level it wants next)."""
        with self._lock:
            self._playing.pop(device, None)
        self._on_loop(self._cancel, device)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            devices = list(self._playing)
            self._playing.clear()
        for device in devices:
            self._on_loop(self._cancel, device)

    def _on_loop(self, fn, *args: Any) -> None:
        try:
            here = _running_loop() is self._loop
        except RuntimeError:
            here = False
        if here:
            fn(*args)
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the kiosk stops
                self._loop.call_soon_threadsafe(fn, *args)

    def _cancel(self, device) -> None:
        timer = self._timers.pop(device, None)
        if timer is not None:
            timer.cancel()

    def _step(self, device, number: int) -> None:
        self._cancel(device)
        with self._lock:
            entry = self._playing.get(device)
            if entry is None or entry[3] != number:
                return  # stopped, or played again since
            blink, started, written, _ = entry
            level, left = _follow(device, blink, started, written)
            self._playing[device] = (blink, started, level, number)
            if left is None:
                del self._playing[device]
                return
        # A hair late rather than early: a timer a little early would only step again.
        self._timers[device] = self._loop.call_later(left + 0.0005, self._step, device, number)


def _running_loop():
    """The running asyncio loop of this thread; RuntimeError when there is none (asyncio not
    even imported: there is none either, and the lights do not import it for tools)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        raise RuntimeError("no running event loop")
    return asyncio.get_running_loop()


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
        defer: bool = False,
    ) -> None:
        """``defer``: open the pins later, with ``open()`` (see the rules above)."""
        self._pins = pins
        self._backend = backend
        self.pin_factory = pin_factory
        self._active_high = active_high
        self.leds: dict[str, Any] = {}
        self.buzzer: Any = None
        self._lock = threading.Lock()
        self._state = "off"
        # The pattern each LED was last given by `_apply` (what it shows unless something
        # else wrote it since: a red flash, `test`, a new opening, which forget it).
        self._applied: dict[str, Pattern] = {}
        self._flashing = False
        self._last_signal: str | None = None
        self._restore_timer: threading.Timer | None = None
        self._closing = threading.Event()
        self._test_threads: list[threading.Thread] = []
        try:
            self._blinker: _Blinker | _LoopBlinker = _LoopBlinker(_running_loop())
        except RuntimeError:
            self._blinker = _Blinker()
        if not defer:
            self.open()

    @property
    def opened(self) -> bool:
        """The pins are open (the LEDs show the state)."""
        return self.buzzer is not None

    def open(self) -> None:
        """Import gpiozero, open the pins and show the current state; once (any thread)."""
        from gpiozero import LED, Buzzer

        with self._lock:
            if self.opened or self._closing.is_set():
                return
            if self.pin_factory is None:
                self.pin_factory = make_pin_factory(self._backend)
            kw = {"pin_factory": self.pin_factory, "active_high": self._active_high}
            pins = self._pins
            leds = {
                "green": LED(pins.green, **kw),
                "amber": LED(pins.amber, **kw),
                "red": LED(pins.red, **kw),
            }
            buzzer = Buzzer(pins.buzzer, **kw)
            self.leds, self.buzzer = leds, buzzer
            self._applied.clear()
            self._apply_all()

    # -- steady states ---------------------------------------------------------------------
    def _apply(self, name: str, pattern: Pattern) -> None:
        """Give LED `name` its pattern, unless it already shows it: a sale's two state changes
        (ready, working, ready) change only the green LED; the other two are not written
        again (issue 19: CPU a sale), and a blink keeps its phase."""
        if self._applied.get(name) == pattern:
            return
        self._applied[name] = pattern
        led = self.leds[name]
        if pattern == "blink":
            self._blinker.play(led, Blink(BLINK_ON_S, BLINK_OFF_S))
            return
        self._blinker.stop(led)
        if pattern == "on":
            led.on()
        else:
            led.off()

    def _apply_all(self) -> None:
        if not self.opened:
            return  # `open` shows the state
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
            if not self.opened:
                return  # not played: the pins open just after READY=1
            self._blinker.play(self.buzzer, Blink(BEEP_S, BEEP_S, 1 if name == "beep" else 2))
            if name == "reject":
                self._flashing = True
                self._applied.pop("red", None)  # the flash writes it: given again after
                self._blinker.play(self.leds["red"], Blink(FLASH_S, 0.01, 1))
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
        """Snapshot for status output and tests: state, pattern per LED, last signal, and
        whether the pins are open (`opened`: false until just after READY=1, or if opening
        them failed)."""
        with self._lock:
            snapshot: dict[str, object] = {
                "state": self._state,
                "last_signal": self._last_signal,
                "opened": self.opened,
            }
            snapshot.update(STATES[self._state])
            if self._flashing:
                snapshot["red"] = "flash"
            return snapshot

    def test(self, step_s: float = 0.5) -> float:
        """``kioskctl leds test``: each LED alone, then a beep, then back to the state.

        Runs in a background thread; returns how long it takes.
        """

        stop = self._closing
        self.open()
        self._test_threads = [t for t in self._test_threads if t.is_alive()]

        def run() -> None:
            with self._lock:
                self._applied.clear()  # the test writes the LEDs itself
                for device in (*self.leds.values(), self.buzzer):
                    self._blinker.stop(device)
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
                    self._applied.clear()  # whatever was given meanwhile, the test wrote over
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
        with self._lock:  # an `open` under way finishes first; none starts after this
            self._closing.set()
        self._blinker.close()
        if self.opened:
            for device in (*self.leds.values(), self.buzzer):
                device.close()
