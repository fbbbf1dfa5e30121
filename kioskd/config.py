"""Configuration: `/etc/kioskd/kioskd.toml` plus `kioskd.toml.d/*.toml` drop-ins.

Rules:
- The main file is read first, then each drop-in in sorted name order; a later file wins. Tables
  are merged key by key (a drop-in that sets `printer.uri` keeps every other `printer` key).
- The result is a `Config` of frozen dataclasses, one per section, each key with a default
  (except the few marked required). Reading never half-succeeds: every problem of every file is
  collected as a `ConfigError` naming the file, the line and the dotted key, and `load_config`
  raises `ConfigInvalid` carrying all of them, so a technician fixes a file in one pass.
- A value that is secret (`api.password`, `functions.supervisor_code`) never appears in an error.
  The API password is not read from `api.password_file` or the systemd credential here: the
  daemon calls `ApiConfig.read_password()` when it logs in, so `check-config` works unprivileged.
- `ConfigHolder` keeps the last good config: a reload with a broken file keeps the old one and
  returns the errors, so SIGHUP can never take a running kiosk down.

The schema is the dataclasses below: a field's type, default and `metadata` (choices, range,
checker) are the whole specification. `config/kioskd.toml` documents every key; a test keeps the
two in step.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kioskd.counter.keymap import ACTIONS
from kioskd.input.devices import DEVICE_FORMS, Selector  # noqa: F401 - DEVICE_FORMS re-exported

if TYPE_CHECKING:
    from kioskd.counter.keymap import Keymap
    from kioskd.counter.session import SessionSettings
    from kioskd.input.reader import SourceConfig
    from kioskd.outbox.policy import Policy

DEFAULT_PATH = Path("/etc/kioskd/kioskd.toml")
# `kioskd run` exits with this (EX_CONFIG, sysexits.h) when the config is invalid: the unit's
# RestartPreventExitStatus= names it, so a broken file is not restarted every few seconds.
EXIT_CONFIG = 78
CREDENTIAL_NAME = "api_password"

# --------------------------------------------------------------------------------------------
# Errors


@dataclass(frozen=True)
class ConfigError:
    """One problem: `file:line: dotted.key: message` (line or key may be unknown)."""

    file: str
    line: int | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigInvalid(Exception):
    """Raised by `load_config` with every error found (never only the first)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(e) for e in self.errors))


class PasswordUnavailable(Exception):
    """The API password could not be read (the text never contains the password)."""


# --------------------------------------------------------------------------------------------
# Value checkers: each returns None when fine, else the message (without the key).

Check = Callable[[Any], str | None]


def _range(lo: float | None = None, hi: float | None = None) -> Check:
    def check(value: Any) -> str | None:
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            if hi is None:
                return f"must be >= {lo}, got {value}"
            if lo is None:
                return f"must be <= {hi}, got {value}"
            return f"must be between {lo} and {hi}, got {value}"
        return None

    return check


def _positive(value: Any) -> str | None:
    return None if value > 0 else f"must be > 0, got {value}"


def _positive_upto(hi: float) -> Check:
    """> 0 and <= hi: a timeout or period a person would still call sensible."""

    def check(value: Any) -> str | None:
        if not 0 < value <= hi:
            return f"must be > 0 and <= {hi:g}, got {value}"
        return None

    return check


DeviceSpec = Selector  # the old name of a parsed device string


def parse_device(text: str) -> Selector:
    """Parse `scanner.device` / `keypad.device` with the reader's own parser
    (`kioskd.input.devices.Selector.parse`); raises ValueError naming the accepted forms."""
    return Selector.parse(text)


def _device(value: str) -> str | None:
    try:
        parse_device(value)
    except ValueError as exc:
        return str(exc)
    return None


PRINTER_URI_FORMS = (
    "usb://VID:PID, serial:///dev/ttyUSB0?baudrate=N, tcp://HOST:PORT or file:///dev/usb/lp0"
)


def _printer_uri(value: str) -> str | None:
    # The printer's own parser: what passes here is what the transport opens.
    from kioskd.printer.transport import parse_uri

    try:
        parse_uri(value)
    except ValueError as exc:
        return f"{exc}; expected {PRINTER_URI_FORMS}"
    return None


def _printer_profile(value: str) -> str | None:
    # Loaded only when checked: the capability database is python-escpos's, read on demand.
    from kioskd.printer.profiles import load_profile

    try:
        load_profile(value)
    except ValueError as exc:
        return str(exc)
    return None


def _url(value: str) -> str | None:
    if not re.match(r"^https?://[^/\s]+", value):
        return f"must be an http:// or https:// URL, got {value!r}"
    return None


def _abs_path(value: str | None) -> str | None:
    if value is not None and not value.startswith("/"):
        return f"must be an absolute path, got {value!r}"
    return None


def _scan_pattern(value: str) -> str | None:
    # The session's own parser first (compiles, groups, no exponential backtracking).
    from kioskd.counter.scan import ScanParser

    try:
        ScanParser(value)
    except ValueError as exc:
        return str(exc)
    groups = set(re.compile(value).groupindex)
    missing = {"ticket", "pin"} - groups
    if missing:
        return f"needs named groups ticket and pin (and optionally date); missing {sorted(missing)}"
    unknown = groups - {"ticket", "pin", "date"}
    if unknown:
        return f"unknown named groups {sorted(unknown)}; allowed: ticket, pin, date"
    return None


def _abs_path_or_empty(value: str) -> str | None:
    return _abs_path(value) if value else None


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def parse_listen(text: str) -> tuple[str, int]:
    """`metrics.listen`: "HOST:PORT" or "[::1]:PORT" on a loopback address -> (host, port).
    Raises ValueError naming the accepted form."""
    m = re.match(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})$", text)
    if not m:
        raise ValueError(
            f"must be HOST:PORT such as '127.0.0.1:9839' or '[::1]:9839', got {text!r}"
        )
    host = m.group("v6") or m.group("host")
    port = int(m.group("port"))
    if not 1 <= port <= 65535:
        raise ValueError(f"port must be 1..65535, got {port}")
    if host not in LOOPBACK_HOSTS:
        raise ValueError(
            f"must be a loopback address ({', '.join(LOOPBACK_HOSTS)}), got {host!r}: "
            "remote Prometheus servers scrape node-exporter, which reads metrics.textfile_dir"
        )
    return host, port


def _listen(value: str) -> str | None:
    if not value:
        return None
    try:
        parse_listen(value)
    except ValueError as exc:
        return str(exc)
    return None


def _digits(value: str) -> str | None:
    # The value is secret: the message must not contain it.
    if value and not (value.isdigit() and 4 <= len(value) <= 12):
        return "must be 4 to 12 digits (or empty for none)"
    return None


def _nonempty(value: str) -> str | None:
    return None if value.strip() else "must not be empty"


def _xkb_layout(value: str) -> str | None:
    if not re.match(r"^[a-z]{2,8}(\([A-Za-z0-9_-]+\))?$", value):
        return (
            f"must be an xkb layout name such as 'us', 'es', 'latam' or 'us(intl)', got {value!r}"
        )
    from kioskd.input.xkb import Layout, UnknownLayout

    try:
        Layout(value)  # compiled as the reader compiles it
    except UnknownLayout as exc:
        return f"{exc}: not installed here, or misspelt"
    return None


TERMINAL_ID_MAX = 32


def _terminal_id(value: str) -> str | None:
    # Printed on every slip and sent in every log entry: short, one line, printable.
    if len(value) > TERMINAL_ID_MAX:
        return f"must be at most {TERMINAL_ID_MAX} characters, got {len(value)}"
    if not value.isprintable():
        return "must be printable characters on one line"
    return None


def _printer_dots(value: int | None) -> str | None:
    # 96 dots (12 mm) to 832 (104 mm heads, the widest ESC/POS models)
    if value and not 96 <= value <= 832:
        return f"must be 96..832 printer dots (or 0: from printer.profile), got {value}"
    return None


def _printer_columns(value: int | None) -> str | None:
    if value and not 16 <= value <= 69:
        return f"must be 16..69 columns (or 0: from printer.profile), got {value}"
    return None


def _bcm_pin(value: int | None) -> str | None:
    if value is not None and not -1 <= value <= 27:
        return f"must be a BCM GPIO number 0..27 (or -1: not fitted), got {value}"
    return None


def _function_numbers(value: tuple[int, ...]) -> str | None:
    bad = [n for n in value if not 0 <= n <= 99]
    return f"function numbers must be 0..99, got {bad}" if bad else None


def key(
    default: Any = dataclasses.MISSING,
    *,
    choices: tuple[Any, ...] | None = None,
    check: Check | None = None,
    secret: bool = False,
    required: bool = False,
    none_if: Any = None,
) -> Any:
    """A config key: its default plus how its value is checked (`none_if`: the TOML value that
    stands for "not set", since TOML has no null)."""
    meta = {
        "choices": choices,
        "check": check,
        "secret": secret,
        "required": required,
        "none_if": none_if,
    }
    if isinstance(default, (list, dict)):
        raise TypeError("use a tuple or a Mapping factory for container defaults")
    return field(default=default, metadata=meta, repr=not secret)


# --------------------------------------------------------------------------------------------
# Schema: one frozen dataclass per section.


@dataclass(frozen=True)
class TerminalConfig:
    """`[terminal]`: who this kiosk is and how its slips speak."""

    id: str = key("", check=_terminal_id)
    locale: str = key("es", choices=("es", "en"))
    currency: str = key("Bs.", check=_nonempty)
    agency_name: str = key("")


@dataclass(frozen=True)
class ApiConfig:
    """`[api]`: where the Banklot API is and how to reach it."""

    base_url: str = key("", check=_url, required=True)
    email: str = key("", check=_nonempty, required=True)
    password: str | None = key(None, secret=True)
    password_file: str | None = key(None, check=_abs_path)
    connect_timeout_s: float = key(5.0, check=_positive_upto(300))
    read_timeout_s: float = key(15.0, check=_positive_upto(600))
    verify_tls: bool = key(True)
    ca_bundle: str | None = key(None, check=_abs_path)
    shared_account: bool = key(False)

    def read_password(self, environ: Mapping[str, str] | None = None) -> str:
        """The API password: `password`, else `password_file`, else the systemd credential
        `$CREDENTIALS_DIRECTORY/api_password` (LoadCredential=). Trailing newlines are dropped."""
        env = os.environ if environ is None else environ
        if self.password is not None:
            return self.password
        if self.password_file is not None:
            path = Path(self.password_file)
            source = f"api.password_file ({path})"
        elif env.get("CREDENTIALS_DIRECTORY"):
            path = Path(env["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
            source = f"systemd credential {CREDENTIAL_NAME}"
        else:
            raise PasswordUnavailable(
                "no API password: set api.password_file, api.password, or run under the unit "
                f"with LoadCredential={CREDENTIAL_NAME}:..."
            )
        try:
            text = path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise PasswordUnavailable(f"cannot read {source}: {exc.strerror}") from None
        if not text:
            raise PasswordUnavailable(f"{source} is empty")
        return text


@dataclass(frozen=True)
class JournalConfig:
    """`[journal]`: the SQLite journal's file and how long settled operations are kept."""

    path: str = key("/var/lib/kioskd/journal.sqlite3", check=_abs_path)
    retention_days: int = key(90, check=_range(1, 3650))


@dataclass(frozen=True)
class OfflineConfig:
    """`[offline]`: how long and how much may wait for the server."""

    create_max_age_s: float = key(180.0, check=_range(0, 86400))
    pay_max_age_s: float = key(600.0, check=_range(0, 86400))
    max_queued: int = key(20, check=_range(0, 10000))
    max_queued_amount: int = key(2000, check=_range(0, 10**9))


@dataclass(frozen=True)
class ReconcileConfig:
    """`[reconcile]`: how an operation in doubt is looked for."""

    quiet_period_s: float = key(60.0, check=_range(0, 3600))
    probes: int = key(3, check=_range(1, 1000))
    probe_interval_s: float = key(10.0, check=_positive_upto(86400))


@dataclass(frozen=True)
class CatalogConfig:
    """`[catalog]`: how often the catalog is fetched and when it is stale."""

    refresh_s: float = key(300.0, check=_range(10, 86400))
    stale_after_s: float = key(1800.0, check=_positive_upto(7 * 86400))
    first_load_wait_s: float = key(20.0, check=_range(0, 300))


@dataclass(frozen=True)
class InputConfig:
    """`[input]`: what the input devices share."""

    idle_reset_s: float = key(60.0, check=_range(0, 3600))


# "ignore": keypad keys are digits and operators whatever Num Lock says (cheap keypads wrap every
# key in Num Lock presses); "on" / "off": follow Num Lock from this state (a full keyboard).
NUMLOCK_CHOICES = ("ignore", "on", "off")

DEFAULT_SCAN_PATTERN = r"^(?P<ticket>\d{6,10})[-/ ]?(?P<pin>\d{8})(?:[-/ ]?(?P<date>\d{8}))?$"


@dataclass(frozen=True)
class ScannerConfig:
    """`[scanner]`: the barcode scanner's device and how its keys make a scan."""

    device: str = key("/dev/kiosk/scanner", check=_device)
    layout: str = key("us", check=_xkb_layout)
    gap_ms: int = key(50, check=_range(1, 5000))
    suffix: str = key("enter", choices=("enter", "tab", "none"))
    max_length: int = key(64, check=_range(1, 4096))
    grab: bool = key(True)
    pattern: str = key(DEFAULT_SCAN_PATTERN, check=_scan_pattern)
    numlock: str = key("ignore", choices=NUMLOCK_CHOICES)
    double_read_ms: int = key(1000, check=_range(0, 10000))


@dataclass(frozen=True)
class KeypadConfig:
    """`[keypad]`: the keypad's device and how its keys are read."""

    device: str = key("/dev/kiosk/keypad", check=_device)
    layout: str = key("us", check=_xkb_layout)
    grab: bool = key(True)
    numlock: str = key("ignore", choices=NUMLOCK_CHOICES)


# The counter session's actions plus "none" (unbind).
KEY_FUNCTIONS = (*ACTIONS, "none")
# Entries here rebind single keys on top of the session's default keymap (which already knows
# the keypad's evdev names, keysyms and characters); these lines restate the keypad defaults.
DEFAULT_KEYMAP: Mapping[str, str] = types.MappingProxyType(
    {
        "KP_Add": "sell",
        "KP_Subtract": "cancel",
        "KP_Divide": "repeat",
        "KP_Multiply": "function",
        "KP_Enter": "enter",
        "BackSpace": "backspace",
        "Escape": "escape",
        "KP_Decimal": "dot",
    }
)
_KEY_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class KeymapConfig:
    """Key name (xkb keysym name, e.g. `KP_Add`) -> function. `none` unbinds a default key."""

    bindings: Mapping[str, str] = field(default_factory=lambda: DEFAULT_KEYMAP)


@dataclass(frozen=True)
class PrinterConfig:
    """`[printer]`: the receipt printer's address, paper and profile."""

    uri: str = key("file:///dev/kiosk/printer", check=_printer_uri)
    paper_mm: int = key(80, choices=(58, 80))
    # python-escpos printer profile: its code-page table picks the code page (CP858, CP850...).
    profile: str = key("default", check=_printer_profile)
    # Printable width in dots and Font A columns; None (0 in TOML): from the profile.
    dots: int | None = key(None, check=_printer_dots, none_if=0)
    columns: int | None = key(None, check=_printer_columns, none_if=0)
    timeout_s: float = key(10.0, check=_positive_upto(300))
    # Folder that receives a PNG preview of every printed slip (demo, field checks). None: off.
    preview_dir: str | None = key(None, check=_abs_path)


@dataclass(frozen=True)
class LedsConfig:
    """`[leds]`: the lights' pins and the GPIO backend."""

    backend: str = key("gpio", choices=("gpio", "mock"))
    pin_factory: str = key("auto", choices=("auto", "lgpio", "rpigpio", "mock"))
    green: int | None = key(17, check=_bcm_pin, none_if=-1)
    amber: int | None = key(27, check=_bcm_pin, none_if=-1)
    red: int | None = key(22, check=_bcm_pin, none_if=-1)
    buzzer: int | None = key(23, check=_bcm_pin, none_if=-1)


@dataclass(frozen=True)
class PayConfig:
    """`[pay]`: how a payout that is not a winner is told."""

    not_winner: str = key("slip", choices=("slip", "flash"))


@dataclass(frozen=True)
class FunctionsConfig:
    """`[functions]`: the functions a supervisor's code protects."""

    supervisor_code: str = key("", check=_digits, secret=True)
    protected: tuple[int, ...] = key((), check=_function_numbers)


@dataclass(frozen=True)
class ControlConfig:
    """`[control]`: the control socket of `kioskctl`."""

    socket: str = key("/run/kioskd/control.sock", check=_abs_path)
    allow_inject: bool = key(False)


@dataclass(frozen=True)
class LogConfig:
    """`[log]`: how much is logged, and where."""

    level: str = key("info", choices=("debug", "info", "warning", "error"))
    target: str = key("auto", choices=("auto", "journald", "stderr"))


# On tmpfs (the package's tmpfiles.d makes it kioskd's, 0755, at boot): an idle kiosk writes
# nothing to its SD card (issue 19); node-exporter reads the file through the link
# /var/lib/prometheus/node-exporter/kioskd.prom that /usr/libexec/kioskd-textfile-access keeps.
DEFAULT_TEXTFILE_DIR = "/run/kioskd-metrics"
# node-exporter's textfile folder (Debian's prometheus-node-exporter default).
NODE_EXPORTER_TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus metrics (kioskd.daemon.metrics): node-exporter's textfile collector, and
    optionally a loopback HTTP endpoint. Empty strings turn either off."""

    textfile_dir: str = key(DEFAULT_TEXTFILE_DIR, check=_abs_path_or_empty)
    listen: str = key("", check=_listen)
    interval_s: float = key(5.0, check=_range(1, 300))
    textfile_max_age_s: float = key(60.0, check=_range(5, 3600))


@dataclass(frozen=True)
class Config:
    """The whole configuration: one section per table of the file, defaults for the rest."""

    terminal: TerminalConfig = field(default_factory=TerminalConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    journal: JournalConfig = field(default_factory=JournalConfig)
    offline: OfflineConfig = field(default_factory=OfflineConfig)
    reconcile: ReconcileConfig = field(default_factory=ReconcileConfig)
    catalog: CatalogConfig = field(default_factory=CatalogConfig)
    input: InputConfig = field(default_factory=InputConfig)
    scanner: ScannerConfig = field(default_factory=ScannerConfig)
    keypad: KeypadConfig = field(default_factory=KeypadConfig)
    keymap: KeymapConfig = field(default_factory=KeymapConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)
    leds: LedsConfig = field(default_factory=LedsConfig)
    pay: PayConfig = field(default_factory=PayConfig)
    functions: FunctionsConfig = field(default_factory=FunctionsConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    # The files read, in order (main file first); not a key.
    sources: tuple[str, ...] = field(default=(), compare=False)


_CONFIG_HINTS = typing.get_type_hints(Config)  # once: each call evaluates every annotation
SECTIONS: dict[str, type] = {f.name: _CONFIG_HINTS[f.name] for f in dataclasses.fields(Config)}
del SECTIONS["sources"]


def outbox_policy(cfg: Config | None = None, **overrides: Any) -> Policy:
    """The outbox policy of `cfg` (of the shipped defaults when None): the one place where
    config numbers become outbox numbers, so proofs and benchmarks run what ships."""
    from kioskd.outbox.policy import Policy  # the outbox package is not needed to read a file

    offline = cfg.offline if cfg is not None else OfflineConfig()
    rec = cfg.reconcile if cfg is not None else ReconcileConfig()
    api = cfg.api if cfg is not None else None
    values: dict[str, Any] = {
        "shared_account": api.shared_account if api is not None else False,
        "create_max_age_s": offline.create_max_age_s,
        "pay_max_age_s": offline.pay_max_age_s,
        "max_queued": offline.max_queued,
        "max_queued_amount": offline.max_queued_amount,
        "quiet_period_s": rec.quiet_period_s,
        "not_applied_probes": rec.probes,
        "probe_interval_s": rec.probe_interval_s,
    }
    values.update(overrides)
    return Policy(**values)


def _close(word: str, choices: Iterable[str], n: int) -> list[str]:
    """The close matches for a "did you mean" (difflib: imported only for a wrong name)."""
    import difflib

    return difflib.get_close_matches(word, list(choices), n=n)


def section_keys(section: str) -> list[str]:
    """The key names of a section (for `[keymap]`, which is a free table: none)."""
    if section == "keymap":
        return []
    return [f.name for f in dataclasses.fields(SECTIONS[section])]


# --------------------------------------------------------------------------------------------
# Loading


def dropin_dir(path: Path) -> Path:
    return path.with_name(path.name + ".d")


def config_files(path: Path) -> list[Path]:
    """The main file then its drop-ins (`NAME.d/*.toml`, sorted by name)."""
    d = dropin_dir(path)
    dropins = sorted(p for p in d.glob("*.toml") if p.is_file()) if d.is_dir() else []
    return [path, *dropins]


class _Source:
    """One file's text, for finding the line of a key."""

    def __init__(self, path: Path, display: str, text: str) -> None:
        self.path = path
        self.display = display
        self.lines = text.splitlines()

    def top_line(self, name: str) -> int | None:
        """Line of a top-level `name = ...` (before any table header)."""
        key_re = re.compile(r"""^\s*(["']?)""" + re.escape(name) + r"""\1\s*=""")
        for i, line in enumerate(self.lines, start=1):
            if line.lstrip().startswith("["):
                return None
            if key_re.match(line):
                return i
        return None

    def line_of(self, section: str, name: str | None) -> int | None:
        """Line of `name` inside `[section]` (or of the header), or of `section.name = ...`."""
        header = re.compile(r"^\s*\[\s*" + re.escape(section) + r"\s*\]\s*(#.*)?$")
        any_header = re.compile(r"^\s*\[")
        key_re = re.compile(r"""^\s*(["']?)""" + re.escape(name) + r"""\1\s*=""") if name else None
        dotted = re.compile(
            r"""^\s*(["']?)"""
            + re.escape(section)
            + r"""\1\s*\.\s*(["']?)"""
            + re.escape(name or "")
            + r"""\2\s*="""
        )
        header_line = None
        in_section = False
        for i, line in enumerate(self.lines, start=1):
            if header.match(line):
                in_section, header_line = True, header_line or i
                if key_re is None:
                    return i
                continue
            if any_header.match(line):
                in_section = False
                continue
            if in_section and key_re is not None and key_re.match(line):
                return i
            if name and dotted.match(line):
                return i
        return header_line


def _display_name(path: Path, main: Path) -> str:
    try:
        return str(path.relative_to(main.parent))
    except ValueError:
        return str(path)


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _choices_text(choices: tuple[Any, ...]) -> str:
    items = [str(c) if isinstance(c, int) else repr(c) for c in choices]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _coerce(tp: Any, value: Any) -> tuple[Any, str | None]:
    """Convert a TOML value to the field type `tp`; return (value, error message)."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _coerce(args[0], value)
    if tp is bool:
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value, None
        return None, "must be an integer"
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # TOML has nan and inf; no key means either
                return None, "must be a finite number"
            return float(value), None
        return None, "must be a number"
    if tp is str:
        return (value, None) if isinstance(value, str) else (None, "must be a string")
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            return None, "must be an array"
        out = []
        for item in value:
            item_value, err = _coerce(item_tp, item)
            if err:
                return None, f"every item {err.removeprefix('must be ')}"
            out.append(item_value)
        return tuple(out), None
    raise TypeError(f"unsupported config type {tp!r}")  # a schema bug, not a user error


def _build_section(
    section: str,
    values: dict[str, tuple[Any, _Source]],
    errors: list[ConfigError],
    main_display: str | None,
) -> Any:
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        dotted = f"{section}.{f.name}"
        if f.name not in values:
            if f.metadata.get("required") and main_display is not None:
                errors.append(ConfigError(main_display, None, dotted, "required key is missing"))
            continue
        raw, src = values[f.name]
        secret = f.metadata.get("secret", False)

        def err(msg: str, src: _Source = src, name: str = f.name, k: str = dotted) -> None:
            # The line is looked up only for an error: every start reads a good config.
            errors.append(ConfigError(src.display, src.line_of(section, name), k, msg))

        value, problem = _coerce(hints[f.name], raw)
        if problem:
            err(problem if secret else f"{problem}, got {_type_name(raw)} {raw!r}")
            continue
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            allowed = _choices_text(choices)
            err(f"must be {allowed}, got {value!r}")
            continue
        check = f.metadata.get("check")
        if check and value is not None:
            problem = check(value)
            if problem:
                err(problem)
                continue
        none_if = f.metadata.get("none_if")
        kwargs[f.name] = None if none_if is not None and value == none_if else value
    return cls(**kwargs)


def _build_keymap(
    values: dict[str, tuple[Any, _Source]], errors: list[ConfigError]
) -> KeymapConfig:
    bindings = dict(DEFAULT_KEYMAP)
    for name, (raw, src) in values.items():
        dotted = f"keymap.{name}"
        if not _KEY_NAME.match(name):
            line = src.line_of("keymap", name)
            errors.append(ConfigError(src.display, line, dotted, "not a key name (xkb keysym)"))
        elif raw not in KEY_FUNCTIONS:
            errors.append(
                ConfigError(
                    src.display,
                    src.line_of("keymap", name),
                    dotted,
                    f"must be one of {', '.join(KEY_FUNCTIONS)}, got {raw!r}",
                )
            )
        else:
            bindings[name] = raw
    return KeymapConfig(types.MappingProxyType(bindings))


class _Where:
    """Where each key was set: (file, line), the line looked up only for a key that has an
    error (a good config, i.e. every start, looks up none: issue 19, start-up CPU)."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[_Source, str, str]] = {}

    def get(self, dotted: str, default: tuple[str, int | None]) -> tuple[str, int | None]:
        found = self.keys.get(dotted)
        if found is None:
            return default
        src, section, name = found
        return src.display, src.line_of(section, name)


def _cross_checks(cfg: Config, where: _Where) -> list[ConfigError]:
    """Rules that involve more than one key."""
    out: list[ConfigError] = []

    def err(dotted: str, msg: str) -> None:
        file, line = where.get(dotted, (cfg.sources[0] if cfg.sources else "?", None))
        out.append(ConfigError(file, line, dotted, msg))

    if cfg.api.password is not None and cfg.api.password_file is not None:
        err("api.password", "set api.password or api.password_file, not both")
    if cfg.api.ca_bundle is not None and not cfg.api.verify_tls:
        err("api.ca_bundle", "has no effect with api.verify_tls = false")
    pins: dict[int, str] = {}
    for name in ("green", "amber", "red", "buzzer"):
        pin = getattr(cfg.leds, name)
        if pin is None:
            continue
        if pin in pins:
            err(f"leds.{name}", f"GPIO {pin} is already used by leds.{pins[pin]}")
        pins[pin] = name
    if cfg.reconcile.quiet_period_s <= cfg.api.read_timeout_s:
        # A request we stopped waiting for may still commit on the server: "not applied" may
        # only be concluded once that cannot happen any more.
        err(
            "reconcile.quiet_period_s",
            f"must be longer than api.read_timeout_s ({cfg.api.read_timeout_s:g} s)",
        )
    if cfg.catalog.stale_after_s < cfg.catalog.refresh_s:
        err("catalog.stale_after_s", "must be >= catalog.refresh_s")
    if cfg.printer.dots is not None or cfg.printer.columns is not None:
        from kioskd.printer.profiles import load_profile

        try:
            load_profile(cfg.printer.profile).paper(
                cfg.printer.paper_mm, dots=cfg.printer.dots, columns=cfg.printer.columns
            )
        except ValueError as exc:  # columns x 12 dots wider than the printable width
            key_name = "printer.columns" if cfg.printer.columns is not None else "printer.dots"
            err(key_name, str(exc))
    from kioskd.counter.session import FUNCTIONS

    numbers = sorted(int(n) for n in FUNCTIONS if n)
    unknown = [n for n in cfg.functions.protected if n not in numbers]
    if unknown:
        err("functions.protected", f"no such function {unknown}; functions are {numbers}")
    elif cfg.functions.protected and not cfg.functions.supervisor_code:
        err("functions.protected", "needs functions.supervisor_code (asked before they run)")
    spec_s, spec_k = (
        parse_device_or_none(cfg.scanner.device),
        parse_device_or_none(cfg.keypad.device),
    )
    if (
        spec_s is not None
        and spec_k is not None
        and spec_s.kind not in ("none", "auto", "name", "usb")
        and spec_s == spec_k
    ):
        err("keypad.device", "is the same device as scanner.device")
    return out


def parse_device_or_none(text: str) -> Selector | None:
    try:
        return parse_device(text)
    except ValueError:
        return None


def _read_files(
    path: Path, errors: list[ConfigError]
) -> tuple[dict[str, dict[str, tuple[Any, _Source]]], list[str]]:
    """Parse every file and merge tables key by key, remembering where each value came from."""
    merged: dict[str, dict[str, tuple[Any, _Source]]] = {}
    sources: list[str] = []
    files = config_files(path)
    for p in files:
        display = _display_name(p, path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            errors.append(ConfigError(display, None, None, "file not found"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(ConfigError(display, None, None, f"cannot read: {exc}"))
            continue
        src = _Source(p, display, text)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
            line = int(m.group(1)) if m else None
            msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            msg = re.sub(r"\s*\(at end of document\)", " (at end of file)", msg)
            errors.append(ConfigError(display, line, None, f"TOML syntax: {msg}"))
            continue
        sources.append(str(p))
        for section, table in data.items():
            if section not in SECTIONS:
                close = _close(section, SECTIONS, 1)
                hint = f"; did you mean [{close[0]}]?" if close else ""
                errors.append(
                    ConfigError(
                        display, src.line_of(section, None), section, f"unknown section{hint}"
                    )
                )
                continue
            if not isinstance(table, dict):
                errors.append(
                    ConfigError(display, src.top_line(section), section, "must be a table")
                )
                continue
            known = section_keys(section)
            slot = merged.setdefault(section, {})
            for name, value in table.items():
                if section != "keymap" and name not in known:
                    close = _close(name, known, 1)
                    hint = f"; did you mean {section}.{close[0]}?" if close else ""
                    errors.append(
                        ConfigError(
                            display,
                            src.line_of(section, name),
                            f"{section}.{name}",
                            f"unknown key{hint}",
                        )
                    )
                    continue
                slot[name] = (value, src)
    return merged, sources


def check(path: str | os.PathLike[str] = DEFAULT_PATH) -> list[ConfigError]:
    """Every error of the config at `path` (with its drop-ins); empty when it is good."""
    try:
        load_config(path)
    except ConfigInvalid as exc:
        return exc.errors
    return []


def load_config(path: str | os.PathLike[str] = DEFAULT_PATH) -> Config:
    """Read and validate; raises `ConfigInvalid` with every error found."""
    main = Path(path)
    errors: list[ConfigError] = []
    merged, sources = _read_files(main, errors)
    # With the main file unreadable, "required key missing" would be noise: skip that check.
    main_display = _display_name(main, main) if str(main) in sources else None
    sections: dict[str, Any] = {}
    where = _Where()
    for section in SECTIONS:
        values = merged.get(section, {})
        for name, (_v, src) in values.items():
            where.keys[f"{section}.{name}"] = (src, section, name)
        if section == "keymap":
            sections[section] = _build_keymap(values, errors)
        else:
            sections[section] = _build_section(section, values, errors, main_display)
    cfg = Config(**sections, sources=tuple(sources))
    # Cross-key rules see defaults where a key was bad: report them only for keys still clean.
    bad_keys = {e.key for e in errors}
    errors.extend(e for e in _cross_checks(cfg, where) if e.key not in bad_keys)
    if not errors:
        errors.extend(_runtime_checks(cfg, where))
    if errors:
        order = {_display_name(p, main): i for i, p in enumerate(config_files(main))}
        errors.sort(key=lambda e: (order.get(e.file, -1), e.line or 0))
        raise ConfigInvalid(errors)
    return cfg


def input_sources(cfg: Config) -> list[SourceConfig]:
    """The `SourceConfig` of each configured input device (scanner first), as `kioskd run`
    reads them; a role whose device is "" is left out."""
    from kioskd.input.reader import SourceConfig

    sc, kp = cfg.scanner, cfg.keypad
    configs = [
        SourceConfig(
            device=sc.device,
            role="scanner",
            layout=sc.layout,
            gap_s=sc.gap_ms / 1000.0,
            suffix={"tab": "\t"}.get(sc.suffix, ""),
            max_len=sc.max_length,
            numlock=sc.numlock != "off",
            keypad_digits=sc.numlock == "ignore",
            grab=sc.grab,
            label="scanner",
        ),
        SourceConfig(
            device=kp.device,
            role="keypad",
            layout=kp.layout,
            gap_s=None,
            numlock=kp.numlock != "off",
            keypad_digits=kp.numlock == "ignore",
            grab=kp.grab,
            label="keypad",
        ),
    ]
    return [c for c in configs if c.device and c.device != "none"]


def keymap_table(bindings: Mapping[str, str]) -> dict[str, list[str]]:
    """Config `[keymap]` (key name -> action, rebinding single keys) applied on top of the
    session's default keymap, as the action -> key names table `Keymap` takes."""
    from kioskd.counter.keymap import DEFAULT_BINDINGS

    table = {action: list(keys) for action, keys in DEFAULT_BINDINGS.items()}
    for key_name, action in dict(bindings).items():
        for keys in table.values():
            if key_name in keys:
                keys.remove(key_name)
        if action not in (None, "none"):
            table.setdefault(str(action), []).append(str(key_name))
    return {action: keys for action, keys in table.items() if keys}


def session_keymap(cfg: Config) -> Keymap:
    """The counter session's `Keymap`, as `kioskd run` builds it."""
    from kioskd.counter.keymap import Keymap

    return Keymap.from_config(keymap_table(cfg.keymap.bindings))


def session_settings(cfg: Config, terminal_id: str) -> SessionSettings:
    """The counter session's `SessionSettings`, as `kioskd run` builds them."""
    from kioskd.counter.session import SessionSettings

    return SessionSettings(
        idle_reset_s=cfg.input.idle_reset_s or math.inf,  # 0: never reset
        lang=cfg.terminal.locale,
        currency=cfg.terminal.currency,
        terminal_id=terminal_id,
        supervisor_code=cfg.functions.supervisor_code or None,
        supervised_functions=frozenset(str(n) for n in cfg.functions.protected),
        not_winner_slip=cfg.pay.not_winner == "slip",
        scan_pattern=cfg.scanner.pattern,
        double_read_s=cfg.scanner.double_read_ms / 1000.0,
        catalog_wait_s=cfg.catalog.first_load_wait_s,
        journaled_prints=True,
    )


def _runtime_checks(cfg: Config, where: _Where) -> list[ConfigError]:
    """Build what `kioskd run` builds at start from the config (input readers, keymap, session
    settings): anything that refuses there is refused here first, with file, line and key."""
    from kioskd.input.reader import InputSource

    out: list[ConfigError] = []

    def err(dotted: str, msg: str) -> None:
        file, line = where.get(dotted, (cfg.sources[0] if cfg.sources else "?", None))
        out.append(ConfigError(file, line, dotted, msg))

    for source in input_sources(cfg):
        try:
            InputSource(source)
        except ValueError as exc:
            err(f"{source.label}.device", str(exc))
    try:
        session_keymap(cfg)
    except ValueError as exc:
        err("keymap", str(exc))
    try:
        session_settings(cfg, cfg.terminal.id or "check")
    except ValueError as exc:
        err("functions.protected" if "supervis" in str(exc) else "input.idle_reset_s", str(exc))
    return out


def summary(cfg: Config) -> str:
    """One line a technician can read: what this config will talk to."""
    dropins = len(cfg.sources) - 1
    parts = [
        f"terminal {cfg.terminal.id or '(hostname)'}",
        f"api {cfg.api.base_url} as {cfg.api.email}",
        f"scanner {cfg.scanner.device or 'off'}",
        f"keypad {cfg.keypad.device or 'off'}",
        f"printer {cfg.printer.uri} {cfg.printer.paper_mm}mm profile {cfg.printer.profile}",
        f"leds {cfg.leds.backend}",
        f"{dropins} drop-in{'s' if dropins != 1 else ''}",
    ]
    return ", ".join(parts)


def changed_sections(old: Config, new: Config) -> list[str]:
    """Sections whose values differ (so a reload can say what it changed)."""
    return [s for s in SECTIONS if getattr(old, s) != getattr(new, s)]


class ConfigHolder:
    """The live config; `reload()` swaps it only when the files are good."""

    def __init__(self, path: str | os.PathLike[str], config: Config | None = None) -> None:
        self.path = Path(path)
        self.current = config if config is not None else load_config(self.path)

    def reload(self) -> tuple[bool, list[ConfigError] | list[str]]:
        """(True, changed section names) or (False, errors) keeping the last good config."""
        try:
            new = load_config(self.path)
        except ConfigInvalid as exc:
            return False, exc.errors
        changed = changed_sections(self.current, new)
        self.current = new
        return True, changed


_SECRET_LINE = re.compile(r"(?m)^\s*(password|supervisor_code)\s*=")


def security_warnings(cfg: Config, path: str | os.PathLike[str]) -> list[str]:
    """What in a valid config weakens the kiosk's safety: said at start and by doctor."""
    out = []
    if not cfg.api.verify_tls:
        out.append(
            "api.verify_tls = false: the server's certificate is not checked (anyone on the "
            "path can read the password and change answers)"
        )
    if cfg.api.base_url.lower().startswith("http://"):
        out.append(
            f"api.base_url {cfg.api.base_url} is plain http://: the password and every "
            "ticket travel unencrypted"
        )
    for f in config_files(Path(path)):
        try:
            mode = f.stat().st_mode
            holds = _SECRET_LINE.search(f.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if holds and mode & 0o004:
            out.append(
                f"{f} holds {holds.group(1)} and is readable by every user (mode "
                f"{mode & 0o777:o}): chmod 640 (group kioskd) or use api.password_file"
            )
    return out
