"""Reload applies or refuses, never pretends: every key is placed, and each kind of key changes
behaviour after SIGHUP (the real daemon, its control socket, a real loopback printer) or is
listed by name as needing a restart in the log and `kioskctl status`."""

from __future__ import annotations

import logging

import pytest

from kioskd.config import Config
from kioskd.counter.session import Key
from kioskd.daemon import reload as rl
from kioskd.daemon.control import ControlError
from kioskd.proving.fakes.escpos_printer import FakeTcpPrinter
from tests.flows.conftest import PASSWORD, running_kiosk, texts
from tests.flows.test_flow_control_direct import ctl


def test_every_config_key_is_either_live_or_needs_a_restart():
    keys = set(rl.keys_of(Config()))
    placed = set(rl.LIVE) | rl.RESTART
    assert keys - placed == set(), "place the new key in kioskd/daemon/reload.py"
    assert placed - keys == set(), "a key that no longer exists"
    assert set(rl.LIVE) & rl.RESTART == set()


def drop_in(kiosk, text: str) -> None:
    """A drop-in next to the main config (what a technician writes), then SIGHUP."""
    d = kiosk.tmp_path / "kioskd.toml.d"
    d.mkdir(exist_ok=True)
    (d / "50-test.toml").write_text(text)
    kiosk.daemon.reload()


def reload_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("config reloaded")]


async def test_allow_inject_off_takes_effect(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with running_kiosk(tmp_path, extra={"control": "allow_inject = true"}) as kiosk:
        await ctl(kiosk, "inject-keys", {"text": "\x1b"})
        drop_in(kiosk, "[control]\nallow_inject = false\n")
        with pytest.raises(ControlError, match="turned off"):
            await ctl(kiosk, "inject-keys", {"text": "*1\n"})
        assert "applied live: control.allow_inject" in reload_lines(caplog)[-1]


async def test_supervisor_code_and_protected_functions_take_effect(kiosk):
    kiosk.type("*1\n")
    await kiosk.slip("results")
    drop_in(kiosk, '[functions]\nsupervisor_code = "4321"\nprotected = [1]\n')
    await kiosk.idle()
    kiosk.type("*1\n")
    assert kiosk.daemon.session.state.name == "SUPERVISOR"  # the code is asked now
    kiosk.type("4321\n")
    await kiosk.slip("results", nth=2)


async def test_keymap_takes_effect(kiosk):
    drop_in(kiosk, '[keymap]\nKP_Divide = "function"\n')
    # The keypad's "/" key (what the input layer reads) is now the function key.
    kiosk.daemon.feed(Key("KP_Divide", kiosk.clock.now()))
    kiosk.type("1\n")
    await kiosk.slip("results")


async def test_a_new_printer_uri_prints_the_next_slip(kiosk):
    other = FakeTcpPrinter().start()
    try:
        drop_in(kiosk, f'[printer]\nuri = "{other.uri}"\n')
        before = len(kiosk.printer.core.printed)
        kiosk.type("*9\n")
        await kiosk.slip("test")
        await kiosk.wait_for(
            lambda: b"PRUEBA" in bytes(other.core.printed) or len(other.core.printed) > 200
        )
        assert len(kiosk.printer.core.printed) == before  # the old printer prints no more
    finally:
        other.vanish()


async def test_policy_keys_take_effect(kiosk):
    drop_in(kiosk, "[offline]\nmax_queued = 3\n[reconcile]\nprobes = 9\n")
    assert kiosk.daemon.outbox.policy.max_queued == 3
    assert kiosk.daemon.outbox.policy.not_applied_probes == 9


async def test_locale_takes_effect_on_the_next_slip(kiosk):
    drop_in(kiosk, '[terminal]\nlocale = "en"\n')
    kiosk.type("*9\n")
    slip = await kiosk.slip("test")
    assert any("TEST" in line.upper() for line in texts(slip))
    kiosk.type("+99.1.10\n")  # a refusal worded in the new language
    slip = await kiosk.slip("rejected")
    assert "REJECTED" in " ".join(texts(slip)).upper()


async def test_restart_keys_are_named_in_the_log_and_status(kiosk, caplog):
    caplog.set_level(logging.INFO)
    drop_in(kiosk, '[api]\nbase_url = "http://other.example"\n[journal]\nretention_days = 30\n')
    line = reload_lines(caplog)[-1]
    assert "needs a restart: api.base_url" in line
    assert "applied live: journal.retention_days" in line
    assert kiosk.daemon.journal.retention_days == 30
    status = await ctl(kiosk, "status")
    assert status["needs_restart"] == ["api.base_url"]
    drop_in(kiosk, "")  # back to what it runs with: nothing waits for a restart any more
    assert (await ctl(kiosk, "status"))["needs_restart"] == []


async def test_lights_and_inputs_are_reopened(kiosk):
    first_lights = kiosk.daemon.lights
    drop_in(kiosk, "[leds]\ngreen = 5\n")
    assert kiosk.daemon.lights is not first_lights
    assert kiosk.daemon.lights.current()["state"] == "ready"
    drop_in(kiosk, '[scanner]\ndevice = "none"\n[keypad]\ndevice = "none"\n')
    assert kiosk.daemon._input_tasks == []


# One valid new value per key (TOML), for the per-key test below; keys that need another key
# to be valid bring it along.
NEW_VALUES: dict[str, str] = {
    "terminal.id": '[terminal]\nid = "flow-2"',
    "terminal.locale": '[terminal]\nlocale = "en"',
    "terminal.currency": '[terminal]\ncurrency = "USD"',
    "terminal.agency_name": '[terminal]\nagency_name = "Agencia 2"',
    "api.base_url": '[api]\nbase_url = "http://other.example"',
    "api.email": '[api]\nemail = "other@banklot.test"',
    "api.password": '[api]\npassword = "another-password"',
    "api.password_file": '[api]\npassword_file = "{tmp}/other-password"',  # on a file config
    "api.connect_timeout_s": "[api]\nconnect_timeout_s = 2.0",
    "api.read_timeout_s": "[api]\nread_timeout_s = 1.5",
    "api.verify_tls": "[api]\nverify_tls = false",
    "api.ca_bundle": '[api]\nca_bundle = "/nonexistent/ca.pem"',
    "api.shared_account": "[api]\nshared_account = true",
    "journal.path": '[journal]\npath = "/nonexistent/other.sqlite3"',
    "journal.retention_days": "[journal]\nretention_days = 30",
    "offline.create_max_age_s": "[offline]\ncreate_max_age_s = 100.0",
    "offline.pay_max_age_s": "[offline]\npay_max_age_s = 500.0",
    "offline.max_queued": "[offline]\nmax_queued = 5",
    "offline.max_queued_amount": "[offline]\nmax_queued_amount = 500",
    "reconcile.quiet_period_s": "[reconcile]\nquiet_period_s = 5.0",
    "reconcile.probes": "[reconcile]\nprobes = 3",
    "reconcile.probe_interval_s": "[reconcile]\nprobe_interval_s = 2.0",
    "catalog.refresh_s": "[catalog]\nrefresh_s = 600.0",
    "catalog.stale_after_s": "[catalog]\nstale_after_s = 9000.0",
    "catalog.first_load_wait_s": "[catalog]\nfirst_load_wait_s = 5.0",
    "input.idle_reset_s": "[input]\nidle_reset_s = 30.0",
    "scanner.device": '[scanner]\ndevice = "replay:/nonexistent/scanner.fifo"',
    "scanner.layout": '[scanner]\nlayout = "fr"',
    "scanner.gap_ms": "[scanner]\ngap_ms = 40",
    "scanner.suffix": '[scanner]\nsuffix = "tab"',
    "scanner.max_length": "[scanner]\nmax_length = 32",
    "scanner.grab": "[scanner]\ngrab = false",
    "scanner.pattern": '[scanner]\npattern = "^(?P<ticket>\\\\d{8})(?P<pin>\\\\d{8})$"',
    "scanner.numlock": '[scanner]\nnumlock = "on"',
    "scanner.double_read_ms": "[scanner]\ndouble_read_ms = 500",
    "keypad.device": '[keypad]\ndevice = "replay:/nonexistent/keypad.fifo"',
    "keypad.layout": '[keypad]\nlayout = "fr"',
    "keypad.grab": "[keypad]\ngrab = false",
    "keypad.numlock": '[keypad]\nnumlock = "on"',
    "keymap.bindings": '[keymap]\nKP_Divide = "function"',
    "printer.uri": '[printer]\nuri = "tcp://127.0.0.1:9"',
    "printer.paper_mm": "[printer]\npaper_mm = 58",
    "printer.timeout_s": "[printer]\ntimeout_s = 4.0",
    "printer.preview_dir": '[printer]\npreview_dir = "/tmp"',
    "printer.profile": '[printer]\nprofile = "TM-T88V"',
    "printer.dots": "[printer]\ndots = 512",
    "printer.columns": "[printer]\ncolumns = 42",
    "leds.backend": '[leds]\nbackend = "gpio"\npin_factory = "mock"',
    "leds.pin_factory": '[leds]\npin_factory = "mock"',
    "leds.green": "[leds]\ngreen = 5",
    "leds.amber": "[leds]\namber = 6",
    "leds.red": "[leds]\nred = 13",
    "leds.buzzer": "[leds]\nbuzzer = 19",
    "pay.not_winner": '[pay]\nnot_winner = "flash"',
    "functions.supervisor_code": '[functions]\nsupervisor_code = "4321"',
    "functions.protected": '[functions]\nsupervisor_code = "4321"\nprotected = [2]',
    "control.socket": '[control]\nsocket = "/tmp/other-kioskd.sock"',
    "control.allow_inject": "[control]\nallow_inject = true",
    "log.level": '[log]\nlevel = "debug"',
    "log.target": '[log]\ntarget = "auto"',
    "metrics.textfile_dir": '[metrics]\ntextfile_dir = "/tmp"',
    "metrics.listen": '[metrics]\nlisten = "127.0.0.1:19193"',
    "metrics.interval_s": "[metrics]\ninterval_s = 20.0",
    "metrics.textfile_max_age_s": "[metrics]\ntextfile_max_age_s = 120.0",
}


def _settings(name: str):
    return lambda d, _inputs: getattr(d.session.settings, name)


def _policy(name: str):
    return lambda d, _inputs: getattr(d.outbox.policy, name)


def _source(role: str, name: str):
    """A field of the `SourceConfig` the running reader of `role` was last started with."""
    return lambda _d, inputs: getattr(inputs.get(role), name, None)


def _pin(led: str):
    def probe(d, _inputs):
        device = d.lights.buzzer if led == "buzzer" else d.lights.leds[led]
        return device.pin.number

    return probe


def _handler(_d, _inputs):
    from kioskd.daemon import logs

    return [id(h) for h in logs._installed]


def _metrics_config(d):
    """What the metrics read: their own `config()`; while [metrics] is off there is no
    Metrics object (issue 19: prometheus_client is not imported), and the one a reload
    creates reads `daemon.cfg.metrics` through that same `config()`."""
    return d.metrics.config() if d.metrics is not None else d.cfg.metrics


# How each live key is seen *in the part that uses it* (not in the config, not in the log):
# the test reads it before and after the reload, and the value must change. "Read at use" keys
# are read from `daemon.cfg` by the code each time (daemon.py, metrics.py), so that is their part.
EFFECTS = {
    "terminal.id": _settings("terminal_id"),
    "terminal.locale": _settings("lang"),
    "terminal.currency": _settings("currency"),
    "input.idle_reset_s": _settings("idle_reset_s"),
    "scanner.pattern": _settings("scan_pattern"),
    "scanner.double_read_ms": _settings("double_read_s"),
    "pay.not_winner": _settings("not_winner_slip"),
    "functions.supervisor_code": _settings("supervisor_code"),
    "functions.protected": _settings("supervised_functions"),
    "keymap.bindings": lambda d, _i: d.session.keymap.action("KP_Divide"),
    "offline.create_max_age_s": _policy("create_max_age_s"),
    "offline.pay_max_age_s": _policy("pay_max_age_s"),
    "offline.max_queued": _policy("max_queued"),
    "offline.max_queued_amount": _policy("max_queued_amount"),
    "reconcile.quiet_period_s": _policy("quiet_period_s"),
    "reconcile.probes": _policy("not_applied_probes"),
    "reconcile.probe_interval_s": _policy("probe_interval_s"),
    "api.shared_account": _policy("shared_account"),
    "catalog.refresh_s": lambda d, _i: d.cfg.catalog.refresh_s,
    "catalog.stale_after_s": lambda d, _i: d.cfg.catalog.stale_after_s,
    "metrics.textfile_dir": lambda d, _i: _metrics_config(d).textfile_dir,
    "metrics.listen": lambda d, _i: _metrics_config(d).listen,
    "metrics.interval_s": lambda d, _i: _metrics_config(d).interval_s,
    "metrics.textfile_max_age_s": lambda d, _i: _metrics_config(d).textfile_max_age_s,
    "scanner.device": _source("scanner", "device"),
    "scanner.layout": _source("scanner", "layout"),
    "scanner.gap_ms": _source("scanner", "gap_s"),
    "scanner.suffix": _source("scanner", "suffix"),
    "scanner.max_length": _source("scanner", "max_len"),
    "scanner.grab": _source("scanner", "grab"),
    "scanner.numlock": _source("scanner", "keypad_digits"),
    "keypad.device": _source("keypad", "device"),
    "keypad.layout": _source("keypad", "layout"),
    "keypad.grab": _source("keypad", "grab"),
    "keypad.numlock": _source("keypad", "keypad_digits"),
    "printer.uri": lambda d, _i: d.spooler.printer.uri,
    "printer.paper_mm": lambda d, _i: d.spooler.printer.paper_mm,
    "printer.timeout_s": lambda d, _i: d.spooler.printer._transport._timeout,
    "printer.preview_dir": lambda d, _i: str(d.spooler.preview_dir),
    "printer.profile": lambda d, _i: d.spooler.profile,
    "printer.dots": lambda d, _i: d.spooler.printer.paper.dots,  # the width slips are laid on
    "printer.columns": lambda d, _i: d.spooler.printer.paper.columns,
    "leds.backend": lambda d, _i: id(d.lights),  # reopened with the new backend
    "leds.pin_factory": lambda d, _i: id(d.lights),
    "leds.green": _pin("green"),
    "leds.amber": _pin("amber"),
    "leds.red": _pin("red"),
    "leds.buzzer": _pin("buzzer"),
    "control.allow_inject": lambda d, _i: d.control.allow_inject,
    "journal.retention_days": lambda d, _i: d.journal.retention_days,
    "log.level": lambda _d, _i: logging.getLogger().level,
    "log.target": _handler,
}


def test_every_live_key_has_an_effect_check():
    assert set(rl.LIVE) - set(EFFECTS) == set(), "say where the live part holds the key"


# Readers of both roles run on (absent) replay devices, so that input keys reach a reader.
INPUT_DEVICES = """[scanner]\ndevice = "replay:{d}/scanner.fifo"
[keypad]\ndevice = "replay:{d}/keypad.fifo"
"""


@pytest.mark.parametrize("key", sorted(rl.keys_of(Config())))
async def test_each_key_is_applied_live_or_named_as_needing_a_restart(tmp_path, caplog, key):
    """A live key's new value is read back from the part that uses it after SIGHUP; a restart
    key is named in the log and `kioskctl status`. `api.password_file` runs on a config that
    reads its password from a file."""
    if key not in NEW_VALUES:
        pytest.fail(f"give {key} a new value in NEW_VALUES")
    caplog.set_level(logging.INFO)
    (tmp_path / "kioskd.toml.d").mkdir()  # the reload line is INFO: let it through
    (tmp_path / "kioskd.toml.d" / "00-log.toml").write_text('[log]\nlevel = "info"\n')
    password_file = None
    if key == "api.password_file":
        password_file = tmp_path / "api-password"
        password_file.write_text(PASSWORD + "\n")
        (tmp_path / "other-password").write_text("another-password\n")
    (tmp_path / "kioskd.toml.d" / "10-inputs.toml").write_text(INPUT_DEVICES.format(d=tmp_path))
    async with running_kiosk(tmp_path, password_file=password_file) as kiosk:
        daemon = kiosk.daemon
        inputs: dict = {}
        start_reader = daemon._reader_for

        def recording_reader(source):
            inputs[source.config.role] = source.config
            return start_reader(source)

        daemon._reader_for = recording_reader
        daemon._restart_inputs()  # what runs now, seen through the recorder
        probe = EFFECTS.get(key)
        if key.startswith("leds."):
            # The pins open in a worker just after READY=1 (`Lights.open`): read them once open
            # (the first test of a run imports gpiozero there, and was read before).
            await kiosk.wait_for(lambda: daemon.lights.opened)
        before = probe(daemon, inputs) if probe else None
        drop_in(kiosk, NEW_VALUES[key].replace("{tmp}", str(tmp_path)) + "\n")
        lines = reload_lines(caplog)
        assert lines, [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        line = lines[-1]
        assert "could not apply" not in line, line
        status = await ctl(kiosk, "status")
        if key in rl.LIVE:
            assert "applied live:" in line and key in line.split("applied live:")[1], line
            assert key not in status["needs_restart"]
            assert probe is not None
            if key.startswith("printer."):
                kiosk.type("*9\n")  # the spooler takes the new printer between jobs
                await kiosk.wait_for(lambda: daemon.spooler._next_printer is None)
            if key.startswith("leds."):
                await kiosk.wait_for(lambda: daemon.lights.opened)  # the new pins, once open
            after = probe(daemon, inputs)
            assert after != before, f"{key}: reload logged 'applied live' but {before!r} stays"
        else:
            assert key in line.split("needs a restart:")[1], line
            assert key in status["needs_restart"]


async def test_a_new_password_file_waits_for_the_restart(tmp_path, caplog):
    """api.password_file: the client logs in with the file's password; a reload names the key as
    needing a restart and the client keeps the password it logged in with (selling goes on)."""
    caplog.set_level(logging.INFO)
    first = tmp_path / "api-password"
    first.write_text(PASSWORD + "\n")
    second = tmp_path / "other-password"
    second.write_text("another-password\n")
    async with running_kiosk(tmp_path, password_file=first) as kiosk:
        assert kiosk.daemon.client._password.get() == PASSWORD
        drop_in(kiosk, f'[api]\npassword_file = "{second}"\n')
        assert "needs a restart: api.password_file" in reload_lines(caplog)[-1]
        assert kiosk.daemon.client._password.get() == PASSWORD
        kiosk.type("*1\n")  # still selling with the old login
        await kiosk.slip("results")
