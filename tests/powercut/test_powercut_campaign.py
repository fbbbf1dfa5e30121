"""The power-cut campaign against the real `kioskd run` process, and its teeth."""

from __future__ import annotations

from pathlib import Path

import pytest

from kioskd.proving.campaigns.powercut.campaign import run_campaign

from .conftest import needs_fuse

BROKEN = Path(__file__).parent / "broken_sync"


@needs_fuse
def test_twenty_power_cuts_lose_and_duplicate_nothing():
    result = run_campaign(20, seed=7)  # system temp: AF_UNIX paths must be short
    assert result.cuts >= 20
    assert result.operations > 0
    assert result.violations == [], result.violations
    assert result.summary().endswith(" 0 violations")


@needs_fuse
def test_teeth_a_journal_with_synchronous_off_is_caught(monkeypatch):
    """The same campaign with the journal's connection switched to synchronous=OFF (a
    sitecustomize hook on the daemon's PYTHONPATH; the journal code is untouched) fails."""
    monkeypatch.setenv("PYTHONPATH", str(BROKEN))
    result = run_campaign(6, seed=3)
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
