"""Config loading: defaults, drop-in merging, errors with file/line/key, secrets, reload."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from kioskd import config as c
from tests.service.conftest import MINIMAL, write

REPO = Path(__file__).resolve().parents[2]


def test_minimal_config_gets_defaults(cfg_path: Path) -> None:
    cfg = c.load_config(cfg_path)
    assert cfg.api.base_url == "https://api.example.test"
    assert cfg.printer.paper_mm == 80
    assert cfg.leds.backend == "gpio"
    assert cfg.keymap.bindings["KP_Add"] == "sell"
    assert cfg.sources == (str(cfg_path),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.printer.paper_mm = 58  # type: ignore[misc]


def test_dropins_merge_key_by_key_in_name_order(cfg_path: Path) -> None:
    write(cfg_path.parent / "kioskd.toml", MINIMAL + '[printer]\nuri = "tcp://10.0.0.5:9100"\n')
    d = cfg_path.parent / "kioskd.toml.d"
    write(d / "20-late.toml", "[printer]\npaper_mm = 58\n")
    write(
        d / "10-early.toml", "[printer]\npaper_mm = 80\ntimeout_s = 3\n[keymap]\nKP_Add = 'none'\n"
    )
    write(d / "notes.txt", "[printer]\npaper_mm = 12\n")  # not *.toml: ignored
    cfg = c.load_config(cfg_path)
    assert cfg.printer.uri == "tcp://10.0.0.5:9100"  # main file kept
    assert cfg.printer.paper_mm == 58  # 20-late wins over 10-early
    assert cfg.printer.timeout_s == 3.0  # int accepted for a float key
    assert cfg.keymap.bindings["KP_Add"] == "none"  # unbound
    assert cfg.keymap.bindings["KP_Enter"] == "enter"  # other defaults kept
    assert [Path(s).name for s in cfg.sources] == ["kioskd.toml", "10-early.toml", "20-late.toml"]


def test_error_names_dropin_file_line_and_dotted_key(cfg_path: Path) -> None:
    write(
        cfg_path.parent / "kioskd.toml.d" / "10-site.toml",
        """
        # site overrides
        [terminal]
        id = "T1"

        [printer]
        uri = "usb://04b8:0e15"
        paper_mm = 70
        """,
    )
    errors = c.check(cfg_path)
    assert [str(e) for e in errors] == [
        "kioskd.toml.d/10-site.toml:7: printer.paper_mm: must be 58 or 80, got 70"
    ]


def test_all_errors_are_collected_not_only_the_first(cfg_path: Path) -> None:
    write(
        cfg_path.parent / "kioskd.toml.d" / "50-bad.toml",
        """
        [printer]
        papr_mm = 80
        [scanner]
        device = "event3"
        suffix = "space"
        [leds]
        backend = "neon"
        red = 17
        [log]
        level = 3
        [frobnicate]
        x = 1
        """,
    )
    errors = {e.key: e for e in c.check(cfg_path)}
    assert set(errors) == {
        "printer.papr_mm",
        "scanner.device",
        "scanner.suffix",
        "leds.backend",
        "leds.red",
        "log.level",
        "frobnicate",
    }
    assert "did you mean printer.paper_mm" in errors["printer.papr_mm"].message
    assert errors["printer.papr_mm"].line == 2
    assert errors["leds.red"].message == "GPIO 17 is already used by leds.green"
    assert errors["leds.red"].line == 8
    assert errors["log.level"].message == "must be a string, got an integer 3"
    assert errors["frobnicate"].line == 11
    # sorted by line within the file
    lines = [e.line for e in c.check(cfg_path)]
    assert lines == sorted(lines)


def test_syntax_error_gives_tomllib_line_and_other_files_still_checked(cfg_path: Path) -> None:
    d = cfg_path.parent / "kioskd.toml.d"
    write(d / "10-broken.toml", '[printer]\nuri = "usb:1:2"\npaper_mm = = 80\n')
    write(d / "20-bad.toml", "[pay]\nnot_winner = 'sing'\n")
    errors = c.check(cfg_path)
    assert len(errors) == 2
    assert errors[0].file == "kioskd.toml.d/10-broken.toml"
    assert errors[0].line == 3
    assert errors[0].message.startswith("TOML syntax:")
    assert str(errors[1]) == (
        "kioskd.toml.d/20-bad.toml:2: pay.not_winner: must be 'slip' or 'flash', got 'sing'"
    )


def test_required_keys_and_missing_file(tmp_path: Path) -> None:
    write(tmp_path / "kioskd.toml", "[terminal]\nid = 'T9'\n")
    assert {e.key for e in c.check(tmp_path / "kioskd.toml")} == {"api.base_url", "api.email"}
    errors = c.check(tmp_path / "absent.toml")
    assert [str(e) for e in errors] == ["absent.toml: file not found"]


def test_dotted_key_line_found_outside_table(tmp_path: Path) -> None:
    write(tmp_path / "kioskd.toml", "# top\nprinter.paper_mm = 70\n" + MINIMAL)
    (err,) = c.check(tmp_path / "kioskd.toml")
    assert (err.key, err.line) == ("printer.paper_mm", 2)


@pytest.mark.parametrize(
    ("section", "value", "fragment"),
    [
        ("api", 'base_url = "ftp://x"', "http:// or https://"),
        ("api", "connect_timeout_s = 0", "must be > 0"),
        ("api", 'password_file = "relative/pw"', "absolute path"),
        ("printer", 'uri = "lpt1"', "usb://VID:PID"),
        (
            "scanner",
            'pattern = "(?P<ticket>\\\\d+)(?P<pin>\\\\d+)(?P<x>.)"',
            "unknown named groups",
        ),
        ("scanner", 'pattern = "(unclosed"', "not a valid regular expression"),
        ("scanner", 'layout = "US English"', "xkb layout"),
        ("keypad", 'device = "/home/x/event3"', "eventN numbers change"),
        ("leds", "green = 40", "BCM GPIO"),
        ("offline", "max_queued = -1", "must be between 0 and 10000"),
        ("functions", "protected = [1, 'x']", "every item"),
        ("functions", "protected = [100]", "0..99"),
        ("keymap", 'KP_Add = "explode"', "must be one of"),
        ("catalog", "stale_after_s = 60.0", "must be >= catalog.refresh_s"),
        ("terminal", "verify_tls = true", "unknown key"),
        ("journal", "retention_days = true", "must be an integer"),
    ],
)
def test_bad_values(tmp_path: Path, section: str, value: str, fragment: str) -> None:
    if section == "api":
        name = value.split(" ")[0]
        kept = [ln for ln in MINIMAL.strip().splitlines() if not ln.startswith(name)]
        text = "\n".join([*kept, value]) + "\n"
    else:
        text = MINIMAL + f"\n[{section}]\n{value}\n"
    write(tmp_path / "kioskd.toml", text)
    errors = c.check(tmp_path / "kioskd.toml")
    assert len(errors) == 1, errors
    assert fragment in errors[0].message
    written = (tmp_path / "kioskd.toml").read_text().splitlines()
    assert errors[0].line == written.index(value) + 1


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    write(
        tmp_path / "kioskd.toml",
        MINIMAL.replace("[api]", "[api]\npassword = 98765432\npassword_file = '/x'")
        + "[functions]\nsupervisor_code = '12ab5678'\n",
    )
    errors = c.check(tmp_path / "kioskd.toml")
    assert {e.key for e in errors} == {"api.password", "functions.supervisor_code"}
    text = "\n".join(str(e) for e in errors)
    assert "98765432" not in text and "12ab5678" not in text


def test_password_repr_hidden_and_both_sources_refused(tmp_path: Path) -> None:
    write(tmp_path / "kioskd.toml", MINIMAL.replace("[api]", "[api]\npassword = 's3cr3t-pw'"))
    cfg = c.load_config(tmp_path / "kioskd.toml")
    assert "s3cr3t-pw" not in repr(cfg)
    assert cfg.api.read_password({}) == "s3cr3t-pw"
    write(
        tmp_path / "kioskd.toml",
        MINIMAL.replace("[api]", "[api]\npassword = 's3cr3t-pw'\npassword_file = '/etc/pw'"),
    )
    (err,) = c.check(tmp_path / "kioskd.toml")
    assert err.key == "api.password" and "not both" in err.message
    assert "s3cr3t-pw" not in str(err)


def test_password_from_file_then_credential(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text("from-file\n")
    api = c.ApiConfig(base_url="https://x", email="e", password_file=str(pw))
    assert api.read_password({}) == "from-file"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api_password").write_text("from-credential")
    api = c.ApiConfig(base_url="https://x", email="e")
    assert api.read_password({"CREDENTIALS_DIRECTORY": str(creds)}) == "from-credential"
    with pytest.raises(c.PasswordUnavailable, match="no API password"):
        api.read_password({})
    (creds / "api_password").write_text("")
    with pytest.raises(c.PasswordUnavailable, match="empty"):
        api.read_password({"CREDENTIALS_DIRECTORY": str(creds)})
    missing = c.ApiConfig(base_url="https://x", email="e", password_file=str(tmp_path / "nope"))
    with pytest.raises(c.PasswordUnavailable, match="cannot read"):
        missing.read_password({})


@pytest.mark.parametrize(
    ("text", "kind", "extra"),
    [
        ("/dev/input/by-id/usb-Honeywell-event-kbd", "path", {}),
        ("05e0:1200", "usb", {"vendor": 0x05E0, "product": 0x1200, "serial": ""}),
        ("05e0:1200:ABC123", "usb", {"serial": "ABC123"}),
        ("name:*Barcode*", "name", {"value": "*Barcode*"}),
        ("replay:/run/kioskd/scanner.fifo", "replay", {"value": "/run/kioskd/scanner.fifo"}),
        ("", "none", {}),
    ],
)
def test_parse_device_forms(text: str, kind: str, extra: dict) -> None:
    spec = c.parse_device(text)
    assert spec.kind == kind
    for k, v in extra.items():
        assert getattr(spec, k) == v


@pytest.mark.parametrize(
    "text",
    ["event3", "05e0", "5e0:1200", "name:", "replay:", "/home/x/event3", "/dev/input/event3"],
)
def test_parse_device_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        c.parse_device(text)


def test_leds_minus_one_means_not_fitted(tmp_path: Path) -> None:
    write(tmp_path / "kioskd.toml", MINIMAL + "[leds]\nbuzzer = -1\n")
    assert c.load_config(tmp_path / "kioskd.toml").leds.buzzer is None


def test_holder_keeps_last_good_config_on_broken_reload(cfg_path: Path) -> None:
    holder = c.ConfigHolder(cfg_path)
    good = holder.current
    write(cfg_path, MINIMAL + "[printer]\npaper_mm = 70\n")
    ok, errors = holder.reload()
    assert not ok
    assert [e.key for e in errors] == ["printer.paper_mm"]  # type: ignore[union-attr]
    assert holder.current is good
    write(cfg_path, MINIMAL + "[printer]\npaper_mm = 58\n")
    ok, changed = holder.reload()
    assert ok and changed == ["printer"]
    assert holder.current.printer.paper_mm == 58


# --- the shipped config documents every key ------------------------------------------------


def test_shipped_config_loads_cleanly() -> None:
    cfg = c.load_config(REPO / "config" / "kioskd.toml")
    assert cfg == c.Config(
        api=c.ApiConfig(base_url=cfg.api.base_url, email=cfg.api.email), sources=cfg.sources
    ), "the shipped config must show the defaults"


def test_shipped_config_documents_every_key() -> None:
    text = (REPO / "config" / "kioskd.toml").read_text()
    sections = re.split(r"(?m)^\[([a-z_]+)\]\s*$", text)
    bodies = dict(zip(sections[1::2], sections[2::2], strict=True))
    assert set(bodies) == set(c.SECTIONS)
    for section in c.SECTIONS:
        body = bodies[section]
        keys = c.section_keys(section) or list(c.DEFAULT_KEYMAP)
        for name in keys:
            # set or commented out, and preceded by a comment line
            comment = "" if section == "keymap" else r"#[^\n]*\n"  # one comment for the table
            m = re.search(rf"(?m)^{comment}(# )?{re.escape(name)} = ", body)
            assert m, f"{section}.{name} is not documented in config/kioskd.toml"


def test_security_warnings_for_unverified_tls_plain_http_and_a_readable_password(tmp_path):
    import os

    from kioskd.config import load_config, security_warnings

    path = tmp_path / "kioskd.toml"
    path.write_text(
        '[api]\nbase_url = "http://banklot.example"\nemail = "a@b.c"\npassword = "pw-12345"\n'
        "verify_tls = false\n"
    )
    os.chmod(path, 0o644)
    found = " | ".join(security_warnings(load_config(path), path))
    assert "verify_tls = false" in found
    assert "plain http://" in found
    assert "holds password and is readable by every user" in found
    os.chmod(path, 0o640)
    path.write_text('[api]\nbase_url = "https://banklot.example"\nemail = "a@b.c"\n')
    assert security_warnings(load_config(path), path) == []
