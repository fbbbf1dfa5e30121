"""The power-cut campaign against the real `kioskd run` process, and its teeth."""

from __future__ import annotations

from pathlib import Path

import pytest

from kioskd.proving.campaigns.powercut.campaign import run_campaign

from .conftest import needs_fuse

BROKEN = Path(__file__).parent / "broken_sync"


@pytest.mark.slow
@needs_fuse
def test_twenty_power_cuts_lose_and_duplicate_nothing():
    # Short timers (the shipped-timer run is in bench/RESULTS.md); system temp: AF_UNIX
    # paths must be short.
    result = run_campaign(20, seed=7, policy="short")
    assert result.cuts >= 20
    assert result.operations > 0
    assert result.violations == [], result.violations
    assert " 0 violations (short timers)" in result.summary()


@pytest.mark.slow
@needs_fuse
def test_teeth_a_journal_with_synchronous_off_is_caught(monkeypatch):
    """The same campaign with the journal's connection switched to synchronous=OFF (a
    sitecustomize hook on the daemon's PYTHONPATH; the journal code is untouched) fails.

    One cut is the whole proof: it loses every write of the journal that never synced (the
    journal's identity too), so from the restart on the daemon waits for a technician
    (attention) with its keypad and scanner closed, and later rounds could sell nothing; they
    only waited on the closed FIFOs (6 cuts took 4 minutes and found exactly what one finds).
    The sale made before the cut is on the server and in no journal: lost."""
    monkeypatch.setenv("PYTHONPATH", str(BROKEN))
    result = run_campaign(1, seed=3, policy="short")
    assert result.violations, "a journal that never syncs survived power cuts: no teeth"
    kinds = {v.invariant for v in result.violations}
    lost = {"sale-lost-or-duplicated", "pay-lost-or-duplicated", "cancel-lost-or-duplicated"}
    assert kinds & (lost | {"integrity"}), kinds


def test_campaign_config_points_the_journal_into_the_mount(tmp_path):
    from kioskd.proving.campaigns.powercut.campaign import PowerCutKiosk

    k = PowerCutKiosk(tmp_path / "kiosk", tmp_path / "mnt")
    k.workdir.mkdir()

    class _Addr:
        base_url = "http://127.0.0.1:1"
        uri = "tcp://127.0.0.1:2"

    k.server = k.printer = _Addr()  # type: ignore[assignment]
    text = k._config_text()
    assert f'path = "{(tmp_path / "mnt").resolve()}/journal.sqlite3"' in text
    assert "kiosk/journal.sqlite3" not in text
    pytest.importorskip("tomllib").loads(text)


def _config(tmp_path: Path, timers: str) -> Path:
    """The daemon config a campaign kiosk writes with `timers`, as a file."""
    from kioskd.proving.campaigns.powercut.campaign import PowerCutKiosk

    k = PowerCutKiosk(tmp_path / timers, tmp_path / "mnt", timers=timers)
    k.workdir.mkdir()

    class _Addr:
        base_url = "http://127.0.0.1:1"
        uri = "tcp://127.0.0.1:2"

    k.server = k.printer = _Addr()  # type: ignore[assignment]
    k.config_path.write_text(k._config_text())
    return k.config_path


def test_shipped_timers_are_the_config_defaults_and_short_ones_are_shorter(tmp_path):
    """What the campaigns run with `policy="shipped"` is what a shop's config gets."""
    from kioskd.config import load_config

    shipped = load_config(_config(tmp_path, "shipped"))
    short = load_config(_config(tmp_path, "short"))
    defaults = load_config(Path(__file__).parents[2] / "config" / "kioskd.toml")
    for section, names in {
        "api": ("connect_timeout_s", "read_timeout_s"),
        "offline": ("create_max_age_s", "pay_max_age_s", "max_queued", "max_queued_amount"),
        "reconcile": ("quiet_period_s", "probes", "probe_interval_s"),
        "printer": ("timeout_s",),
    }.items():
        for name in names:
            want = getattr(getattr(defaults, section), name)
            assert getattr(getattr(shipped, section), name) == want, (section, name)
    assert short.reconcile.quiet_period_s < shipped.reconcile.quiet_period_s
    assert short.api.read_timeout_s < shipped.api.read_timeout_s
