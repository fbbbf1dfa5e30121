"""Device identity: what a configured device string names."""

from __future__ import annotations

import pytest

from kioskd.input.devices import DeviceInfo, Selector

SCANNER = DeviceInfo(
    "/x/event3", "Datalogic Handheld Scanner", 0x05F9, 0x2206, "S123", ("/x/by-id/a",)
)


@pytest.mark.parametrize(
    ("text", "matches"),
    [
        ("05f9:2206", True),
        ("05F9:2206:S123", True),
        ("05f9:2206:OTHER", False),
        ("05f9:2207", False),
        ("name:datalogic*", True),
        ("name:*keypad*", False),
        ("/x/by-id/a", True),
        ("/x/by-id/b", False),
    ],
)
def test_selectors(text: str, matches: bool) -> None:
    assert Selector.parse(text).matches(SCANNER) is matches


@pytest.mark.parametrize(
    "text", ["/dev/input/event3", "event3", "name:", "replay:", "replay:captures/a.evtest"]
)
def test_unstable_or_empty_device_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Selector.parse(text)


def test_replay_selector() -> None:
    assert Selector.parse("replay:/run/a.fifo") == Selector("replay", "/run/a.fifo")
    assert Selector.parse("") == Selector("none", "")
