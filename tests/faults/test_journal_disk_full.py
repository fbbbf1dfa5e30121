"""The journal's disk fills up during a shift (a real tmpfs, in a private mount namespace of the
real `kioskd run` process): the sale is refused naming the full disk, the fault is logged once
and shown by `kioskctl status`; once space is freed the next sale succeeds without a restart.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from kioskd.proving.harness import VirtualKiosk
from tests.mountns import needs_mount_namespace

MOUNT = "/var/tmp/kioskd-faults-small"  # exists only inside the daemon's mount namespace
pytestmark = needs_mount_namespace()


def small_disk(size: str) -> list[str]:
    """A command prefix: a private mount namespace with a tmpfs of `size` at MOUNT."""
    script = f'mkdir -p {MOUNT} && mount -t tmpfs -o size={size} kioskd-small {MOUNT} && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]


def fill(root: Path) -> Path:
    """Write until the file system says it is full; returns the filler file."""
    filler = root / "filler"
    # The suppress outside the file: closing flushes what a last, partial write left in the
    # buffer, and that fails with ENOSPC too.
    with contextlib.suppress(OSError), open(filler, "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()
    return filler


def printed_text(k: VirtualKiosk) -> str:
    with k.printer.core.lock:
        return bytes(k.printer.core.printed).decode("cp858", errors="replace")


def test_disk_full_refuses_with_the_reason_and_heals_when_space_returns(tmp_path):
    k = VirtualKiosk(tmp_path / "k", journal_path=f"{MOUNT}/journal.sqlite3")
    with k:
        k.start_daemon(wrap=small_disk("3m"))
        k.wait_catalog()
        theirs = Path(f"/proc/{k.proc.pid}/root{MOUNT}")  # the daemon's view of its tmpfs
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: len(k.sim.ledger()["tickets"]) == 1)

        filler = fill(theirs)
        k.type("+6.12.10\n\n")
        k.wait_for(lambda: "disco lleno" in printed_text(k), 20)
        k.wait_for(lambda: k.status()["journal"] != "ok")
        status = k.status()
        assert status["journal"].startswith("full") and status["state"] == "attention"
        assert len(k.sim.ledger()["tickets"]) == 1
        time.sleep(3)  # a few heal attempts while still full
        log = k.log_path.read_text()
        said = [
            line
            for line in log.splitlines()
            if "MESSAGE_ID=030e39511fb54981a89f7beef9cd0cae" in line
        ]
        assert len(said) == 1 and "journal cannot be written (full)" in said[0]

        filler.unlink()
        cleared = time.monotonic()
        k.wait_for(lambda: k.status()["journal"] == "ok", 10)
        assert time.monotonic() - cleared < 10
        k.type("+6.12.10\n\n")
        k.wait_for(lambda: len(k.sim.ledger()["tickets"]) == 2, 10)
        assert k.status()["state"] == "ready"
        assert "journal writable again" in k.log_path.read_text()
