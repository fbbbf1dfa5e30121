"""The journal's files made immutable or deleted under the running daemon (real SQLite files,
`chattr +i`): never a silent death (the -shm case was a SIGBUS), never sales going on while
writes or checkpoints fail; said, shown, refused, and healed once the file is usable again.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.flows.conftest import running_kiosk, texts

pytestmark = [
    pytest.mark.skipif(shutil.which("chattr") is None, reason="needs e2fsprogs chattr"),
    pytest.mark.skipif(os.geteuid() != 0, reason="chattr +i needs root"),
]


def chattr(flag: str, path) -> bool:
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.fixture
def disk_path() -> Iterator[Path]:
    """A folder on a disk file system, as the kiosk's journal is (ext4): the suite's temporary
    folder may be a tmpfs (tests/conftest.py), and a tmpfs file made immutable still takes the
    writes of a descriptor opened before, so the checkpoint's fault never comes."""
    base = Path(tempfile.mkdtemp(prefix="kioskd-immutable-", dir="/var/tmp"))
    try:
        yield base
    finally:
        subprocess.run(["chattr", "-R", "-i", str(base)], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("journal.sqlite3", "io"), ("journal.sqlite3-shm", "readonly")],
)
async def test_an_immutable_journal_file_is_a_visible_fault_that_heals(
    disk_path, name, kind, monkeypatch
):
    tmp_path = disk_path
    # The hourly checkpoint runs once the WAL has grown (HOUSEKEEPING_CHECKPOINT_BYTES, about
    # ten sales): here it has, whatever its size.
    monkeypatch.setattr("kioskd.outbox.outbox.HOUSEKEEPING_CHECKPOINT_BYTES", 1)
    async with running_kiosk(tmp_path) as kiosk:
        await kiosk.sell("+1.341.20\n\n")
        target = tmp_path / name
        if not chattr("+i", target):
            pytest.skip(f"the file system of {tmp_path} has no immutable flag")
        try:
            kiosk.daemon.outbox.housekeeping()  # the checkpoint a shift runs every few minutes
            await kiosk.wait_for(lambda: kiosk.daemon.status()["journal"] != "ok")
            assert kiosk.daemon.status()["journal"].startswith(kind)
            assert kiosk.lights()["state"] == "attention"
            kiosk.type("+6.12.10\n\n")
            slip = await kiosk.slip("rejected")
            assert "Registro del terminal con falla" in texts(slip)
            assert len(kiosk.tickets()) == 1
        finally:
            chattr("-i", target)
        await kiosk.wait_for(lambda: kiosk.daemon.status()["journal"] == "ok", 10)
        await kiosk.sell("+6.12.10\n\n")
        assert len(kiosk.tickets()) == 2
        assert not kiosk.task.done()


async def test_a_deleted_wal_stops_money_and_says_so(tmp_path):
    async with running_kiosk(tmp_path) as kiosk:
        await kiosk.sell("+1.341.20\n\n")
        os.unlink(tmp_path / "journal.sqlite3-wal")
        kiosk.type("+6.12.10\n\n")
        slip = await kiosk.slip("rejected")
        assert "Registro del terminal con falla" in texts(slip)
        await kiosk.wait_for(lambda: kiosk.daemon.status()["journal"] != "ok")
        status = kiosk.daemon.status()
        assert "-wal file vanished" in status["journal"] and status["state"] == "attention"
        await asyncio.sleep(1.0)
        assert len(kiosk.tickets()) == 1 and not kiosk.task.done()
