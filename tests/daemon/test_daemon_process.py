"""The real `kioskd run` process as systemd and operators see it: sd_notify, signals,
the control socket through `kioskctl`, fatal errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kioskd.proving.harness import VirtualKiosk
from tests.run_kioskd import run_kioskd


@pytest.fixture
def kiosk(tmp_path):
    with VirtualKiosk(tmp_path / "k") as k:
        yield k


def _collect(k: VirtualKiosk, want: str, timeout_s: float = 15.0) -> list[str]:
    """sd_notify lines until one starts with `want`."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen += k.notifications()
        time.sleep(0.05)
        if any(line.startswith(want) for line in seen):
            return seen
    raise AssertionError(f"no {want!r} in {seen}")


def test_ready_status_reload_and_stop(kiosk):
    kiosk.start_daemon()
    first = kiosk.notifications()
    kiosk.wait_catalog()
    status = _collect(kiosk, "STATUS=", 10)
    assert any("queued" in line and "printer" in line for line in first + status)

    # SIGHUP with a good file: RELOADING=1 with MONOTONIC_USEC, then READY=1 again.
    kiosk.proc.send_signal(signal.SIGHUP)
    lines = _collect(kiosk, "READY=1")
    assert "RELOADING=1" in lines
    assert any(line.startswith("MONOTONIC_USEC=") for line in lines)

    # SIGHUP with a broken file: refused, the last good config stays; the daemon still sells.
    dropins = kiosk.config_path.parent / "kioskd.toml.d"
    dropins.mkdir()
    bad = dropins / "50-site.toml"
    bad.write_text("[printer]\npaper_mm = 70\n")
    kiosk.proc.send_signal(signal.SIGHUP)
    _collect(kiosk, "READY=1")
    log = kiosk.log_path.read_text()
    assert "config rejected, keeping the last good one" in log
    assert "50-site.toml:2: printer.paper_mm" in log
    bad.unlink()
    kiosk.type("+1.341.20\n\n")
    kiosk.wait_for(lambda: any("ticket" in s for s in kiosk.slips()), 20)

    # SIGTERM: STOPPING=1 and a clean exit.
    kiosk.proc.send_signal(signal.SIGTERM)
    assert kiosk.proc.wait(30) == 0
    assert "STOPPING=1" in kiosk.notifications()


def test_watchdog_pings_from_the_event_loop(kiosk):
    kiosk.start_daemon(env={"WATCHDOG_USEC": "400000"})  # systemd's WatchdogSec=0.4s
    time.sleep(1.2)
    lines = kiosk.notifications()
    assert lines.count("WATCHDOG=1") >= 3, lines


def test_kioskctl_status_json_reports_the_live_daemon(kiosk):
    kiosk.start_daemon()
    kiosk.wait_catalog()
    kiosk.type("+1.341.20\n\n")
    kiosk.wait_for(lambda: kiosk.status()["queue"].get("done") == 1, 20)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "kioskd.ctl",
            "--socket",
            str(kiosk.control_socket),
            "status",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["queue"]["done"] == 1
    assert status["state"] == "ready"
    assert status["lights"]["green"] == "on"
    assert status["devices"] == {"scanner": "open", "keypad": "open"}  # replay FIFOs: no grab
    assert status["printer"] == "ok"  # exactly: "broken" or "token_lost" must not pass
    assert status["version"]
    queue = subprocess.run(
        [
            sys.executable,
            "-m",
            "kioskd.ctl",
            "--socket",
            str(kiosk.control_socket),
            "queue",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    ops = json.loads(queue.stdout)
    assert [op["state"] for op in ops] == ["done"]


def test_missing_password_is_one_clear_fatal_error(tmp_path):
    cfg = tmp_path / "kioskd.toml"
    cfg.write_text(
        '[api]\nbase_url = "http://127.0.0.1:9"\nemail = "a@b.c"\n'
        f'password_file = "{tmp_path}/nope"\n'
        f'[journal]\npath = "{tmp_path}/j.sqlite3"\n[leds]\nbackend = "mock"\n'
        '[scanner]\ndevice = ""\n[keypad]\ndevice = ""\n'
        f'[control]\nsocket = "{tmp_path}/c.sock"\n[log]\ntarget = "stderr"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    proc = run_kioskd("run", "--config", str(cfg), timeout=30, env=env)
    assert proc.returncode == 1
    assert "password" in (proc.stdout + proc.stderr).lower()


def test_broken_config_exits_with_file_and_key(tmp_path):
    cfg = tmp_path / "kioskd.toml"
    cfg.write_text('[api]\nbase_url = "http://x"\nemail = "a@b.c"\n\n[printer]\npaper_mm = 70\n')
    proc = run_kioskd("run", "--config", str(cfg), timeout=30)
    assert proc.returncode == 78  # EX_CONFIG: the unit's RestartPreventExitStatus=
    assert "kioskd.toml:6: printer.paper_mm" in proc.stdout + proc.stderr
    unit = (Path(__file__).resolve().parents[2] / "systemd" / "kioskd.service").read_text()
    assert "RestartPreventExitStatus=78" in unit
    assert "StartLimitBurst=" in unit and "StartLimitIntervalSec=0" not in unit


def test_sigterm_while_a_sale_waits_for_its_pending_slip(tmp_path):
    """SIGTERM while a sale's answer is late and its PENDING slip's timer is still pending
    (shipped timers: the slip is due 2 s after the send, the answer comes at 4 s): the stop
    waits for both, within its drain, so the customer gets the PENDING slip, then the ticket,
    once each; the sale is done in the journal and on the server, once; the exit is clean."""
    with VirtualKiosk(tmp_path / "k", timers="shipped") as k:
        k.start_daemon()
        k.wait_catalog()
        k.sim.arm_fault("/user/ticket/create", "delay", delay_s=4)
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: [r["state"] for r in k.journal_operations()] == ["sending"], 10, 0.02)
        assert not any(s.endswith("-pending.png") for s in k.slips())  # the timer is pending
        k.proc.send_signal(signal.SIGTERM)
        assert k.proc.wait(30) == 0
        [op] = k.journal_operations()
        assert op["state"] == "done"
        [sold] = k.sim.ledger()["tickets"]
        assert sold["ticket_number"] == op["ticket_number"]
        names = k.slips()
        pending = [s for s in names if s.endswith("-pending.png")]
        tickets = [s for s in names if s.endswith("-ticket.png")]
        assert len(pending) == 1 and len(tickets) == 1, names
        assert names.index(pending[0]) < names.index(tickets[0])
        assert all(job["printed_at"] is not None for job in k.print_jobs())
        log = k.log_path.read_text()
        assert "PENDING slip printed" in log


def test_sigterm_with_a_send_still_in_the_air_when_the_drain_ends(tmp_path):
    """The answer comes after the drain's bound (`DRAIN_S`): the stop cancels the send and
    lets it unwind before the journal closes (it once ran after, and every such stop logged
    "journal is closed" from asyncio's shutdown). The sale stays `sending` in the journal,
    which the next start takes as in doubt; its PENDING slip printed during the drain."""
    from kioskd.daemon.daemon import DRAIN_S

    with VirtualKiosk(tmp_path / "k", timers="shipped") as k:
        k.start_daemon()
        k.wait_catalog()
        k.sim.arm_fault("/user/ticket/create", "delay", delay_s=DRAIN_S + 5)
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: [r["state"] for r in k.journal_operations()] == ["sending"], 10, 0.02)
        stopped_at = time.monotonic()
        k.proc.send_signal(signal.SIGTERM)
        assert k.proc.wait(30) == 0
        assert time.monotonic() - stopped_at < DRAIN_S + 3
        [op] = k.journal_operations()
        assert op["state"] == "sending"
        names = k.slips()
        assert [s for s in names if s.endswith("-pending.png")], names
        assert not [s for s in names if s.endswith("-ticket.png")], names
        log = k.log_path.read_text()
        assert "journal is closed" not in log
        assert "unhandled exception" not in log
