"""Helpers for driving the counter session with real key names (evdev codes) and scan texts."""

from __future__ import annotations

import pytest

from kioskd.counter.session import CounterSession, Key, SessionSettings
from kioskd.proving.fakes import samples

# What a USB numeric keypad reports through evdev.
EVDEV = {
    **{str(d): f"KEY_KP{d}" for d in range(10)},
    ".": "KEY_KPDOT",
    "+": "KEY_KPPLUS",
    "-": "KEY_KPMINUS",
    "*": "KEY_KPASTERISK",
    "/": "KEY_KPSLASH",
    "\n": "KEY_KPENTER",
    "\b": "KEY_BACKSPACE",
    "\x1b": "KEY_ESC",
}


def press(session: CounterSession, text: str, now: float = samples.NOW) -> list:
    """Type `text` key by key; return every action, in order."""
    actions: list = []
    for char in text:
        actions += session.handle(Key(EVDEV[char], now))
    return actions


@pytest.fixture
def session() -> CounterSession:
    return CounterSession(settings=SessionSettings(terminal_id="K-07"), catalog=samples.catalog())
