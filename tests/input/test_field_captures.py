"""The field corpus (tests/captures/field): devices as publicly reported decode right with the
shipped defaults, i.e. the decoder settings `kioskd run` derives from config/kioskd.toml."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from kioskd.config import input_sources, load_config
from kioskd.counter.keymap import Keymap
from kioskd.input.evtest import parse_header
from kioskd.input.replay import decode_captures
from kioskd.input.xkb import Layout

ROOT = Path(__file__).resolve().parent.parent.parent
FIELD = ROOT / "tests" / "captures" / "field"
MANIFEST = json.loads((FIELD / "manifest.json").read_text(encoding="utf-8"))
SHIPPED = {sc.role: sc for sc in input_sources(load_config(ROOT / "config" / "kioskd.toml"))}


def decode(name: str, *, leds: bool = True, **changes: object) -> list:
    case = MANIFEST[name]
    source = dataclasses.replace(SHIPPED[case["role"]], **changes)
    text = (FIELD / case["capture"]).read_text(encoding="utf-8")
    if not leds:
        text = "\n".join(line for line in text.splitlines() if "(EV_LED)" not in line)
    layout = Layout(source.layout, source.variant)
    return list(decode_captures([(name, text.splitlines())], layout, source.decoder_config()))


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_field_capture_decodes_right_with_the_shipped_defaults(name: str) -> None:
    case = MANIFEST[name]
    tokens = decode(name)
    assert all(t.error is None for t in tokens)
    if case["role"] == "keypad":
        assert [t.key for t in tokens] == case["keys"]
        keymap = Keymap()
        assert all(keymap.action(t.key) is not None for t in tokens)  # every key means something
    else:
        assert [t.text for t in tokens] == case["texts"]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_every_field_capture_has_a_note_and_names_its_device(name: str) -> None:
    case = MANIFEST[name]
    assert len(case["note"]) > 40
    header = parse_header((FIELD / case["capture"]).read_text(encoding="utf-8").splitlines())
    assert case["device"] == f"{header.vendor:04x}:{header.product:04x} {header.name}"


@pytest.mark.parametrize(
    "name", ["numlock_wrap_keypad", "numlock_tap_keypad", "keypad_mode_scanner_numlock_wrap"]
)
def test_following_numlock_is_what_broke_these_devices(name: str) -> None:
    """The captures exercise the fault: with Num Lock followed from "on" (the old default) they
    misread. Under the daemon's exclusive grab the host never sees the keys, so no LED echo."""
    case = MANIFEST[name]
    tokens = decode(name, leds=False, keypad_digits=False)
    got = [t.key for t in tokens] if case["role"] == "keypad" else [t.text for t in tokens]
    assert got != case.get("keys", case.get("texts"))


def test_the_corpus_covers_the_reported_behaviours() -> None:
    text = " ".join(case["note"] for case in MANIFEST.values()).lower()
    for behaviour in (
        "num lock",
        "0c45:7603",
        "00 key",
        "alt + keypad",
        "ctrl+shift",
        "keypad enter",
    ):
        assert behaviour in text, behaviour
