"""Per-device key decoder: kernel key events in, scan and keypad tokens out (sans-I/O).

Rules (the decoder is pure: no files, clocks, timers or asyncio; time comes in with the events and
with `tick(now)`):
- One `Decoder` per input node. Nothing is shared between devices, so two scanners typing at the
  same moment cannot mix their characters.
- Modifier state is kept here: held modifier keys (Shift, Ctrl, Alt, AltGr...) form the
  *depressed* mask; lock keys (Caps Lock, Num Lock) toggle the *locked* mask on press. Which key
  is which comes from the layout (`xkb.Layout`). The text of a key is the layout's answer for
  (code, depressed, locked), so levels, AltGr, Caps Lock, Num Lock on the keypad and Ctrl+letter
  control characters (Ctrl+] is GS on ``us``) all follow XKB.
- Autorepeat (value 2) is ignored: a scanner never means it and a keypad key held down must not
  type twice.
- Alt+keypad code entry: while Alt (not AltGr) is held, keypad digits collect a number instead of
  typing; releasing Alt types one character. A leading 0 means Windows-1252 (``Alt+0209`` is Ñ),
  otherwise code page 437 below 256 (``Alt+29`` is GS), and a Unicode code point above.
- Dead keys wait for the next character and combine with it (``´`` + ``a`` is ``á``); dead key +
  space is the accent itself.
- ``SYN_DROPPED``: the kernel lost events. Everything up to the next ``SYN_REPORT`` is ignored, the
  partial scan is dropped (reported as one ``dropped`` error token if it had content), held keys
  are forgotten and the caller may tell the real key state with `resync`.
- Scanner role: characters collect into a scan. A scan ends on Enter or keypad Enter, on the
  configured suffix (stripped), on the configured prefix arriving mid-scan (the prefix starts the
  next scan and is stripped), or when the inter-key gap passes. The gap is idle time: it runs
  from the device's last key event (press, release or autorepeat) and only while no key is held,
  so a key held down for longer than the gap does not end a scan. It is decided when the next key
  event or a `tick(now)` arrives: no timers. Terminators with nothing collected are ignored.
  At most `max_len` characters are kept: the first character beyond cuts the scan, one
  ``too_long`` error token is returned at once and everything up to the next terminator or gap is
  counted but not stored, so a 10 MB flood costs no memory. Characters outside `allowed` mark the
  scan ``bad_char`` (the scan is still returned whole, so the caller can reject it with feedback).
- Keypad role: every key press (not modifiers or locks) is one `KeyToken`: digits and ``+ - * /
  .`` as themselves, named keys by name (``Enter``, ``Backspace``, ``Esc``, ``Tab``).
- Num Lock: by default (`keypad_digits`) keypad keys type digits and operators whatever the Num
  Lock state, and Num Lock presses change nothing. Cheap keypads wrap every key in Num Lock
  presses (down, key down, up, key up, down, up) and scanners press it before Alt codes; a kiosk
  has no use for the navigation keys. With `keypad_digits` off (a full keyboard used as a keypad)
  Num Lock toggles as on a PC, from the `numlock` start state, and the host's ``EV_LED``
  ``LED_NUML`` events (echoed in captures) set it; keypad digits are then ``End``, ``Down``...
- Tokens never show their text in ``repr``: keypad digits and scans may be PINs.
- Key codes outside the kernel's range (0..``KEY_MAX``, 0x2ff) come from no real keyboard: a
  corrupt capture or a broken driver. Such an event is refused (counted in `refused_codes`, no
  token, no effect on a scan or the held keys) instead of reaching XKB, which cannot take a code
  beyond 32 bits and would stop the reader.

Illegal calls raise `DecoderError` naming the event and the state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from kioskd.input.evtest import (
    EV_KEY,
    EV_LED,
    EV_SYN,
    LED_NUML,
    SYN_DROPPED,
    SYN_REPORT,
    InputEvent,
)
from kioskd.input.xkb import DEAD_KEYS, KEYPAD_DIGIT_CODES, Layout, combine_dead

# The kernel's highest key code (linux/input-event-codes.h KEY_MAX).
KEY_MAX = 0x2FF

Role = Literal["scanner", "keypad"]
ROLES: tuple[Role, ...] = ("scanner", "keypad")
KEY_CAPSLOCK = 58
KEY_NUMLOCK = 69

# Characters a scan may carry by default besides printable ones: GS1 / ISO 15434 separators.
DEFAULT_EXTRA_ALLOWED = frozenset("\x1d\x1e\x04")

_TERMINATOR_KEYSYMS = frozenset({"Return", "KP_Enter"})
_KEY_NAMES = {
    "Return": "Enter",
    "KP_Enter": "Enter",
    "BackSpace": "Backspace",
    "Escape": "Esc",
    "Tab": "Tab",
    "ISO_Left_Tab": "Tab",
    "Delete": "Delete",
    "space": "Space",
}
_NO_TOKENS: tuple[()] = ()


class DecoderError(Exception):
    """A call the decoder cannot handle in its current state."""


@dataclass(frozen=True, slots=True)
class DecoderConfig:
    """How one device's keys become tokens.

    `gap_s` None disables gap termination; `allowed` None means printable characters plus GS, RS
    and EOT. `numlock` / `capslock` are the lock states assumed at start (events do not say);
    `keypad_digits` makes keypad keys digits and operators whatever Num Lock says (then `numlock`
    does not matter).
    """

    role: Role = "scanner"
    gap_s: float | None = 0.1
    suffix: str = ""
    prefix: str = ""
    max_len: int = 512
    allowed: frozenset[str] | None = None
    numlock: bool = True
    capslock: bool = False
    keypad_digits: bool = True

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, not {self.role!r}")
        if self.max_len < 1:
            raise ValueError("max_len must be at least 1")
        if self.gap_s is not None and self.gap_s <= 0:
            raise ValueError("gap_s must be positive (or None to disable)")


def _redacted(text: str) -> str:
    return f"<{len(text)} chars>"


@dataclass(frozen=True, slots=True, repr=False)
class ScanToken:
    """One scan (scanner role). `error` is None, 'too_long', 'bad_char', 'dropped' or
    'incomplete'; `end` says what ended it: 'enter', 'suffix', 'prefix', 'gap', 'cut', 'dropped',
    'eof'."""

    role: ClassVar[Role] = "scanner"
    text: str
    device: str
    t_first: float
    t_last: float
    end: str
    error: str | None = None
    key: ClassVar[None] = None

    def __repr__(self) -> str:
        return (
            f"ScanToken(device={self.device!r}, text={_redacted(self.text)}, end={self.end!r}, "
            f"error={self.error!r}, t_first={self.t_first}, t_last={self.t_last})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class KeyToken:
    """One key press (keypad role): `key` is the name ('7', '+', 'Enter', 'Backspace'...), `text`
    what the key types ('' for named keys that type nothing)."""

    role: ClassVar[Role] = "keypad"
    key: str
    text: str
    device: str
    t_first: float
    t_last: float = field(default=-1.0)
    end: ClassVar[str] = "key"
    error: ClassVar[None] = None

    def __post_init__(self) -> None:
        if self.t_last < 0:
            object.__setattr__(self, "t_last", self.t_first)

    def __repr__(self) -> str:
        return f"KeyToken(device={self.device!r}, key=<redacted>, t={self.t_first})"


Token = ScanToken | KeyToken


def alt_code_char(digits: str) -> str:
    """The character typed by Alt + keypad `digits` ('' when the number means nothing)."""
    number = int(digits)
    if number == 0:
        return ""
    if digits.startswith("0") and number < 256:
        return bytes([number]).decode("cp1252", errors="replace")
    if number < 256:
        return bytes([number]).decode("cp437")
    if number <= 0x10FFFF:
        return chr(number)
    return ""


def key_name(text: str, keysym: str) -> str:
    """The keypad token name of a key: its character, or a name for keys that type none."""
    if keysym in _KEY_NAMES:
        return _KEY_NAMES[keysym]
    if len(text) == 1 and text.isprintable():
        return text
    return keysym.removeprefix("KP_")


class Decoder:
    """Key events of one device -> tokens. See the module docstring for the rules."""

    def __init__(
        self, layout: Layout, config: DecoderConfig | None = None, device: str = ""
    ) -> None:
        self.layout = layout
        self.config = config or DecoderConfig()
        self.device = device
        self._modifier_masks = layout.modifier_masks
        self._lock_masks = layout.lock_masks
        self._alt_mask = layout.alt_mask
        self._is_scanner = self.config.role == "scanner"
        allowed = self.config.allowed
        self._extra_allowed = DEFAULT_EXTRA_ALLOWED if allowed is None else allowed
        self._printable_allowed = allowed is None
        self._gap = self.config.gap_s
        self._max_len = self.config.max_len
        self._suffix = self.config.suffix
        self._prefix = self.config.prefix
        self.held: set[int] = set()
        self._depressed = 0
        self._locked = 0
        self._numlock_mask = layout.lock_masks.get(KEY_NUMLOCK, 0)
        self._keypad_digits = self.config.keypad_digits
        if self.config.numlock or self._keypad_digits:
            self._locked |= self._numlock_mask
        if self.config.capslock:
            self._locked |= layout.lock_masks.get(KEY_CAPSLOCK, 0)
        self._alt_digits = ""
        self._dead: str | None = None
        self._dropping = False  # between SYN_DROPPED and the next SYN_REPORT
        self.needs_key_state = False  # set by SYN_DROPPED, cleared by resync()
        self.refused_codes = 0  # key events with a code no keyboard has (see the rules)
        # scan in progress
        self._buf = ""
        self._discarding = False  # cut by max_len: count, do not store
        self._tail = ""  # last characters while discarding (to see the suffix)
        self._t_first = 0.0
        self._t_last = 0.0
        self._t_idle = 0.0  # the device's last key event (press, release, autorepeat)

    # ----------------------------------------------------------------- state queries
    @property
    def any_key_held(self) -> bool:
        """True while any key is down (an exclusive grab must wait for this to be False)."""
        return bool(self.held)

    @property
    def collecting(self) -> bool:
        return bool(self._buf) or self._discarding

    @property
    def deadline(self) -> float | None:
        """When the inter-key gap will end the scan in progress (None: nothing pending)."""
        if self._gap is None or not self.collecting or self.held:
            return None
        return self._t_idle + self._gap

    def state_name(self) -> str:
        if self._dropping:
            return "dropping"
        if self._discarding:
            return "discarding"
        return "collecting" if self._buf else "idle"

    # ----------------------------------------------------------------- events
    def feed(self, event: InputEvent) -> Sequence[Token]:
        """Handle one kernel event; return the tokens it completes."""
        type_ = event[1]
        if type_ == EV_KEY:
            if not 0 <= event[2] <= KEY_MAX:
                self.refused_codes += 1
                return _NO_TOKENS
            now, value = event[0], event[3]
            ended: Sequence[Token] = _NO_TOKENS
            if not self._dropping:
                if self._gap is not None:  # without a gap there is no deadline
                    deadline = self.deadline
                    if deadline is not None and now > deadline:
                        ended = self._end("gap")
                self._t_idle = now
            if value == 1:
                more = self._press(now, event[2])
            elif value == 0:
                more = self._release(now, event[2])
            else:
                return ended  # 2 = autorepeat: only keeps the device busy
            if ended and more:
                return [*ended, *more]
            return ended or more
        if type_ == EV_SYN:
            code = event[2]
            if code == SYN_DROPPED:
                return self._drop(event[0])
            if code == SYN_REPORT and self._dropping:
                self._dropping = False
                self.held.clear()
                self._depressed = 0
        elif type_ == EV_LED and event[2] == LED_NUML and not self._keypad_digits:
            self._set_numlock(bool(event[3]))
        return _NO_TOKENS

    def feed_many(self, events: Iterable[InputEvent]) -> list[Token]:
        out: list[Token] = []
        feed = self.feed
        for event in events:
            tokens = feed(event)
            if tokens:
                out.extend(tokens)
        return out

    def tick(self, now: float) -> Sequence[Token]:
        """Let time pass: ends a scan whose inter-key gap is over at `now`."""
        deadline = self.deadline
        if deadline is not None and now > deadline:
            return self._end("gap")
        return _NO_TOKENS

    def finish(self) -> Sequence[Token]:
        """End of input (capture file ended, device gone): settle the scan in progress."""
        self._alt_digits = ""
        self._dead = None
        if not self.collecting:
            return _NO_TOKENS
        if self._gap is not None:
            return self._end("gap")
        return self._end("eof", error="incomplete")

    def resync(
        self, held: Iterable[int], *, capslock: bool | None = None, numlock: bool | None = None
    ) -> None:
        """Adopt the device's real key (and lock LED) state, e.g. after ``SYN_DROPPED``."""
        if self._dropping:
            raise DecoderError("can't handle resync in state dropping: wait for SYN_REPORT")
        self.held = {code for code in held if 0 <= code <= KEY_MAX}
        self._recompute_depressed()
        capslock_mask = self._lock_masks.get(KEY_CAPSLOCK, 0)
        if capslock is not None and capslock_mask:
            self._locked = (
                (self._locked | capslock_mask) if capslock else (self._locked & ~capslock_mask)
            )
        if numlock is not None:
            self._set_numlock(numlock)
        self.needs_key_state = False

    # ----------------------------------------------------------------- internals
    def _set_numlock(self, on: bool) -> None:
        if self._keypad_digits:
            return  # keypad keys are digits whatever the LED says
        mask = self._numlock_mask
        self._locked = (self._locked | mask) if on else (self._locked & ~mask)

    def _recompute_depressed(self) -> None:
        masks = self._modifier_masks
        depressed = 0
        for code in self.held:
            depressed |= masks.get(code, 0)
        self._depressed = depressed

    def _drop(self, now: float) -> Sequence[Token]:
        had_content = self.collecting
        self._dropping = True
        self.needs_key_state = True
        self._alt_digits = ""
        self._dead = None
        if had_content and self._is_scanner:
            return self._end("dropped", error="dropped", keep_text=False, t_last=now)
        return _NO_TOKENS

    def _press(self, now: float, code: int) -> Sequence[Token]:
        if self._dropping:
            return _NO_TOKENS
        self.held.add(code)
        mask = self._modifier_masks.get(code)
        if mask is not None:
            self._depressed |= mask
            return _NO_TOKENS
        mask = self._lock_masks.get(code)
        if mask is not None:
            if not (self._keypad_digits and mask == self._numlock_mask):
                self._locked ^= mask
            return _NO_TOKENS
        if self._depressed & self._alt_mask and code in KEYPAD_DIGIT_CODES:
            self._alt_digits += KEYPAD_DIGIT_CODES[code]
            return _NO_TOKENS
        text, keysym = self.layout.lookup(code, self._depressed, self._locked)
        if keysym in DEAD_KEYS:
            pending = self._dead
            if pending is None:
                self._dead = keysym
                return _NO_TOKENS
            # Two dead keys: the first types its accent; the same one twice types it once.
            text = DEAD_KEYS[pending][1]
            self._dead = None if keysym == pending else keysym
        elif self._dead is not None and text:
            text = combine_dead(self._dead, text)
            self._dead = None
        return self._typed(now, text, keysym)

    def _release(self, now: float, code: int) -> Sequence[Token]:
        if self._dropping or code not in self.held:
            return _NO_TOKENS
        self.held.discard(code)
        if code in self._modifier_masks:
            self._recompute_depressed()
            if self._alt_digits and not self._depressed & self._alt_mask:
                digits, self._alt_digits = self._alt_digits, ""
                text = alt_code_char(digits)
                if text:
                    return self._typed(now, text, "")
        return _NO_TOKENS

    def _typed(self, now: float, text: str, keysym: str) -> Sequence[Token]:
        if not self._is_scanner:
            if not text and not keysym:
                return _NO_TOKENS
            # t_last given (what __post_init__ would set): one attribute write less a key
            return [KeyToken(key_name(text, keysym), text, self.device, now, now)]
        if keysym in _TERMINATOR_KEYSYMS:
            return self._end("enter") if self.collecting else _NO_TOKENS
        out: list[Token] = []
        for char in text:
            tokens = self._scan_char(now, char)
            if tokens:
                out.extend(tokens)
        return out

    def _scan_char(self, now: float, char: str) -> Sequence[Token]:
        suffix = self._suffix
        if self._discarding:
            self._t_last = now
            if suffix:
                self._tail = (self._tail + char)[-len(suffix) :]
                if self._tail == suffix:
                    return self._end("suffix")
            return _NO_TOKENS
        buf = self._buf
        if not buf:
            self._t_first = now
        elif len(buf) >= self._max_len:
            return self._cut(now, char)
        buf += char
        self._buf = buf
        self._t_last = now
        if suffix and buf.endswith(suffix):
            self._buf = buf[: -len(suffix)]
            if not self._buf:
                return _NO_TOKENS  # a leading suffix is a leading terminator: ignore
            return self._end("suffix")
        prefix = self._prefix
        if prefix and len(buf) > len(prefix) and buf.endswith(prefix):
            self._buf = buf[: -len(prefix)]
            tokens = self._end("prefix")
            self._buf = prefix
            self._t_first = now
            self._t_last = now
            return tokens
        return _NO_TOKENS

    def _cut(self, now: float, char: str) -> Sequence[Token]:
        token = ScanToken("", self.device, self._t_first, now, "cut", "too_long")
        self._buf = ""
        self._discarding = True
        self._tail = char[-len(self._suffix) :] if self._suffix else ""
        self._t_last = now
        return [token]

    def _allowed(self, text: str) -> bool:
        extra = self._extra_allowed
        if self._printable_allowed:
            return all(c in extra or c.isprintable() for c in text)
        return all(c in extra for c in text)

    def _end(
        self,
        how: str,
        error: str | None = None,
        keep_text: bool = True,
        t_last: float | None = None,
    ) -> Sequence[Token]:
        """Close the scan in progress; return its token (nothing after a cut: already reported)."""
        text, self._buf = self._buf, ""
        discarding, self._discarding = self._discarding, False
        self._tail = ""
        if discarding and error is None:
            return _NO_TOKENS
        prefix = self._prefix
        if prefix and text.startswith(prefix):
            text = text[len(prefix) :]
        if not text and error is None:
            return _NO_TOKENS
        if error is None and not self._allowed(text):
            error = "bad_char"
        return [
            ScanToken(
                text if keep_text else "",
                self.device,
                self._t_first,
                self._t_last if t_last is None else t_last,
                how,
                error,
            )
        ]
