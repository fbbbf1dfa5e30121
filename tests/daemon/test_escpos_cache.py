"""A torn python-escpos capabilities cache (a power cut while escpos wrote it) must not stop
the daemon from starting: escpos itself would fail at import."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

from kioskd.daemon.daemon import _escpos_capabilities_cache


def test_torn_cache_is_removed_and_escpos_imports(tmp_path, monkeypatch):
    monkeypatch.delenv("ESCPOS_CAPABILITIES_PICKLE_DIR", raising=False)
    torn = tmp_path / f"{platform.python_version()}.capabilities.pickle"
    torn.write_bytes(b"")  # what the power-cut filesystem left
    _escpos_capabilities_cache(str(tmp_path))
    assert not torn.exists()
    assert os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] == str(tmp_path)
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path)}
    ok = subprocess.run([sys.executable, "-c", "import escpos.printer"], env=env, timeout=60)
    assert ok.returncode == 0
    assert torn.exists()  # escpos wrote a fresh cache, which now loads
    _escpos_capabilities_cache(str(tmp_path))
    assert torn.exists()


def test_escpos_itself_fails_on_a_torn_cache(tmp_path):
    """The hazard the guard is for (so the test above has teeth)."""
    (tmp_path / f"{platform.python_version()}.capabilities.pickle").write_bytes(b"")
    # Make the torn file newer than escpos's YAML so escpos trusts it.
    env = {**os.environ, "ESCPOS_CAPABILITIES_PICKLE_DIR": str(tmp_path)}
    bad = subprocess.run(
        [sys.executable, "-c", "import escpos.printer"], env=env, timeout=60, capture_output=True
    )
    assert bad.returncode != 0
    assert b"EOFError" in bad.stderr
