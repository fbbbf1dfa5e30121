"""Issue 19 (kind to SD cards): where kioskd.prom lives. The shipped default folder is on tmpfs
and is the one the package makes (tmpfiles.d), lets the unit write (ReadWritePaths) and links
from node-exporter's folder (the ExecStartPre helper); node-exporter, reading its own folder,
serves the file through that link with the file's own mtime (what KioskdNotReporting watches)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from kioskd.config import DEFAULT_TEXTFILE_DIR, NODE_EXPORTER_TEXTFILE_DIR, load_config
from kioskd.proving.harness import VirtualKiosk
from tests.metrics.conftest import value

REPO = Path(__file__).resolve().parents[2]


def test_the_default_folder_is_the_one_the_package_makes_and_links() -> None:
    shipped = load_config(REPO / "config" / "kioskd.toml")
    assert shipped.metrics.textfile_dir == DEFAULT_TEXTFILE_DIR == "/run/kioskd-metrics"
    # tmpfiles.d makes it at boot, kioskd's, readable by node-exporter's user.
    tmpfiles = (REPO / "systemd" / "kioskd.tmpfiles").read_text()
    assert re.search(
        rf"^d {re.escape(DEFAULT_TEXTFILE_DIR)}\s+0755 kioskd kioskd -$", tmpfiles, re.M
    )
    # /run is read-only under ProtectSystem=strict but for what the unit names.
    unit = (REPO / "systemd" / "kioskd.service").read_text()
    assert f"ReadWritePaths=-{DEFAULT_TEXTFILE_DIR}\n" in unit
    assert "ExecStartPre=+-/usr/libexec/kioskd-textfile-access\n" in unit
    # The helper links node-exporter's kioskd.prom to the file in that folder.
    helper = (REPO / "systemd" / "kioskd-textfile-access").read_text()
    assert f"DIR=${{KIOSKD_TEXTFILE_DIR:-{NODE_EXPORTER_TEXTFILE_DIR}}}" in helper
    assert f"TMPFS=${{KIOSKD_TEXTFILE_TMPFS:-{DEFAULT_TEXTFILE_DIR}}}" in helper
    assert 'ln -sfT "$TMPFS/kioskd.prom" "$DIR/kioskd.prom"' in helper


def test_node_exporter_serves_the_tmpfs_file_through_the_link(tmp_path, node_exporter) -> None:
    """The real daemon writes into a folder standing for /run/kioskd-metrics; node-exporter
    reads a folder standing for its own, holding only the link the helper makes."""
    with VirtualKiosk(tmp_path / "kiosk", timers="shipped", preview=False) as k:
        exporter_dir = tmp_path / "node-exporter"
        exporter_dir.mkdir()
        link = exporter_dir / "kioskd.prom"
        os.symlink(k.metrics_dir / "kioskd.prom", link)
        ne = node_exporter(exporter_dir)
        k.start_daemon()
        k.wait_catalog()
        cuts = k.printer.core.cuts
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: k.printer.core.cuts > cuts, 30)

        def sold() -> dict | None:
            s = ne.scrape()
            done = value(s, "kioskd_operations_total", kind="create", state="done")
            return s if done == 1 else None

        s = k.wait_for(sold, 30, poll_s=0.2)
        assert value(s, "node_textfile_scrape_error") == 0
        assert value(s, "kioskd_build_info", terminal_id="virtual-1", version=_version()) == 1
        # The age node-exporter reports is the tmpfs file's, under the link's name.
        real = k.metrics_dir / "kioskd.prom"
        assert link.is_symlink() and not real.is_symlink()
        mtime = value(s, "node_textfile_mtime_seconds", file=str(link))
        assert mtime is not None and abs(mtime - real.stat().st_mtime) < 1.0
        assert time.time() - mtime < 120


def _version() -> str:
    from kioskd import __version__

    return __version__
