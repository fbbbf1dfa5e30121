"""The pure decoder, driven with plain calls (events built from kernel key codes)."""

from __future__ import annotations

import pytest
from evdev import ecodes as e
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.input.decoder import (
    Decoder,
    DecoderConfig,
    DecoderError,
    KeyToken,
    ScanToken,
    alt_code_char,
)
from kioskd.input.evtest import EV_KEY, EV_LED, LED_NUML, InputEvent, KeyScript
from kioskd.input.xkb import Layout, UnknownLayout

US = Layout("us")


def decode(script: KeyScript, layout: Layout = US, **config: object) -> list:
    return Decoder(layout, DecoderConfig(**config)).feed_many(script.events)  # type: ignore[arg-type]


def texts(tokens: list) -> list[str]:
    return [t.text for t in tokens]


def test_unknown_layout_fails_when_built() -> None:
    with pytest.raises(UnknownLayout):
        Layout("no-such-layout")


@pytest.mark.parametrize(
    ("layout", "keys", "expected"),
    [
        ("de", [(e.KEY_Y,), (e.KEY_Z,), (e.KEY_SEMICOLON,)], "zyö"),
        ("es", [(e.KEY_SEMICOLON,), (e.KEY_3, e.KEY_LEFTSHIFT), (e.KEY_2, e.KEY_RIGHTALT)], "ñ·@"),
        ("latam", [(e.KEY_Q, e.KEY_RIGHTALT), (e.KEY_MINUS,)], "@'"),
        ("us", [(e.KEY_Q, e.KEY_RIGHTALT), (e.KEY_MINUS,)], "q-"),  # Right Alt is Alt on us
    ],
)
def test_layouts(layout: str, keys: list[tuple[int, ...]], expected: str) -> None:
    script = KeyScript()
    for code, *mods in keys:
        script.tap(code, *mods)
    script.tap(e.KEY_ENTER)
    assert texts(decode(script, Layout(layout))) == [expected]


def test_ctrl_letters_are_control_characters_and_marked_bad_unless_allowed() -> None:
    script = KeyScript().tap(e.KEY_A, e.KEY_LEFTCTRL).tap(e.KEY_B).tap(e.KEY_ENTER)
    (token,) = decode(script)
    assert (token.text, token.error) == ("\x01b", "bad_char")
    (token,) = decode(script, allowed=frozenset("\x01b"))
    assert (token.text, token.error) == ("\x01b", None)


def test_allowed_set_is_enforced() -> None:
    script = KeyScript().taps([e.KEY_1, e.KEY_2, e.KEY_A, e.KEY_ENTER])
    (token,) = decode(script, allowed=frozenset("0123456789"))
    assert token.error == "bad_char"


def test_numlock_off_keypad_digits_type_nothing_in_a_scan_when_following_numlock() -> None:
    script = KeyScript().taps([e.KEY_KP1, e.KEY_KP2, e.KEY_1, e.KEY_KPENTER])
    assert texts(decode(script)) == ["121"]
    assert texts(decode(script, numlock=False)) == ["121"]  # default: keypad keys are digits
    assert texts(decode(script, numlock=False, keypad_digits=False)) == ["1"]


def wrapped_in_numlock(script: KeyScript, code: int) -> KeyScript:
    """The 0c45:7603 pattern: Num Lock down, key down, Num Lock up, key up, Num Lock down/up."""
    return (
        script.key(e.KEY_NUMLOCK, 1)
        .key(code, 1)
        .key(e.KEY_NUMLOCK, 0)
        .key(code, 0)
        .tap(e.KEY_NUMLOCK)
    )


KP = {
    "1": e.KEY_KP1,
    "2": e.KEY_KP2,
    "3": e.KEY_KP3,
    "4": e.KEY_KP4,
    "0": e.KEY_KP0,
    "+": e.KEY_KPPLUS,
    ".": e.KEY_KPDOT,
    "\n": e.KEY_KPENTER,
}


@pytest.mark.parametrize("numlock", [True, False])
def test_keypad_wrapping_every_key_in_numlock_types_digits(numlock: bool) -> None:
    script = KeyScript(step=0.05)
    for char in "+1.341.20\n":
        wrapped_in_numlock(script, KP[char])
    keys = [t.key for t in decode(script, role="keypad", numlock=numlock)]
    assert keys == ["+", "1", ".", "3", "4", "1", ".", "2", "0", "Enter"]


def test_scanner_in_keypad_mode_wrapping_numlock_types_digits() -> None:
    script = KeyScript()
    for char in "1234\n":
        wrapped_in_numlock(script, KP[char])
    assert texts(decode(script)) == ["1234"]
    # The old behaviour (follow Num Lock, assumed on) lost every digit: kept for full keyboards.
    assert texts(decode(script, keypad_digits=False)) == []


def test_numlock_led_sets_the_state_only_when_following_numlock() -> None:
    led_off = InputEvent(1.0, EV_LED, LED_NUML, 0)
    script = KeyScript(2.0).tap(e.KEY_KP1)
    following = Decoder(US, DecoderConfig(role="keypad", keypad_digits=False))
    assert following.feed(led_off) == ()
    assert [t.key for t in following.feed_many(script.events)] == ["End"]
    digits = Decoder(US, DecoderConfig(role="keypad"))
    digits.feed(led_off)
    assert [t.key for t in digits.feed_many(script.events)] == ["1"]


def test_gap_is_decided_by_tick_or_next_key() -> None:
    decoder = Decoder(US, DecoderConfig(gap_s=0.05))
    script = KeyScript(100.0, step=0.01).taps([e.KEY_A, e.KEY_B])
    assert decoder.feed_many(script.events) == []
    last = script.events[-1].time
    assert decoder.deadline == pytest.approx(last + 0.05)  # idle from the last event (release)
    assert decoder.tick(last + 0.04) == ()
    (token,) = decoder.tick(last + 0.051)
    assert (token.text, token.end, token.t_last) == ("ab", "gap", pytest.approx(last - 0.01))
    assert decoder.deadline is None and decoder.tick(last + 10) == ()


def test_a_key_held_longer_than_the_gap_does_not_end_the_scan() -> None:
    decoder = Decoder(US, DecoderConfig(gap_s=0.1))
    script = KeyScript(100.0, step=0.004).tap(e.KEY_1).key(e.KEY_2, 1)
    script.step = 0.15  # held 150 ms: no event meanwhile, but the device is not idle
    script.key(e.KEY_2, 0)
    script.step = 0.05
    script.tap(e.KEY_3).tap(e.KEY_ENTER)
    assert decoder.feed_many(script.events[:9]) == []  # "1" typed, "2" down
    assert decoder.deadline is None  # a key is down: no gap runs
    assert texts(decoder.feed_many(script.events[9:])) == ["123"]


def test_autorepeat_and_release_keep_the_device_busy() -> None:
    decoder = Decoder(US, DecoderConfig(gap_s=0.1))
    script = KeyScript(100.0, step=0.004).tap(e.KEY_A).key(e.KEY_LEFTSHIFT, 1)
    script.step = 0.08
    script.key(e.KEY_LEFTSHIFT, 2).key(e.KEY_LEFTSHIFT, 2).key(e.KEY_LEFTSHIFT, 0)
    script.tap(e.KEY_B)  # 80 ms after Shift's release: still under the gap
    script.wait(0.2).tap(e.KEY_C).tap(e.KEY_ENTER)  # 200 ms idle: a new scan
    tokens = decoder.feed_many(script.events)
    assert [(t.text, t.end) for t in tokens] == [("ab", "gap"), ("c", "enter")]


def test_dead_keys_combine_or_fall_back_to_the_accent() -> None:
    fr = Layout("fr")
    circumflex = e.KEY_LEFTBRACE
    script = KeyScript().tap(circumflex).tap(e.KEY_Q)  # â
    script.tap(circumflex).tap(circumflex)  # ^^ -> one ^
    script.tap(circumflex).tap(e.KEY_B)  # no composition: ^b
    script.tap(e.KEY_ENTER)
    assert texts(decode(script, fr)) == ["â^^b"]


def test_alt_codes() -> None:
    assert alt_code_char("029") == "\x1d"  # cp1252 with leading 0, control stays control
    assert alt_code_char("29") == "\x1d"
    assert alt_code_char("0209") == "Ñ"
    assert alt_code_char("165") == "Ñ"  # cp437
    assert alt_code_char("0") == ""


def test_alt_with_other_keys_types_them() -> None:
    script = KeyScript().tap(e.KEY_A, e.KEY_LEFTALT).tap(e.KEY_ENTER)
    assert texts(decode(script)) == ["a"]


def test_syn_dropped_forgets_held_keys_and_resync_adopts_real_state() -> None:
    decoder = Decoder(US, DecoderConfig(gap_s=None))
    script = KeyScript().key(e.KEY_LEFTSHIFT, 1).tap(e.KEY_A).dropped()
    (dropped,) = decoder.feed_many(script.events)
    assert (dropped.error, dropped.text) == ("dropped", "")
    assert decoder.needs_key_state and not decoder.any_key_held
    decoder.resync([e.KEY_LEFTSHIFT])  # the device says Shift is still down
    tail = KeyScript(2e9).tap(e.KEY_B).tap(e.KEY_ENTER)
    assert texts(decoder.feed_many(tail.events)) == ["B"]


def test_events_between_syn_dropped_and_syn_report_are_ignored() -> None:
    decoder = Decoder(US, DecoderConfig(gap_s=None))
    decoder.feed(InputEvent(1.0, 0, 3, 0))  # SYN_DROPPED
    assert decoder.state_name() == "dropping"
    decoder.feed(InputEvent(1.1, EV_KEY, e.KEY_X, 1))
    with pytest.raises(DecoderError, match="resync in state dropping"):
        decoder.resync([])
    decoder.feed(InputEvent(1.2, 0, 0, 0))  # SYN_REPORT
    assert not decoder.any_key_held
    assert texts(decoder.feed_many(KeyScript(2.0).taps([e.KEY_Y, e.KEY_ENTER]).events)) == ["y"]


def test_ten_megabyte_flood_is_cut_once_and_never_buffered() -> None:
    decoder = Decoder(US, DecoderConfig(max_len=64, gap_s=None))
    press = InputEvent(1.0, EV_KEY, e.KEY_X, 1)
    release = InputEvent(1.0, EV_KEY, e.KEY_X, 0)
    feed = decoder.feed
    errors = []
    for _ in range(10_000_000 // 8):  # 1.25 M keys keep the test fast; the bench does 10 MB
        errors += feed(press)
        feed(release)
        assert len(decoder._buf) <= 64
    assert [t.error for t in errors] == ["too_long"]
    assert decoder.state_name() == "discarding"
    ok = decoder.feed_many(KeyScript(2.0).taps([e.KEY_ENTER, e.KEY_O, e.KEY_K, e.KEY_ENTER]).events)
    assert texts(ok) == ["ok"]


def test_tokens_do_not_show_their_text_in_repr() -> None:
    scan = ScanToken("4321", "dev", 1.0, 2.0, "enter")
    key = KeyToken("7", "7", "dev", 1.0)
    assert "4321" not in repr(scan) and "'7'" not in repr(key)
    assert key.t_last == 1.0 and key.role == "keypad" and scan.key is None


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="role"):
        DecoderConfig(role="mouse")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DecoderConfig(max_len=0)


US_KEYS = {chr(c): (getattr(e, f"KEY_{chr(c).upper()}"),) for c in range(ord("a"), ord("z") + 1)}
US_KEYS |= {c.upper(): (k[0], e.KEY_LEFTSHIFT) for c, k in list(US_KEYS.items())}
US_KEYS |= {str(d): (getattr(e, f"KEY_{d}"),) for d in range(10)}
US_KEYS |= {"-": (e.KEY_MINUS,), "/": (e.KEY_SLASH,), "?": (e.KEY_SLASH, e.KEY_LEFTSHIFT)}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=sorted(US_KEYS), min_size=1, max_size=30), max_size=5))
def test_any_us_scans_come_back_exactly(scans: list[str]) -> None:
    script = KeyScript(step=0.001)
    for scan in scans:
        for char in scan:
            code, *mods = US_KEYS[char]
            script.tap(code, *mods)
        script.tap(e.KEY_ENTER)
    assert texts(decode(script)) == scans


@pytest.mark.parametrize(
    ("layout", "text"),
    [("us", "Hello-World 42\x1d/?"), ("latam", "Ñu@x-1/="), ("fr", "azerty-123@"), ("de", "zyÖ")],
)
def test_typing_text_for_a_layout_round_trips(layout: str, text: str) -> None:
    keymap = Layout(layout)
    script = KeyScript().type_text(text + "\n", keymap)
    assert texts(decode(script, keymap, allowed=frozenset(text))) == [text]


def test_untypable_character_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be typed"):
        Layout("us").keystrokes_for("ñ")
