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
from tests.flows.conftest import running_kiosk, texts
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
