"""Keyboard layouts through libxkbcommon: (kernel key code, modifier masks) -> text and key name.

Rules:
- A layout is any XKB layout by name (``us``, ``latam``, ``es``, ``fr``, ``de``...), with an
  optional variant; an unknown name raises `UnknownLayout` when the layout is built, not later.
- Which keys are modifiers and which are locks is read from the keymap itself (press each key in a
  fresh xkb state and look at the modifier masks), never hard-coded: Right Alt is AltGr in
  ``latam`` and ``fr`` but plain Alt in ``us``.
- The decoder owns the modifier state (held modifier keys, toggled locks) and asks
  `Layout.lookup(code, depressed, locked)`. Results are cached per (code, depressed, locked),
  because a scanner repeats the same few dozen keys and xkb calls dominate the hot path.
  Latched ("sticky") modifiers are not modelled: scanners and keypads do not send them.
- Dead keys come back as their keysym name (``dead_acute``...) with empty text; the decoder
  combines them with the next character (see `DEAD_KEYS`).
"""

from __future__ import annotations

import functools
import unicodedata
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from xkbcommon import xkb

# Dead keysym -> (combining mark, spacing form typed by dead key + space), as X Compose does.
DEAD_KEYS: dict[str, tuple[str, str]] = {
    "dead_grave": ("\u0300", "`"),
    "dead_acute": ("\u0301", "'"),
    "dead_circumflex": ("\u0302", "^"),
    "dead_tilde": ("\u0303", "~"),
    "dead_macron": ("\u0304", "¯"),
    "dead_breve": ("\u0306", "˘"),
    "dead_abovedot": ("\u0307", "˙"),
    "dead_diaeresis": ("\u0308", '"'),
    "dead_abovering": ("\u030a", "°"),
    "dead_doubleacute": ("\u030b", "˝"),
    "dead_caron": ("\u030c", "ˇ"),
    "dead_cedilla": ("\u0327", "¸"),
    "dead_ogonek": ("\u0328", "˛"),
}

# Keysym names that are keypad keys' digits, in any Num Lock state (for Alt+keypad codes).
KEYPAD_DIGIT_CODES: dict[int, str] = {
    82: "0",
    79: "1",
    80: "2",
    81: "3",
    75: "4",
    76: "5",
    77: "6",
    71: "7",
    72: "8",
    73: "9",
}

_XKB_OFFSET = 8  # xkb keycode = evdev code + 8


class UnknownLayout(ValueError):
    """The XKB layout name (or variant) is not known to libxkbcommon on this machine."""


class KeyResult(NamedTuple):
    """What one key press means under given modifiers."""

    text: str  # UTF-8 text xkb produces ('' for dead keys, modifiers, named keys)
    keysym: str  # xkb keysym name, e.g. 'a', 'Return', 'KP_Enter', 'dead_acute', 'KP_End'


def combine_dead(dead_keysym: str, text: str) -> str:
    """Text for a dead key followed by `text` (the spacing form when nothing composes)."""
    mark, spacing = DEAD_KEYS[dead_keysym]
    if text == " ":
        return spacing
    if len(text) == 1:
        composed = unicodedata.normalize("NFC", text + mark)
        if len(composed) == 1:
            return composed
    return spacing + text


_xkb_messages: list[str] = []  # libxkbcommon's last messages (it would print them on stderr)


def _keep_message(_context: object, _level: object, message: str) -> None:
    _xkb_messages.append(message.strip())


@functools.cache
def _context() -> xkb.Context:
    from xkbcommon import xkb

    context = xkb.Context()
    context.set_log_fn(_keep_message)
    return context


@functools.lru_cache(maxsize=8)
def _compiled(name: str, variant: str) -> tuple[xkb.Keymap, dict[int, int], dict[int, int]]:
    """The keymap of a layout and the modifier and lock masks of its keys, compiled once per
    process: a keymap is immutable (each `Layout` has its own state), and check-config, the
    daemon's start and each reader of the same layout would otherwise compile it again
    (issue 19: start-up CPU). A failure raises, so it is not cached."""
    from xkbcommon import xkb

    context = _context()
    _xkb_messages.clear()
    try:
        keymap = context.keymap_new_from_names(layout=name, variant=variant or None)
    except xkb.XKBKeymapCreationFailure:
        why = f" ({_xkb_messages[0]})" if _xkb_messages else ""
        raise UnknownLayout(f"unknown XKB layout {name!r} variant {variant!r}{why}") from None
    finally:
        _xkb_messages.clear()
    modifier_masks: dict[int, int] = {}
    lock_masks: dict[int, int] = {}
    depressed_part = xkb.XKB_STATE_MODS_DEPRESSED
    locked_part = xkb.XKB_STATE_MODS_LOCKED
    for code in range(1, 256):
        state = keymap.state_new()
        state.update_key(code + _XKB_OFFSET, xkb.XKB_KEY_DOWN)
        depressed = state.serialize_mods(depressed_part)
        state.update_key(code + _XKB_OFFSET, xkb.XKB_KEY_UP)
        locked = state.serialize_mods(locked_part)
        if locked:
            lock_masks[code] = locked
        elif depressed:
            modifier_masks[code] = depressed
    return keymap, modifier_masks, lock_masks


class Layout:
    """One XKB keymap plus the modifier and lock masks of its keys."""

    def __init__(self, name: str = "us", variant: str = "") -> None:
        from xkbcommon import xkb

        self.name = name
        self.variant = variant
        self._keymap, modifiers, locks = _compiled(name, variant)
        self._state = self._keymap.state_new()
        self._down = xkb.XKB_KEY_DOWN
        self._up = xkb.XKB_KEY_UP
        self._keysym_name = xkb.keysym_get_name
        self.modifier_masks: dict[int, int] = dict(modifiers)
        self.lock_masks: dict[int, int] = dict(locks)
        self.alt_mask = self._mask_of("Mod1")
        self.control_mask = self._mask_of("Control")
        self._cache: dict[tuple[int, int, int], KeyResult] = {}
        self._reverse: dict[str, tuple[int, tuple[int, ...]]] | None = None

    def _mask_of(self, modifier: str) -> int:
        index = int(self._keymap.mod_get_index(modifier))
        return 1 << index

    def lookup(self, code: int, depressed: int, locked: int) -> KeyResult:
        """Text and keysym name of key `code` with these modifier masks (cached)."""
        key = (code, depressed, locked)
        result = self._cache.get(key)
        if result is None:
            state = self._state
            state.update_mask(depressed, 0, locked, 0, 0, 0)
            xkb_code = code + _XKB_OFFSET
            keysym = state.key_get_one_sym(xkb_code)
            name = self._keysym_name(keysym) if keysym else ""
            text = "" if name.startswith("dead_") else state.key_get_string(xkb_code)
            result = KeyResult(text, name)
            self._cache[key] = result
        return result

    def keystrokes_for(self, char: str) -> tuple[int, tuple[int, ...]]:
        """(key code, modifier key codes) that type `char` on this layout (Num Lock on).

        For writing key events (the demo typing into a replay FIFO, tests): the reverse of
        `lookup`. Characters that need a dead key or are not on the layout raise ValueError.
        """
        if self._reverse is None:
            self._reverse = self._build_reverse()
        if char == "\n":
            char = "\r"
        try:
            return self._reverse[char]
        except KeyError:
            raise ValueError(
                f"{char!r} cannot be typed with one key on layout {self.name!r}"
            ) from None

    def _build_reverse(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        shift, ctrl, altgr = 42, 29, 100  # KEY_LEFTSHIFT, KEY_LEFTCTRL, KEY_RIGHTALT
        locked = self.lock_masks.get(69, 0)  # Num Lock on
        reverse: dict[str, tuple[int, tuple[int, ...]]] = {}
        for mods in ((), (shift,), (altgr,), (shift, altgr), (ctrl,)):
            if any(m not in self.modifier_masks for m in mods):
                continue
            depressed = 0
            for mod in mods:
                depressed |= self.modifier_masks[mod]
            for code in range(1, 256):
                if code in self.modifier_masks or code in self.lock_masks:
                    continue
                text = self.lookup(code, depressed, locked).text
                if len(text) == 1 and text not in reverse:
                    reverse[text] = (code, mods)
        return reverse

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, variant={self.variant!r})"
