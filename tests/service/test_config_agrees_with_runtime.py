"""`kioskd check-config` and the daemon accept exactly the same forms: one table, good and bad,
checked through the config loader (with file, line and key) and through the runtime's parts."""

from __future__ import annotations

from pathlib import Path

import pytest

from kioskd import config as c
from kioskd.input.reader import InputSource, SourceConfig
from kioskd.printer.transport import make_transport
from tests.service.conftest import MINIMAL, write

DEVICES = {
    # good
    "": True,
    "auto": True,
    "/dev/kiosk/scanner": True,
    "/dev/input/by-id/usb-Honeywell_Imaging-event-kbd": True,
    "05e0:1200": True,
    "05E0:1200:ABC123": True,
    "name:*Barcode*": True,
    "replay:/run/kioskd/scanner.fifo": True,
    # bad
    "/dev/input/event3": False,  # eventN changes between boots
    "event3": False,
    "dev/kiosk/scanner": False,  # relative
    "replay:scanner.fifo": False,  # relative: would resolve against the working directory
    "replay:": False,
    "name:": False,
    "05e0": False,
    "5e0:1200": False,
    "scanner": False,
}
PRINTERS = {
    "file:///dev/kiosk/printer": True,
    "file:///dev/usb/lp0?read=1": True,
    "serial:///dev/ttyUSB0?baudrate=19200": True,
    "tcp://10.0.0.5:9100": True,
    "tcp://printer.local:9100": True,
    "usb://04b8:0e15": True,
    "usb://04b8:0e15?serial=X1": True,
    "file:relative/printer": False,
    "file://dev/usb/lp0": False,  # "dev" is a host here, the path is relative to it
    "serial:ttyUSB0": False,
    "tcp://10.0.0.5": False,
    "usb://04b8": False,
    "lpt1": False,
    "http://printer/": False,
}


def check_config_accepts(tmp_path: Path, section: str, line: str, extra: str = "") -> bool:
    table = "" if section == "api" else f"[{section}]\n"  # MINIMAL ends inside [api]
    path = write(tmp_path / "kioskd.toml", MINIMAL + f"{table}{line}\n{extra}")
    errors = c.check(path)
    assert all(e.line is not None and e.key for e in errors), errors  # file, line and key
    return not errors


def runtime_accepts_device(text: str) -> bool:
    if text == "":
        return True  # the role is not used: the daemon starts no reader
    try:
        InputSource(SourceConfig(device=text))
    except ValueError:
        return False
    return True


def runtime_accepts_printer(uri: str) -> bool:
    try:
        make_transport(uri, 1.0)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("text", "good"), DEVICES.items())
def test_device_strings(tmp_path: Path, text: str, good: bool) -> None:
    for role, other in (("scanner", "keypad"), ("keypad", "scanner")):
        unused = f'[{other}]\ndevice = ""\n'  # not the same device as the role tested
        assert check_config_accepts(tmp_path, role, f'device = "{text}"', unused) is good
    assert runtime_accepts_device(text) is good


@pytest.mark.parametrize(("uri", "good"), PRINTERS.items())
def test_printer_uris(tmp_path: Path, uri: str, good: bool) -> None:
    assert check_config_accepts(tmp_path, "printer", f'uri = "{uri}"') is good
    assert runtime_accepts_printer(uri) is good


def runtime_builds(path: Path) -> None:
    """What `kioskd run` builds from the config at start (readers, keymap, session)."""
    from kioskd.counter.session import CounterSession

    cfg = c.load_config(path)
    for source in c.input_sources(cfg):
        InputSource(source)
    CounterSession(c.session_keymap(cfg), c.session_settings(cfg, cfg.terminal.id or "k"))


VALUES = [
    # (section, line, accepted)
    ("scanner", 'layout = "latam"', True),
    ("scanner", 'layout = "us(intl)"', True),
    ("scanner", 'layout = "zz"', False),  # well-formed, but no such layout: compiled, refused
    ("keypad", 'layout = "qq(nope)"', False),
    ("offline", "pay_max_age_s = nan", False),
    ("catalog", "refresh_s = nan", False),
    ("api", "read_timeout_s = inf", False),
    ("printer", "timeout_s = 1e9", False),
    ("api", "connect_timeout_s = 2.5", True),
    ("input", "idle_reset_s = 0", True),  # "never": the session must accept it too
    ("terminal", 'id = "kiosk-07"', True),
    ("terminal", f'id = "{"x" * 100_000}"', False),
    ("terminal", 'id = "a\\nb"', False),
    ("journal", 'path = "journal.sqlite3"', False),
    ("scanner", r"pattern = '^(?P<ticket>\d{8})(?P<pin>\d{8})$'", True),
    ("scanner", r"pattern = '^(?P<ticket>(\d+)+)(?P<pin>\d{8})$'", False),  # froze the loop
    ("scanner", r"pattern = '^(?P<ticket>(?:\d|\d\d)*)(?P<pin>\d{8})$'", False),
    ("scanner", r"pattern = '^(?P<ticket>(?:\d{2}){4})(?P<pin>\d{8})$'", True),
    ("scanner", r"pattern = '^(?P<ticket>\d{8})$'", False),  # no pin group
    ("functions", "protected = [5]", False),  # no function 5: the session refused it at start
    ("functions", "protected = [3]", False),  # needs a supervisor code
    ("scanner", "double_read_ms = 20000", False),
    ("scanner", 'numlock = "sometimes"', False),
]


@pytest.mark.parametrize(("section", "line", "good"), VALUES)
def test_values(tmp_path: Path, section: str, line: str, good: bool) -> None:
    assert check_config_accepts(tmp_path, section, line) is good
    if good:
        runtime_builds(tmp_path / "kioskd.toml")


def test_a_scan_pattern_that_passes_matches_a_long_scan_at_once(tmp_path: Path) -> None:
    """The refused shapes are the slow ones: a flat pattern answers a 4096-digit scan."""
    from kioskd.counter.scan import ScanParser

    parser = ScanParser(r"^(?P<ticket>\d{6,10})[-/ ]?(?P<pin>\d{8})$")
    assert parser.parse("1" * 4096 + "x").__class__.__name__ == "BadScan"
