"""`kioskd doctor`: check everything a kiosk needs and say what a technician should do.

Rules:
- A check ends in `Finding`s: a status (OK, WARN, FAIL), a one-line finding and, when not OK,
  a hint that says what to do. Findings are data; printing them is the command's job.
- Judging is pure: `judge_*` functions take what was observed (a printer status, a skew in
  seconds, free bytes, journal facts) and return findings, so every verdict is testable without
  the part. Observing is the I/O edge: `probe_*` / `observe_*` functions touch one part each.
- Doctor always finishes in a few seconds: the observations run concurrently, each under its own
  timeout; a check that times out is a FAIL that says so, never a hang. Blocking observations
  run in daemon threads so that a wedged device cannot hold the process at exit.
- Doctor changes nothing: the journal is opened read-only (a missing one is reported as "will be
  created", never created or migrated), a `file:` printer that does not exist is not created,
  nothing is printed and no operation is sent (it logs in and reads `/gaming/time`, that is all).
- The API password never appears in a finding: the client keeps it out of its errors, and every
  finding is scrubbed of it once more before it leaves `run_checks`.
- If the config cannot load, its errors are reported (file:line: dotted.key) and the checks that
  need nothing from it (the input device list) still run; the others say they were skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from kioskd.servertime import WARN_SKEW_S

if TYPE_CHECKING:
    # Imported lazily at run time: `kioskd doctor` starts fast and works with parts missing.
    import httpx

    from kioskd.config import Config, ConfigError
    from kioskd.input.devices import DeviceInfo, InputNode, NodeOpener, Selector
    from kioskd.input.roles import Rhythm, Verdict
    from kioskd.printer.status import PrinterStatus

OK = "OK"
WARN = "WARN"
FAIL = "FAIL"
_RANK = {OK: 0, WARN: 1, FAIL: 2}

# Thresholds (documented in `kioskd doctor --help`).
# The clock: the daemon's one threshold (kioskd.servertime.WARN_SKEW_S: its log, status and
# the fleet's alert rule use it too). Money does not depend on the kiosk's clock (the daemon
# decides with the server's time), so a skew is a WARN for the logs' sake, never a FAIL.
CLOCK_WARN_S = WARN_SKEW_S
DISK_WARN_BYTES = 200 * 1024 * 1024
DISK_FAIL_BYTES = 20 * 1024 * 1024

# Timeouts: doctor must answer in a few seconds even when every part hangs.
API_CONNECT_TIMEOUT_S = 2.0
API_READ_TIMEOUT_S = 3.0
PRINTER_TIMEOUT_S = 2.0
PRINTER_REPLY_TIMEOUT_S = 0.5
CHECK_TIMEOUT_S = 8.0

T = TypeVar("T")


@dataclass(frozen=True)
class Finding:
    """One verdict. `data` carries machine-readable extras (device rows, counts) for --json."""

    check: str
    status: str
    detail: str
    hint: str = ""
    data: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.status not in _RANK:
            raise ValueError(f"finding {self.check!r}: status must be OK, WARN or FAIL")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "check": self.check,
            "status": self.status,
            "detail": self.detail,
            "hint": self.hint,
        }
        if self.data:
            out["data"] = dict(self.data)
        return out


def worst(findings: Sequence[Finding]) -> str:
    """The worst status of `findings` (OK when there are none)."""
    return max((f.status for f in findings), key=_RANK.__getitem__, default=OK)


def exit_code(findings: Sequence[Finding], *, strict: bool = False) -> int:
    """0 when nothing failed (WARN allowed), 1 on any FAIL; with `strict`, WARN also gives 1."""
    status = worst(findings)
    if status == FAIL or (strict and status == WARN):
        return 1
    return 0


def _mib(n: float) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GiB"
    return f"{n / 1024**2:.0f} MiB"


# ================================================================================ config


def check_config(path: str | os.PathLike[str]) -> tuple[Config | None, list[Finding]]:
    """(Config or None, findings): every config error as `file:line: dotted.key: message`."""
    from kioskd.config import ConfigInvalid, load_config, summary

    try:
        cfg = load_config(path)
    except ConfigInvalid as exc:
        n = len(exc.errors)
        findings = [
            Finding(
                "config",
                FAIL,
                f"{n} error{'s' if n != 1 else ''} in {path}; checks that need it are skipped",
                f"fix each line below, then run `kioskd check-config --config {path}`",
            )
        ]
        findings += [Finding("config", FAIL, str(e), _config_hint(e)) for e in exc.errors]
        return None, findings
    return cfg, [Finding("config", OK, summary(cfg))]


def _config_hint(error: ConfigError) -> str:
    if error.key is None and error.message == "file not found":
        return "give the right file with --config PATH (default /etc/kioskd/kioskd.toml)"
    if error.key is None:
        return "fix this line of the file (TOML syntax)"
    return f"fix {error.key} (config/kioskd.toml documents every key and its forms)"


# ================================================================================ input devices


@dataclass(frozen=True)
class InputNodeRow:
    """What doctor saw of one node: its identity, or the error that kept it from being read."""

    path: str
    name: str = ""
    vendor: int = 0
    product: int = 0
    serial: str = ""
    by_id: tuple[str, ...] = ()
    error: str = ""
    keys: frozenset[int] = frozenset()

    @property
    def vendor_product(self) -> str:
        return f"{self.vendor:04x}:{self.product:04x}"

    def info(self) -> DeviceInfo:
        from kioskd.input.devices import DeviceInfo

        return DeviceInfo(
            self.path, self.name, self.vendor, self.product, self.serial, self.by_id, self.keys
        )


class AutoOpener:
    """Probes real evdev nodes with python-evdev, and fake ones (a file or FIFO with an evtest
    header in `<node>.info`, as the tests and the demo build them) from their header."""

    def probe(self, path: str) -> DeviceInfo | None:
        from kioskd.input.devices import EvdevOpener, EvtestOpener

        if not stat.S_ISCHR(os.stat(path).st_mode) and os.path.exists(path + ".info"):
            return EvtestOpener().probe(path)
        return EvdevOpener().probe(path)

    def open(self, path: str) -> InputNode:
        from kioskd.input.devices import EvdevOpener, EvtestOpener

        if not stat.S_ISCHR(os.stat(path).st_mode) and os.path.exists(path + ".info"):
            return EvtestOpener().open(path)
        return EvdevOpener().open(path)


def probe_input_nodes(
    base_dir: str | os.PathLike[str], opener: NodeOpener | None = None
) -> list[InputNodeRow]:
    """Every `eventN` node of `base_dir` with its ids and by-id links (or why it can't be read)."""
    from kioskd.input.devices import event_nodes, stable_links

    opener = opener or AutoOpener()
    links = stable_links(base_dir)
    rows = []
    for path in event_nodes(base_dir):
        by_id = links.get(os.path.realpath(path), ())
        try:
            info = opener.probe(path)
        except OSError as exc:
            rows.append(InputNodeRow(path, by_id=by_id, error=exc.strerror or str(exc)))
            continue
        if info is None:
            continue
        rows.append(
            InputNodeRow(
                path, info.name, info.vendor, info.product, info.serial or "", by_id, keys=info.keys
            )
        )
    return rows


def watch_rhythms(
    rows: Sequence[InputNodeRow], seconds: float, opener: NodeOpener | None = None
) -> dict[str, Rhythm]:
    """Watch the key devices whose role their ids and keys leave open for `seconds`; return
    path -> `Rhythm` (nothing to watch, or 0 s: empty)."""
    from kioskd.input.devices import watch_events
    from kioskd.input.roles import Rhythm, classify

    unsure = [r.path for r in rows if not r.error and not classify(r.info()).sure]
    if seconds <= 0 or not unsure:
        return {}
    events = watch_events(unsure, opener or AutoOpener(), seconds)
    return {path: Rhythm.of(evs) for path, evs in events.items()}


def observe_usb(sys_dir: str | os.PathLike[str] = "/sys") -> list[tuple[int, int, str]]:
    """(vendor, product, product name) of every USB device sysfs lists."""
    found = []
    for dev in sorted(Path(sys_dir, "bus", "usb", "devices").glob("*")):
        try:
            vendor = int((dev / "idVendor").read_text().strip(), 16)
            product = int((dev / "idProduct").read_text().strip(), 16)
        except (OSError, ValueError):
            continue
        try:
            name = (dev / "product").read_text().strip()
        except OSError:
            name = ""
        found.append((vendor, product, name))
    return found


def judge_roles(
    rows: Sequence[InputNodeRow],
    rhythms: Mapping[str, Rhythm] | None = None,
    usb: Sequence[tuple[int, int, str]] = (),
) -> list[Finding]:
    """Which node is the scanner and which the keypad (by keys, name, vendor id and rhythm),
    with the config lines to use; scanners left in HID-POS mode, with what to change."""
    from kioskd.input.roles import HIDPOS_HINT, SCANNER_VENDORS, classify, config_value

    findings: list[Finding] = []
    found: dict[str, list[tuple[InputNodeRow, Verdict]]] = {"scanner": [], "keypad": []}
    for row in rows:
        if row.error:
            continue
        verdict = classify(row.info(), (rhythms or {}).get(row.path))
        why = "; ".join(verdict.reasons)
        if verdict.role == "hidpos":
            findings.append(
                Finding(
                    "scanner",
                    WARN,
                    f"{row.path} {row.vendor_product} {row.name!r} is a scanner in HID-POS mode "
                    f"({why})",
                    HIDPOS_HINT,
                )
            )
        elif verdict.role in found:
            found[verdict.role].append((row, verdict))
    node_vendors = {r.vendor for r in rows if not r.error}
    for vendor, product, name in usb:
        maker = SCANNER_VENDORS.get(vendor)
        if maker and vendor not in node_vendors:
            findings.append(
                Finding(
                    "scanner",
                    WARN,
                    f"USB {vendor:04x}:{product:04x} {name!r} ({maker}) is plugged in but has no "
                    "input node: a scanner in HID-POS mode",
                    HIDPOS_HINT,
                )
            )
    for role, hits in found.items():
        for row, verdict in hits:
            same = sum(1 for r in rows if r.vendor_product == row.vendor_product)
            line = f'{role}.device = "{config_value(row.info(), same)}"'
            certainty = "" if verdict.sure else "probably "
            findings.append(
                Finding(
                    "roles",
                    OK,
                    f"{row.path} {row.name!r} is {certainty}the {role} "
                    f"({'; '.join(verdict.reasons)}): {line}",
                    data={"role": role, "path": row.path, "config": line, "sure": verdict.sure},
                )
            )
    return findings


def _replay_finding(role: str, key: str, path: str) -> Finding:
    try:
        st = os.stat(path)
    except OSError as exc:
        return Finding(
            role,
            FAIL,
            f"replay source {path}: {exc.strerror}",
            f"create the file or FIFO, or set {key} to the real device",
        )
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        return Finding(
            role,
            FAIL,
            f"replay source {path} is not a file or FIFO",
            f"point {key} at a file or FIFO of evtest text",
        )
    if not os.access(path, os.R_OK):
        return Finding(
            role,
            FAIL,
            f"replay source {path} is not readable by this user",
            "fix its permissions (the kioskd user must read it)",
        )
    kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "file"
    return Finding(role, OK, f"replay source {path} ({kind}, readable)")


def judge_input(
    rows: Sequence[InputNodeRow],
    roles: Mapping[str, str] | None,
    base_dir: str = "/dev/input",
) -> list[Finding]:
    """One OK line per node (with the roles it matches), then one verdict per configured role.

    `roles` maps a role to its device setting ({'scanner': '05e0:1200'}); None when the config
    did not load (nodes are still listed). The replay check stats a path (the only I/O here).
    """
    from kioskd.input.devices import DeviceInfo, Selector
    from kioskd.input.roles import choose

    selectors: dict[str, Selector] = {}
    findings: list[Finding] = []
    for role, text in (roles or {}).items():
        if text and not text.startswith("replay:"):
            try:
                selectors[role] = Selector.parse(text)
            except ValueError as exc:
                findings.append(Finding(role, FAIL, str(exc), f"fix {role}.device"))
    auto = {
        role: {info.path for info in choose(role, [r.info() for r in rows if not r.error])}
        for role, sel in selectors.items()
        if sel.kind == "auto"
    }

    matched: dict[str, list[InputNodeRow]] = {role: [] for role in selectors}
    listing: list[Finding] = []
    unreadable = [r for r in rows if r.error]
    for row in rows:
        if row.error:
            listing.append(
                Finding(
                    "input",
                    WARN,
                    f"{row.path}: cannot read ({row.error})",
                    "run doctor as root or as the kioskd user (group input) to see this device",
                    {"path": row.path, "by_id": list(row.by_id), "error": row.error},
                )
            )
            continue
        info = DeviceInfo(row.path, row.name, row.vendor, row.product, row.serial, row.by_id)
        roles_hit = [
            role
            for role, sel in selectors.items()
            if (row.path in auto[role] if role in auto else sel.matches(info))
        ]
        for role in roles_hit:
            matched[role].append(row)
        by_id = ", ".join(row.by_id) if row.by_id else "no by-id link"
        role_text = f" -> {', '.join(roles_hit)}" if roles_hit else " (no role)"
        listing.append(
            Finding(
                "input",
                OK,
                f"{row.path} {row.vendor_product} {row.name!r} [{by_id}]{role_text}",
                data={
                    "path": row.path,
                    "name": row.name,
                    "vendor_product": row.vendor_product,
                    "serial": row.serial,
                    "by_id": list(row.by_id),
                    "roles": roles_hit,
                },
            )
        )
    if not rows:
        listing.append(
            Finding(
                "input",
                WARN,
                f"no input devices in {base_dir}",
                "plug the scanner and keypad in (a powered hub helps on a Pi Zero)",
            )
        )

    for role, text in (roles or {}).items():
        key = f"{role}.device"
        if text == "":
            findings.append(Finding(role, OK, f"not used ({key} is empty)"))
            continue
        if text.startswith("replay:"):
            findings.append(_replay_finding(role, key, text[len("replay:") :]))
            continue
        if role not in selectors:
            continue  # already reported as unparsable
        hits = matched[role]
        if not hits:
            hint = (
                f"plug the {role} in, or run `kioskd doctor` to list devices and set {key} "
                "(a by-id path, vendor:product or name:PATTERN)"
            )
            if text.startswith("/dev/kiosk/"):
                hint += "; /dev/kiosk/* links come from hardware/ udev rules: install them"
            if text == "auto":
                hint = (
                    f"auto takes a device from a scanner maker or named so (scanner), one with "
                    f"keypad keys and no letters (keypad), or the only full keyboard (scanner); "
                    f"set {key} to the line doctor prints under roles"
                )
            if unreadable:
                hint += f"; {len(unreadable)} node(s) could not be read: run doctor as root"
            findings.append(Finding(role, FAIL, f"no device matches {text}", hint))
        elif len(hits) > 1:
            findings.append(
                Finding(
                    role,
                    WARN,
                    f"{text} matches {len(hits)} devices: {', '.join(r.path for r in hits)}",
                    f"make {key} name one device: use its by-id path or vendor:product:serial",
                )
            )
        else:
            (hit,) = hits
            findings.append(
                Finding(role, OK, f"{text} -> {hit.path} {hit.vendor_product} {hit.name!r}")
            )
    # One node serving two roles is a wiring mistake (keypad keys would be read as scans).
    for a, b in (("scanner", "keypad"),):
        shared = {r.path for r in matched.get(a, [])} & {r.path for r in matched.get(b, [])}
        if shared:
            findings.append(
                Finding(
                    "input",
                    WARN,
                    f"{', '.join(sorted(shared))} matches both {a}.device and {b}.device",
                    f"set {a}.device and {b}.device to different devices",
                )
            )
    return listing + findings


# ================================================================================ printer


def judge_printer(uri: str, status: PrinterStatus) -> Finding:
    """Verdict on a `PrinterStatus`: a known fault FAILs, anything unknown stays a WARN."""
    check = "printer"
    data = status.to_json()
    if not status.connected:
        return Finding(
            check,
            FAIL,
            f"cannot reach printer {uri}",
            "check power and cable (tcp: address and port; usb: `lsusb`), then "
            f"`kioskd printer-status --printer {uri}` (a running kioskd may hold a usb or "
            "serial printer: then `kioskctl status` shows its view)",
            data,
        )
    faults = []
    if status.paper == "out":
        faults.append(("paper out", "load a paper roll"))
    if status.cover == "open":
        faults.append(("cover open", "close the printer cover"))
    if status.error not in ("none", "unknown"):
        faults.append(
            (f"printer error ({status.error})", "clear the jam or switch the printer off and on")
        )
    if status.online is False and not faults:
        faults.append(("printer offline", "press the printer's online/feed button or reset it"))
    if faults:
        return Finding(
            check,
            FAIL,
            f"{uri}: " + ", ".join(f for f, _ in faults),
            "; ".join(h for _, h in faults),
            data,
        )
    if not status.answered:
        return Finding(
            check,
            WARN,
            f"{uri}: connected, but it gives no status (paper, cover, error unknown)",
            "normal for a write-only file: printer; otherwise check the printer answers "
            "DLE EOT (for file: add ?read=1)",
            data,
        )
    unknown = [
        name
        for name, value in (
            ("online", status.online),
            ("paper", status.paper),
            ("cover", status.cover),
            ("error", status.error),
        )
        if value is None or value == "unknown"
    ]
    if unknown:
        return Finding(
            check,
            WARN,
            f"{uri}: status partly unknown ({', '.join(unknown)})",
            "the printer did not answer every status query; look at it before the shift",
            data,
        )
    if status.paper == "near_end":
        return Finding(
            check, WARN, f"{uri}: paper near end", "put a new roll in before the shift", data
        )
    return Finding(check, OK, f"{uri}: online, paper ok, cover closed, no error", data=data)


def judge_printer_profile(name: str, paper_mm: int) -> Finding:
    """The code page `printer.profile` gives, and what the profile says does not fit."""
    from kioskd.printer.profiles import load_profile

    check = "printer profile"
    try:
        profile = load_profile(name)
    except ValueError as exc:
        return Finding(check, FAIL, str(exc), "fix printer.profile (kioskd print-test --list)")
    data = {"profile": profile.name, "codepage": profile.codepage.name}
    problems = list(profile.mismatches(paper_mm))
    if profile.codepage.missing:
        problems.append(f"its code page cannot print {profile.codepage.missing}")
    if problems:
        return Finding(
            check,
            WARN,
            f"{profile.describe()}: " + "; ".join(problems),
            "print `kioskd print-test --profile NAME` with this and close profiles and keep "
            "the one whose accents print right (hardware/PRINTERS.md)",
            data,
        )
    return Finding(check, OK, profile.describe(), data=data)


def observe_printer(uri: str, timeout_s: float = PRINTER_TIMEOUT_S) -> Finding:
    """Ask the printer once (DLE EOT); a `file:` path that does not exist is not created."""
    from kioskd.printer import parse_uri, status_once

    try:
        parsed = parse_uri(uri)
    except ValueError as exc:
        return Finding("printer", FAIL, str(exc), "fix printer.uri")
    if parsed.scheme in ("file", "serial") and not os.path.exists(parsed.target):
        return Finding(
            "printer",
            FAIL,
            f"cannot reach printer {uri}: {parsed.target} does not exist",
            "plug the printer in and switch it on; /dev/kiosk/printer comes from the "
            "hardware/ udev rules",
        )
    status = status_once(uri, timeout_s=timeout_s, reply_timeout_s=PRINTER_REPLY_TIMEOUT_S)
    return judge_printer(uri, status)


# ================================================================================ API and clock


def judge_clock(server_unix: float, local_unix: float) -> Finding:
    """Skew between this machine and the server: beyond the daemon's threshold, WARN."""
    skew = local_unix - server_unix
    direction = "ahead of" if skew > 0 else "behind"
    detail = f"local clock is {abs(skew):.1f} s {direction} the server (/gaming/time)"
    data = {"skew_s": round(skew, 3)}
    hint = (
        "check time sync: `timedatectl status` (NTP active?), `systemctl restart "
        "systemd-timesyncd`; money does not depend on it (kioskd uses the server's time), "
        "the logs' timestamps do"
    )
    if abs(skew) > CLOCK_WARN_S:
        return Finding("clock", WARN, detail, hint, data)
    return Finding("clock", OK, detail, data=data)


def judge_api_error(base_url: str, exc: BaseException, step: str) -> Finding:
    """The verdict for a failed login or time call (texts never carry the password)."""
    from kioskd.banklot.errors import AuthFailed, InDoubt, NotSent, Rejected

    if isinstance(exc, NotSent) and " TLS " in f" {exc.message} ":
        tls = exc.message.split("TLS ", 1)[1]
        return Finding(
            "api",
            FAIL,
            f"TLS failure at {base_url}: {tls}",
            "the network works but the server's certificate is refused: an expired or "
            "not-yet-valid one (check the clock), a name that does not match api.base_url, or "
            "an issuer this kiosk does not trust (api.ca_bundle)",
        )
    if isinstance(exc, NotSent):
        return Finding(
            "api",
            FAIL,
            f"cannot reach {base_url} ({exc.message})",
            "check the network (`ip route`, DNS), api.base_url, and that the firewall allows "
            "HTTPS out",
        )
    if isinstance(exc, AuthFailed):
        return Finding(
            "api",
            FAIL,
            f"login refused at {base_url}",
            "check api.email and the password (api.password_file or the systemd credential) "
            "with Grupo Banklot",
        )
    if isinstance(exc, InDoubt):
        return Finding(
            "api",
            FAIL,
            f"{base_url} did not answer {step} properly ({type(exc).__name__}: {exc.message})",
            "the server or a proxy is failing; try again later or check api.base_url",
        )
    if isinstance(exc, Rejected):
        return Finding("api", FAIL, f"{step} refused: {exc.message}", "ask Grupo Banklot")
    return Finding("api", FAIL, f"{step} failed: {type(exc).__name__}", "see the daemon log")


async def observe_api(
    cfg: Config,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], float] = time.time,
) -> list[Finding]:
    """Log in (short timeouts) and read `/gaming/time`: the `api` and `clock` findings."""
    from kioskd.banklot.client import BanklotClient
    from kioskd.banklot.errors import BanklotError
    from kioskd.config import PasswordUnavailable

    api = cfg.api
    skipped_clock = Finding(
        "clock", WARN, "not checked: the API could not be used", "fix the api finding first"
    )
    try:
        password = api.read_password(environ)
    except PasswordUnavailable as exc:
        return [
            Finding(
                "api",
                FAIL,
                str(exc),
                "run doctor as root or as the kioskd user, so the password file is readable",
            ),
            skipped_clock,
        ]
    client = BanklotClient(
        api.base_url,
        api.email,
        password,
        transport=transport,
        connect_timeout=min(api.connect_timeout_s, API_CONNECT_TIMEOUT_S),
        read_timeout=min(api.read_timeout_s, API_READ_TIMEOUT_S),
        verify=api.verify_tls,
        ca_bundle=api.ca_bundle,
    )
    async with client:
        step = "login"
        try:
            started = time.monotonic()
            await client.login()
            login_ms = (time.monotonic() - started) * 1000
            step = "/gaming/time"
            before = now()
            server = await client.time()
            after = now()
        except BanklotError as exc:
            return [judge_api_error(api.base_url, exc, step), skipped_clock]
        finally:
            if client.logged_in:
                with contextlib.suppress(BanklotError):
                    await client.logout()
    ok = Finding(
        "api",
        OK,
        f"{api.base_url}: login ok as {api.email} ({login_ms:.0f} ms)",
        data={"login_ms": round(login_ms)},
    )
    return [ok, judge_clock(server.unix, (before + after) / 2)]


# ================================================================================ disk


def judge_disk(where: str, total: int, free: int) -> Finding:
    """Free space where the journal lives: < 200 MiB WARN, < 20 MiB FAIL."""
    pct = 100.0 * free / total if total else 0.0
    detail = f"{_mib(free)} free of {_mib(total)} ({pct:.0f}%) at {where}"
    data = {"path": where, "free_bytes": free, "total_bytes": total, "free_pct": round(pct, 1)}
    hint = (
        "free space: `journalctl --vacuum-size=50M`, `apt clean`, remove old files; the "
        "journal stops taking money operations when the disk is full"
    )
    if free < DISK_FAIL_BYTES:
        return Finding("disk", FAIL, detail, hint, data)
    if free < DISK_WARN_BYTES:
        return Finding("disk", WARN, detail, hint, data)
    return Finding("disk", OK, detail, data=data)


def observe_disk(journal_path: str) -> Finding:
    """Disk usage of the nearest existing directory that holds (or will hold) the journal."""
    where = Path(journal_path).parent
    while not where.exists() and where != where.parent:
        where = where.parent
    usage = shutil.disk_usage(where)
    return judge_disk(str(where), usage.total, usage.free)


# ================================================================================ metrics


@dataclass(frozen=True)
class MetricsFacts:
    """What is on disk for the Prometheus textfile (`metrics.textfile_dir`)."""

    folder: str
    folder_exists: bool
    file_age_s: float | None = None  # None: no kioskd.prom
    file_mode: int | None = None


def observe_metrics(folder: str, now: float | None = None) -> MetricsFacts:
    if not folder:
        return MetricsFacts("", False)
    if not os.path.isdir(folder):
        return MetricsFacts(folder, False)
    try:
        st = os.stat(os.path.join(folder, "kioskd.prom"))
    except OSError:
        return MetricsFacts(folder, True)
    now = time.time() if now is None else now
    return MetricsFacts(folder, True, max(0.0, now - st.st_mtime), stat.S_IMODE(st.st_mode))


def judge_metrics(facts: MetricsFacts, interval_s: float, max_age_s: float = 60.0) -> Finding:
    """The textfile node-exporter serves: folder there, file fresh and readable by others.
    An unchanged file is rewritten once `max_age_s` old (`metrics.textfile_max_age_s`), at the
    next reading: it is stale only past that and two readings."""
    if not facts.folder:
        return Finding("metrics", OK, "off (metrics.textfile_dir is empty)")
    path = os.path.join(facts.folder, "kioskd.prom")
    if not facts.folder_exists:
        return Finding(
            "metrics",
            WARN,
            f"{facts.folder} does not exist: no metrics for the fleet's Prometheus",
            "the package makes /run/kioskd-metrics at boot (`systemd-tmpfiles --create "
            "kioskd.conf` makes it now); another folder must exist (node-exporter's: `apt "
            'install prometheus-node-exporter`); or set metrics.textfile_dir = "" to turn '
            "metrics off",
        )
    if facts.file_age_s is None:
        return Finding(
            "metrics",
            WARN,
            f"no {path} yet",
            "kioskd writes it every metrics.interval_s while it runs: is kioskd running? "
            "(`systemctl status kioskd`); the folder needs kioskd's ACL "
            "(`systemd-tmpfiles --create kioskd.conf`)",
        )
    stale_after = max(60.0, 3 * interval_s, max_age_s + 2 * interval_s)
    if facts.file_age_s > stale_after:
        return Finding(
            "metrics",
            WARN,
            f"{path} not rewritten for {facts.file_age_s:.0f} s (the fleet sees it as not "
            "reporting)",
            "is kioskd running? `systemctl status kioskd`, `journalctl -u kioskd -b`",
            {"age_s": round(facts.file_age_s, 1)},
        )
    if facts.file_mode is not None and not facts.file_mode & stat.S_IROTH:
        return Finding(
            "metrics",
            WARN,
            f"{path} is mode {facts.file_mode:04o}: node-exporter cannot read it",
            "kioskd writes it 0644; a file left by another tool: remove it",
        )
    return Finding(
        "metrics",
        OK,
        f"{path} written {facts.file_age_s:.0f} s ago",
        data={"age_s": round(facts.file_age_s, 1)},
    )


# ================================================================================ journal


@dataclass(frozen=True)
class JournalFacts:
    """What a read-only look at the journal file found."""

    path: str
    exists: bool
    dir_writable: bool = True
    writable: bool = True
    open_error: str = ""
    quick_check: str = ""
    schema_version: int = 0
    latest_version: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)
    unprinted: int = 0
    alarms: int = 0


def observe_journal(path: str) -> JournalFacts:
    """Open the journal read-only (never create or migrate it) and collect its facts."""
    from kioskd.journal import schema, states

    parent = os.path.dirname(path) or "."
    dir_writable = os.access(parent, os.W_OK | os.X_OK) if os.path.isdir(parent) else False
    if not os.path.exists(path):
        return JournalFacts(path, False, dir_writable=dir_writable, writable=False)
    writable = os.access(path, os.W_OK)
    # A read-only connection to a WAL database creates `-wal` and `-shm` files when they are
    # missing and leaves them behind; made by root, they would lock the daemon's user out.
    # Missing sidecars mean the file is complete and closed, so read it as immutable then.
    sidecars = os.path.exists(path + "-wal") and os.path.exists(path + "-shm")
    uri = f"file:{urllib.parse.quote(path)}?mode=ro" + ("" if sidecars else "&immutable=1")
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=1.0)
    except sqlite3.Error as exc:
        return JournalFacts(path, True, dir_writable, writable, open_error=str(exc))
    try:
        check = str(conn.execute("PRAGMA quick_check").fetchone()[0])
        version = schema.version(conn)
        counts: dict[str, int] = {s: 0 for s in states.STATES}
        unprinted = alarms = 0
        if check == "ok" and version >= 1:
            counts.update(
                {
                    s: int(n)
                    for s, n in conn.execute(
                        "SELECT state, COUNT(*) FROM operations GROUP BY state"
                    )
                }
            )
            unprinted = int(
                conn.execute("SELECT COUNT(*) FROM print_jobs WHERE printed_at IS NULL").fetchone()[
                    0
                ]
            )
            alarms = int(
                conn.execute("SELECT COUNT(*) FROM history WHERE kind = 'alarm'").fetchone()[0]
            )
    except sqlite3.Error as exc:
        return JournalFacts(path, True, dir_writable, writable, open_error=str(exc))
    finally:
        conn.close()
    return JournalFacts(
        path,
        True,
        dir_writable,
        writable,
        quick_check=check,
        schema_version=version,
        latest_version=schema.LATEST,
        counts=counts,
        unprinted=unprinted,
        alarms=alarms,
    )


def judge_journal(facts: JournalFacts) -> Finding:
    """Attention (unusable journal) FAILs; in-doubt, conflicts, alarms and unprinted jobs WARN."""
    from kioskd.journal import states

    path = facts.path
    if not facts.exists:
        if not facts.dir_writable:
            return Finding(
                "journal",
                WARN,
                f"{path} does not exist yet (will be created at first start); its directory is "
                "missing or not writable by this user",
                "under systemd, StateDirectory=kioskd creates it; otherwise create the directory "
                "for the kioskd user",
            )
        return Finding("journal", OK, f"{path} does not exist yet: will be created at first start")
    if facts.open_error:
        return Finding(
            "journal",
            FAIL,
            f"{path} cannot be read: {facts.open_error}",
            "the daemon will refuse money operations (attention); check permissions and the "
            "disk, keep a copy of the file and call support before deleting anything",
        )
    if facts.quick_check != "ok":
        return Finding(
            "journal",
            FAIL,
            f"{path} failed quick_check: {facts.quick_check[:200]}",
            "the journal is damaged: stop kioskd, keep a copy of the file and call support "
            "(unfinished operations may be in it)",
        )
    if facts.schema_version > facts.latest_version:
        return Finding(
            "journal",
            FAIL,
            f"{path} has schema version {facts.schema_version}, newer than this kioskd "
            f"({facts.latest_version})",
            "install the kioskd version that wrote it; never downgrade with a live journal",
        )
    if not facts.writable or not facts.dir_writable:
        return Finding(
            "journal",
            FAIL,
            f"{path} (or its directory) is not writable by this user",
            "the daemon needs write access (attention otherwise): fix owner/permissions for "
            "the kioskd user, or run doctor as that user",
        )
    counts = {k: v for k, v in facts.counts.items() if v}
    count_text = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no operations"
    detail = f"{path}: quick_check ok, schema v{facts.schema_version}; {count_text}"
    data = {
        "counts": dict(facts.counts),
        "schema_version": facts.schema_version,
        "unprinted": facts.unprinted,
        "alarms": facts.alarms,
    }
    doubtful = sum(facts.counts.get(s, 0) for s in states.DOUBTFUL | {states.SENDING})
    conflicts = facts.counts.get("conflict", 0)
    concerns, hints = [], []
    if doubtful:
        concerns.append(f"{doubtful} in doubt")
        hints.append("the daemon reconciles in-doubt operations by itself; watch `kioskctl queue`")
    if conflicts:
        concerns.append(f"{conflicts} in conflict")
        hints.append(
            "conflicts need a person: `kioskctl queue`, then `kioskctl resolve ID --as "
            "applied|not-applied --reason ...`"
        )
    if facts.alarms:
        concerns.append(f"{facts.alarms} alarm(s)")
        hints.append("another terminal may share this account: check with Grupo Banklot")
    if facts.unprinted:
        concerns.append(f"{facts.unprinted} print job(s) not printed yet")
        hints.append("they print (as reprints) when the daemon runs with a working printer")
    if facts.schema_version < facts.latest_version:
        concerns.append(f"schema v{facts.schema_version} will be migrated at next start")
    if concerns:
        return Finding("journal", WARN, detail + "; " + ", ".join(concerns), "; ".join(hints), data)
    return Finding("journal", OK, detail, data=data)


# ================================================================================ running it all


def _in_daemon_thread(fn: Callable[..., T], *args: Any) -> Awaitable[T]:
    """Run a blocking call in a daemon thread: a wedged device cannot hold the process at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T) -> None:
        if not future.done():
            future.set_result(result)

    def fail(exc: BaseException) -> None:
        if not future.done():
            future.set_exception(exc)

    def work() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(fail, exc)
        else:
            loop.call_soon_threadsafe(settle, result)

    threading.Thread(target=work, name=f"doctor:{fn.__name__}", daemon=True).start()
    return future


async def _guarded(
    name: str, make: Callable[[], Awaitable[list[Finding]]], timeout_s: float
) -> list[Finding]:
    """Run one check under its timeout; a timeout or crash becomes a FAIL, never a hang."""
    try:
        return await asyncio.wait_for(make(), timeout_s)
    except TimeoutError:
        return [
            Finding(
                name,
                FAIL,
                f"no answer within {timeout_s:g} s",
                "the part hangs: check it (power, cable, network) and run doctor again",
            )
        ]
    except Exception as exc:  # a bug or an odd OS error must not hide the other checks
        return [Finding(name, FAIL, f"check crashed: {type(exc).__name__}: {exc}", "report it")]


def _scrub(findings: list[Finding], secrets: Sequence[str]) -> list[Finding]:
    secrets = [s for s in secrets if s]
    if not secrets:
        return findings
    from kioskd.daemon.logs import Redactor

    redactor = Redactor()  # the log's rules: values masked, not every word that matches
    for secret in secrets:
        redactor.add(secret, permanent=True)
    return [
        dataclasses.replace(f, detail=redactor.redact(f.detail), hint=redactor.redact(f.hint))
        for f in findings
    ]


# ================================================================================ the daemon


def observe_daemon(socket_path: str, timeout_s: float = 3.0) -> dict[str, Any] | str:
    """The running daemon's own `status`, or why it could not be asked."""
    from kioskd.daemon.control import AccessDenied, ControlError, DaemonNotRunning, call

    try:
        status = call(socket_path, "status", timeout=timeout_s)
    except DaemonNotRunning:
        return "not running"
    except (AccessDenied, ControlError) as exc:
        return str(exc)
    return status if isinstance(status, dict) else "unexpected status answer"


def judge_daemon(seen: dict[str, Any] | str) -> list[Finding]:
    """What the running daemon says about itself: a journal it cannot write FAILs; keys a
    reload could not apply WARN."""
    if isinstance(seen, str):
        if seen == "not running":
            return [Finding("daemon", OK, "kioskd is not running: only the files were checked")]
        return [Finding("daemon", WARN, f"cannot ask the running kioskd: {seen}",
                        "run doctor as root or a member of group kioskd")]  # fmt: skip
    out = []
    journal = str(seen.get("journal", "ok"))
    if journal != "ok":
        out.append(
            Finding(
                "daemon",
                FAIL,
                f"the running kioskd cannot use its journal: {journal}",
                "money operations are refused meanwhile: free disk space (`df`), stop the "
                "program holding the journal (`fuser -v` on the file), check its -wal/-shm "
                "files; the daemon retries and resumes by itself",
            )
        )
    restart = seen.get("needs_restart") or []
    if restart:
        out.append(
            Finding(
                "daemon",
                WARN,
                f"config changes waiting for a restart: {', '.join(map(str, restart))}",
                "`systemctl restart kioskd` outside shift hours applies them",
            )
        )
    return out or [Finding("daemon", OK, f"kioskd running, state {seen.get('state', '?')}")]


async def run_checks(
    config_path: str | os.PathLike[str],
    *,
    input_dir: str | os.PathLike[str] = "/dev/input",
    opener: NodeOpener | None = None,
    api_transport: httpx.AsyncBaseTransport | None = None,
    environ: Mapping[str, str] | None = None,
    timeout_s: float = CHECK_TIMEOUT_S,
    watch_s: float = 0.0,
    sys_dir: str | os.PathLike[str] = "/sys",
) -> list[Finding]:
    """Every check, in a fixed order: config, input (and roles: nodes whose role is unclear
    are watched `watch_s` seconds), printer, api, clock, disk, journal, daemon, metrics."""
    cfg, findings = check_config(config_path)
    input_dir = os.fspath(input_dir)
    roles = None if cfg is None else {"scanner": cfg.scanner.device, "keypad": cfg.keypad.device}

    async def inputs() -> list[Finding]:
        rows = await _in_daemon_thread(probe_input_nodes, input_dir, opener)
        rhythms = await _in_daemon_thread(watch_rhythms, rows, watch_s, opener)
        usb = await _in_daemon_thread(observe_usb, sys_dir)
        return judge_input(rows, roles, input_dir) + judge_roles(rows, rhythms, usb)

    tasks: list[tuple[str, Callable[[], Awaitable[list[Finding]]]]] = [("input", inputs)]
    if cfg is None:
        skipped = [
            Finding(name, WARN, "not checked: the config did not load", "fix the config first")
            for name in ("printer", "api", "clock", "disk", "journal")
        ]
    else:
        skipped = []

        async def printer() -> list[Finding]:
            timeout = min(cfg.printer.timeout_s, PRINTER_TIMEOUT_S)
            return [
                await _in_daemon_thread(observe_printer, cfg.printer.uri, timeout),
                judge_printer_profile(cfg.printer.profile, cfg.printer.paper_mm),
            ]

        async def api() -> list[Finding]:
            return await observe_api(cfg, transport=api_transport, environ=environ)

        async def disk() -> list[Finding]:
            return [await _in_daemon_thread(observe_disk, cfg.journal.path)]

        async def journal() -> list[Finding]:
            return [judge_journal(await _in_daemon_thread(observe_journal, cfg.journal.path))]

        async def daemon() -> list[Finding]:
            return judge_daemon(await _in_daemon_thread(observe_daemon, cfg.control.socket))

        async def metrics() -> list[Finding]:
            facts = await _in_daemon_thread(observe_metrics, cfg.metrics.textfile_dir)
            return [
                judge_metrics(facts, cfg.metrics.interval_s, cfg.metrics.textfile_max_age_s)
            ]

        from kioskd.config import security_warnings

        findings.extend(
            Finding("security", WARN, text, "see config/kioskd.toml for the safe setting")
            for text in security_warnings(cfg, config_path)
        )
        tasks += [("printer", printer), ("api", api), ("disk", disk), ("journal", journal)]
        tasks.append(("daemon", daemon))
        tasks.append(("metrics", metrics))

    results = await asyncio.gather(*(_guarded(name, make, timeout_s) for name, make in tasks))
    for result in results:
        findings.extend(result)
    findings.extend(skipped)
    secrets: list[str] = []
    if cfg is not None:
        with contextlib.suppress(Exception):
            secrets.append(cfg.api.read_password(environ))
    return _scrub(findings, secrets)


def format_text(findings: Sequence[Finding]) -> str:
    """The human report: one line per finding, the hint indented under it."""
    lines = []
    for f in findings:
        lines.append(f"{f.status:<4}  {f.check:<8} {f.detail}")
        if f.hint and f.status != OK:
            lines.append(f"      {'':<8} -> {f.hint}")
    counts = {s: sum(1 for f in findings if f.status == s) for s in (OK, WARN, FAIL)}
    lines.append(f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s)")
    return "\n".join(lines)
