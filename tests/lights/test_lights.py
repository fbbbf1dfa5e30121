"""Lights on gpiozero's MockFactory: pin states for every state and signal."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory

from kioskd.lights import (
    BEEP_S,
    BLINK_OFF_S,
    BLINK_ON_S,
    FLASH_S,
    Blink,
    Lights,
    Pins,
    level_at,
)

PINS = Pins(green=17, amber=27, red=22, buzzer=23)


@pytest.fixture
def lights():
    factory = MockFactory()
    lit = Lights(PINS, pin_factory=factory)
    yield lit
    lit.close()
    factory.close()


def pin(lights: Lights, number: int):
    return lights.pin_factory.pin(number)


def toggles(lights: Lights, number: int, limit_s: float = 10.0) -> int:
    """Wait until the pin has changed at least twice (blinking); a hang bound, not a timing."""
    history = pin(lights, number).states
    deadline = time.monotonic() + limit_s
    while len(history) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(history)


def test_starts_off(lights):
    assert lights.current()["state"] == "off"
    assert not any(pin(lights, n).state for n in (17, 27, 22, 23))


# What the clerk sees (DESIGN.md section 4), written out here, not read from `STATES`: pin
# 17 green, 27 amber, 22 red.
@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("ready", {17: True, 27: False, 22: False}),
        ("offline", {17: False, 27: True, 22: False}),
        ("off", {17: False, 27: False, 22: False}),
    ],
)
def test_steady_states_set_pins(lights, state, expected):
    lights.set_state(state)
    assert {n: bool(pin(lights, n).state) for n in expected} == expected


@pytest.mark.parametrize(
    ("state", "number"), [("working", 17), ("reconciling", 27), ("attention", 22)]
)
def test_blinking_states_toggle_in_background(lights, state, number):
    pin(lights, number).clear_states()
    lights.set_state(state)  # returns at once: the blinker thread blinks
    assert lights.current()[STATES_KEY[number]] == "blink"
    assert toggles(lights, number) >= 3


STATES_KEY = {17: "green", 27: "amber", 22: "red"}


def test_unknown_names_raise(lights):
    with pytest.raises(ValueError, match="unknown light state 'party'"):
        lights.set_state("party")
    with pytest.raises(ValueError, match="unknown light signal 'siren'"):
        lights.signal("siren")


@pytest.mark.parametrize(("name", "beeps"), [("beep", 1), ("double_beep", 2), ("reject", 2)])
def test_signals_beep(lights, name, beeps):
    buzzer = pin(lights, 23)
    buzzer.clear_states()
    lights.signal(name)
    deadline = time.monotonic() + 10
    while len(buzzer.states) < 1 + 2 * beeps and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)  # let a wrong extra beep show up if there were one
    ons = [s for s in buzzer.states[1:] if s.state]
    assert len(ons) == beeps
    assert lights.current()["last_signal"] == name


def test_reject_flashes_red_then_restores_steady_state(lights):
    lights.set_state("ready")
    lights.signal("reject")
    assert lights.current()["red"] == "flash"
    assert pin(lights, 22).state  # red is lit right away
    deadline = time.monotonic() + 10
    while lights.current()["red"] == "flash" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lights.current()["red"] == "off" and not pin(lights, 22).state
    assert pin(lights, 17).state  # green steady untouched


def test_self_test_lights_each_led_then_restores(lights):
    lights.set_state("offline")
    for n in (17, 27, 22):
        pin(lights, n).clear_states()
    duration = lights.test(step_s=0.05)
    deadline = time.monotonic() + 10 + duration
    while not pin(lights, 27).state or len(pin(lights, 22).states) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert any(s.state for s in pin(lights, 17).states)
    assert any(s.state for s in pin(lights, 22).states)
    assert lights.current()["state"] == "offline"


def test_mock_backend_off_pi():
    lit = Lights(Pins(green=5, amber=6, red=13, buzzer=19), backend="mock")
    try:
        assert type(lit.pin_factory).__name__ == "MockFactory"
    finally:
        lit.close()


# ---------------------------------------------------------------- the blinker (issue 19: CPU)


def _gpiozero_level(on_s: float, off_s: float, n: int | None, elapsed: float) -> bool:
    """What gpiozero's `blink(on_time, off_time, n)` shows `elapsed` seconds in: its thread
    writes on, waits on_s, writes off, waits off_s, n times (or for ever), and stops off."""
    t = 0.0
    cycle = 0
    while n is None or cycle < n:
        if elapsed < t + on_s:
            return True
        if elapsed < t + on_s + off_s:
            return False
        t += on_s + off_s
        cycle += 1
    return False


@pytest.mark.parametrize(
    ("on_s", "off_s", "n"),
    [
        (BLINK_ON_S, BLINK_OFF_S, None),  # working, reconciling, attention
        (BEEP_S, BEEP_S, 1),  # beep
        (BEEP_S, BEEP_S, 2),  # double beep, reject
        (FLASH_S, 0.01, 1),  # reject's red flash
    ],
)
def test_blink_levels_are_gpiozeros(on_s, off_s, n):
    """The blinker plays the patterns gpiozero's blink threads played, at every instant."""
    blink = Blink(on_s, off_s, n)
    for step in range(4000):
        elapsed = step * 0.00137
        level, left = level_at(blink, elapsed)
        assert level == _gpiozero_level(on_s, off_s, n, elapsed), elapsed
        if left is not None:  # the level holds until the change it announces, then changes
            assert _gpiozero_level(on_s, off_s, n, elapsed + left * 0.999) == level
            assert _gpiozero_level(on_s, off_s, n, elapsed + left + 1e-9) != level
        else:  # ended: off from here on
            assert n is not None and not level and elapsed >= n * (on_s + off_s) - off_s - 1e-9


def test_beeps_and_blinks_start_no_thread_each(lights):
    """One blinker thread plays every beep and blink; gpiozero's `beep`/`blink` started (and
    stopping joined) a thread each time: 0.7-0.9 ms of CPU a beep or blink here."""
    started: list[str] = []
    real_start = threading.Thread.start

    def counting(self):  # type: ignore[no-untyped-def]
        started.append(self.name)
        real_start(self)

    buzzer = pin(lights, 23)
    buzzer.clear_states()
    threading.Thread.start = counting  # type: ignore[method-assign]
    try:
        for _ in range(5):  # five sales: a beep, working (green blinks), ready
            lights.signal("beep")
            lights.set_state("working")
            lights.set_state("ready")
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
    assert started in ([], ["lights"])
    deadline = time.monotonic() + 10
    while len(buzzer.states) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [s.state for s in buzzer.states[1:3]] == [True, False]  # the last beep was played
    assert pin(lights, 17).state  # green steady after the last sale


async def test_made_in_an_event_loop_the_lights_play_on_its_timers():
    """The daemon's lights (made in its running loop) blink and beep on the loop's timers:
    no thread at all, the same pins as the thread's patterns, stopped by a steady state."""
    started: list[str] = []
    real_start = threading.Thread.start

    def counting(self):  # type: ignore[no-untyped-def]
        started.append(self.name)
        real_start(self)

    factory = MockFactory()
    threading.Thread.start = counting  # type: ignore[method-assign]
    try:
        lit = Lights(PINS, pin_factory=factory)
        try:
            lit.set_state("ready")
            buzzer, green = pin(lit, 23), pin(lit, 17)
            buzzer.clear_states()
            lit.signal("double_beep")
            lit.set_state("working")
            green.clear_states()
            deadline = time.monotonic() + 10
            while (len(buzzer.states) < 5 or len(green.states) < 3) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)  # a wrong extra beep would show up
            assert [s.state for s in buzzer.states[1:]] == [True, False, True, False]
            assert len(green.states) >= 3 and green.states[-1].state in (True, False)
            lit.set_state("ready")
            assert green.state
            green.clear_states()
            await asyncio.sleep(1.0)  # more than a blink period: the blink is over
            assert len(green.states) == 1 and green.state
        finally:
            lit.close()
    finally:
        threading.Thread.start = real_start  # type: ignore[method-assign]
        factory.close()
    assert started == []


def test_a_state_change_writes_only_the_leds_whose_pattern_changes(lights: Lights) -> None:
    """Issue 19 (CPU a sale): a sale's ready -> working -> ready writes the green LED only;
    amber and red, off in all three, are not written again. A red flash forgets what red was
    given, so the steady pattern is written back after it."""
    writes = {n: 0 for n in (PINS.green, PINS.amber, PINS.red)}
    for number in writes:
        p = pin(lights, number)
        real = p._set_state

        def counted(value, real=real, number=number):
            writes[number] += 1
            return real(value)

        p._set_state = counted
    lights.set_state("ready")
    before = dict(writes)
    for _ in range(3):
        lights.set_state("working")
        lights.set_state("ready")
    assert writes[PINS.amber] == before[PINS.amber] and writes[PINS.red] == before[PINS.red]
    assert writes[PINS.green] > before[PINS.green] and pin(lights, PINS.green).state
    lights.set_state("attention")  # red blinks
    lights.signal("reject")
    time.sleep(FLASH_S + 0.3)
    pin(lights, PINS.red).clear_states()
    assert toggles(lights, PINS.red) >= 3  # blinking again after the flash
    lights.set_state("ready")
    time.sleep(0.05)
    assert not pin(lights, PINS.red).state and pin(lights, PINS.green).state
