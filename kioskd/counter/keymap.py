"""Keymap: which physical key names mean which counter action.

Rules:
- The session never sees raw key names: the keymap turns a key name coming from the input layer
  (an evdev code such as ``KEY_KPPLUS``, an xkb keysym such as ``KP_Add``, or the plain character
  ``+``) into one *action* (``sell``, ``enter``, ``3``...). Unknown key names map to ``None`` and
  are ignored by the session (NumLock, a stray Tab...).
- Every action can be remapped from the config ``[keymap]`` table:
  ``{"sell": ["KEY_KPPLUS", "F1"], "enter": "KEY_KPENTER"}``. A remapped action replaces its
  default key names; actions not mentioned keep theirs.
- A key name bound to two actions, an unknown action or an empty binding is a `KeymapError` that
  names the action or key, so a technician can fix the file.
- No I/O; a Keymap is immutable after construction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

DIGITS = tuple(str(d) for d in range(10))

#: Every action the counter session understands.
ACTIONS: tuple[str, ...] = (
    *DIGITS,
    "dot",  # separates product . number . amount
    "sell",  # +
    "cancel",  # -
    "repeat",  # /
    "function",  # *
    "enter",
    "backspace",
    "escape",
)

_KP_NAMES = {
    "0": "KP_0 KP_Insert",
    "1": "KP_1 KP_End",
    "2": "KP_2 KP_Down",
    "3": "KP_3 KP_Next",
    "4": "KP_4 KP_Left",
    "5": "KP_5 KP_Begin",
    "6": "KP_6 KP_Right",
    "7": "KP_7 KP_Home",
    "8": "KP_8 KP_Up",
    "9": "KP_9 KP_Prior",
}


def _default_bindings() -> dict[str, tuple[str, ...]]:
    bindings: dict[str, tuple[str, ...]] = {}
    for d in DIGITS:
        bindings[d] = (d, f"KEY_{d}", f"KEY_KP{d}", *_KP_NAMES[d].split())
    bindings["dot"] = (
        ".",
        ",",
        "KEY_KPDOT",
        "KEY_DOT",
        "KEY_KPCOMMA",
        "KP_Decimal",
        "KP_Delete",
        "KP_Separator",
        "period",
    )
    bindings["sell"] = ("+", "KEY_KPPLUS", "KP_Add", "plus")
    bindings["cancel"] = ("-", "KEY_KPMINUS", "KEY_MINUS", "KP_Subtract", "minus")
    bindings["repeat"] = ("/", "KEY_KPSLASH", "KEY_SLASH", "KP_Divide", "slash")
    bindings["function"] = ("*", "KEY_KPASTERISK", "KP_Multiply", "asterisk")
    # "Enter", "Backspace", "Esc": the names the input layer's keypad tokens carry.
    bindings["enter"] = (
        "\n",
        "\r",
        "enter",
        "Enter",
        "KEY_ENTER",
        "KEY_KPENTER",
        "KP_Enter",
        "Return",
    )
    bindings["backspace"] = ("\b", "backspace", "Backspace", "KEY_BACKSPACE", "BackSpace")
    bindings["escape"] = ("\x1b", "esc", "Esc", "escape", "KEY_ESC", "Escape")
    return bindings


DEFAULT_BINDINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(_default_bindings())


class KeymapError(ValueError):
    """A `[keymap]` entry that cannot work; the message names the action or key."""


class Keymap:
    """Key name -> action. Build with `Keymap()` for the defaults or `Keymap.from_config(table)`."""

    def __init__(self, bindings: Mapping[str, Iterable[str]] | None = None) -> None:
        merged = dict(DEFAULT_BINDINGS)
        for action, keys in (bindings or {}).items():
            if action not in ACTIONS:
                raise KeymapError(
                    f"keymap: unknown action {action!r} (known: {', '.join(ACTIONS)})"
                )
            if isinstance(keys, str):
                keys = (keys,)
            names = tuple(keys)
            if not names or any(not isinstance(k, str) or not k for k in names):
                raise KeymapError(f"keymap.{action}: needs one or more non-empty key names")
            merged[action] = names
        lookup: dict[str, str] = {}
        for action in ACTIONS:
            for key in merged[action]:
                other = lookup.get(key)
                if other is not None and other != action:
                    raise KeymapError(
                        f"keymap: key {key!r} is bound to both {other!r} and {action!r}"
                    )
                lookup[key] = action
        self._bindings = MappingProxyType(merged)
        self._lookup = MappingProxyType(lookup)

    @classmethod
    def from_config(cls, table: Mapping[str, object] | None) -> Keymap:
        """Build from the config `[keymap]` table (values: a key name or a list of them)."""
        bindings: dict[str, Iterable[str]] = {}
        for action, value in (table or {}).items():
            if isinstance(value, str):
                bindings[action] = (value,)
            elif isinstance(value, list | tuple):
                bindings[action] = tuple(value)
            else:
                raise KeymapError(
                    f"keymap.{action}: expected a key name or a list of key names, "
                    f"got {type(value).__name__}"
                )
        return cls(bindings)

    def action(self, key_name: str) -> str | None:
        """The action bound to `key_name`, or None for a key the counter does not use."""
        return self._lookup.get(key_name)

    def keys(self, action: str) -> tuple[str, ...]:
        """Key names bound to `action` (for docs and `kioskd check-config`)."""
        return self._bindings[action]

    def __repr__(self) -> str:
        return f"Keymap({len(self._lookup)} key names)"
