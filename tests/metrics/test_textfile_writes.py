"""Issue 19: the textfile is rewritten only when what it shows changed, or once it is
`textfile_max_age_s` old (an SD card wears with each rewrite); the reading time and other
values that move on their own do not cause a write."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from kioskd.config import MetricsConfig
from kioskd.daemon import metrics as m


async def test_unchanged_metrics_are_not_rewritten_until_they_age(tmp_path, monkeypatch) -> None:
    cfg = MetricsConfig(textfile_dir=str(tmp_path), listen="", textfile_max_age_s=60.0)
    clock = {"t": 1000.0}
    monkeypatch.setattr(m.time, "monotonic", lambda: clock["t"])
    metrics = m.Metrics(lambda: cfg, terminal_id="t-1", version="1", now=lambda: 5.0)
    path = tmp_path / m.TEXTFILE_NAME
    snap = {"taken_at": 1.0, "journal_bytes": 10, "lights": "ready"}

    def take() -> m.Snapshot:
        return m.Snapshot(**snap)  # type: ignore[arg-type]

    writes: list[bytes] = []
    real = metrics.write_textfile

    def counted(directory: str, data: bytes | None = None) -> str:
        writes.append(data or b"")
        return real(directory, data)

    monkeypatch.setattr(metrics, "write_textfile", counted)
    await metrics._refresh(take)
    for i in range(5):  # time passes, the journal grows: nothing an operator would see
        clock["t"] += 5
        snap["taken_at"] = 2.0 + i
        snap["journal_bytes"] = 20 + i
        await metrics._refresh(take)
    assert len(writes) == 1  # not rewritten
    snap["lights"] = "offline"  # a state change is written at once
    await metrics._refresh(take)
    assert len(writes) == 2 and b'kioskd_lights{state="offline"} 1.0' in path.read_bytes()
    clock["t"] += 61  # ... and an unchanged file once it is a minute old
    await metrics._refresh(take)
    assert len(writes) == 3 and b"kioskd_journal_size_bytes 24.0" in path.read_bytes()


async def test_unchanged_metrics_are_not_even_rendered(tmp_path, monkeypatch) -> None:
    """Issue 19 (CPU): with no counter moved and the same steady gauges, a refresh renders
    nothing; a counter that moved (an API exchange) or a gauge that changed renders and writes."""
    cfg = MetricsConfig(textfile_dir=str(tmp_path), listen="", textfile_max_age_s=60.0)
    clock = {"t": 1000.0}
    monkeypatch.setattr(m.time, "monotonic", lambda: clock["t"])
    metrics = m.Metrics(lambda: cfg, terminal_id="t-1", version="1", now=lambda: 5.0)
    snap = {"taken_at": 1.0, "journal_bytes": 10, "catalog_age_s": 3.0, "lights": "ready"}
    renders: list[int] = []
    real_render = metrics.render

    def counted() -> bytes:
        renders.append(1)
        return real_render()

    monkeypatch.setattr(metrics, "render", counted)

    def take() -> m.Snapshot:
        return m.Snapshot(**snap)  # type: ignore[arg-type]

    await metrics._refresh(take)
    assert len(renders) == 1
    for i in range(5):  # the volatile fields move: no rendering at all
        clock["t"] += 5
        snap["taken_at"], snap["journal_bytes"], snap["catalog_age_s"] = 2.0 + i, 20 + i, 9.0 + i
        await metrics._refresh(take)
    assert len(renders) == 1
    metrics.observe_exchange("/user/ticket/create", 0.02, "ok")  # a counter moved
    await metrics._refresh(take)
    assert len(renders) == 2
    text = (tmp_path / m.TEXTFILE_NAME).read_text()
    assert 'kioskd_api_request_duration_seconds_count{endpoint="/user/ticket/create"} 1.0' in text
    snap["lights"] = "offline"  # a steady gauge changed
    await metrics._refresh(take)
    assert (
        len(renders) == 3
        and 'kioskd_lights{state="offline"} 1.0' in (tmp_path / m.TEXTFILE_NAME).read_text()
    )
    clock["t"] += 61  # the file aged: rendered and rewritten although nothing changed
    await metrics._refresh(take)
    assert len(renders) == 4


def test_the_file_is_readable_by_all_under_the_units_umask_and_leaves_nothing(tmp_path) -> None:
    """node-exporter runs as another user: 0644 although the unit runs with UMask=0077; each
    write replaces the file whole through a temporary name that does not stay behind."""
    import os
    import stat

    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    old = os.umask(0o077)
    try:
        for value in (b"a 1.0\n" * 5000, b"b 2.0\n"):  # a big file, then a small one over it
            path = metrics.write_textfile(str(tmp_path), value)
            assert Path(path).read_bytes() == value
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert os.listdir(tmp_path) == [m.TEXTFILE_NAME]
    with pytest.raises(FileNotFoundError):  # a missing folder fails the write (told once)
        metrics.write_textfile(str(tmp_path / "gone"), b"x 1.0\n")


def test_a_folder_in_memory_is_told_from_one_on_a_disk(tmp_path: Path) -> None:
    """Issue 19 (CPU per sale): the loop writes the textfile itself only on tmpfs or ramfs;
    the folder's mount is the longest mount point above its real path, names unescaped."""
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/root / ext4 rw 0 0\n"
        "tmpfs /run tmpfs rw,nosuid 0 0\n"
        "/dev/sda1 /run/usb\\040stick vfat rw 0 0\n"
        "tmpfs /srv/a\\040b tmpfs rw 0 0\n"
        "short line\n"
    )
    linked = tmp_path / "link"
    linked.symlink_to("/run/kioskd-metrics")
    assert m.memory_backed("/run/kioskd-metrics", str(mounts))
    assert m.memory_backed(str(linked), str(mounts))  # where the link points
    assert not m.memory_backed("/run/usb stick/metrics", str(mounts))  # a disk under /run
    assert m.memory_backed("/srv/a b", str(mounts))
    assert not m.memory_backed("/srv/a bc", str(mounts))  # a prefix is not a parent
    assert not m.memory_backed("/var/lib/prometheus/node-exporter", str(mounts))
    assert not m.memory_backed("/run", str(tmp_path / "missing"))  # unknown: a worker writes


async def test_the_textfile_on_tmpfs_is_written_without_a_worker(monkeypatch) -> None:
    """On tmpfs (as shipped) the loop writes the file; on a disk a worker thread does, so a
    slow SD card never stalls the loop."""
    handed: list[str] = []
    real_to_thread = m.asyncio.to_thread

    async def to_thread(function, *args):  # type: ignore[no-untyped-def]
        handed.append(function.__name__)
        return await real_to_thread(function, *args)

    monkeypatch.setattr(m.asyncio, "to_thread", to_thread)
    shm = Path("/dev/shm")
    if not m.memory_backed(str(shm)):
        pytest.skip("/dev/shm is not a tmpfs on this machine")
    disks = [d for d in ("/var/tmp", str(Path(__file__).parent)) if not m.memory_backed(d)]
    if not disks:
        pytest.skip("no folder on a disk here (the tests' own temporary folder is on tmpfs)")
    folders = {
        "memory": Path(tempfile.mkdtemp(prefix="kioskd-test-", dir=shm)),
        "disk": Path(tempfile.mkdtemp(prefix="kioskd-test-", dir=disks[0])),
    }
    try:
        for where, folder in folders.items():
            cfg = MetricsConfig(textfile_dir=str(folder), listen="")
            metrics = m.Metrics(lambda c=cfg: c, terminal_id="t-1", version="1", now=lambda: 5.0)
            await metrics._refresh(lambda: m.Snapshot(lights="ready"))  # type: ignore[call-arg]
            assert (folder / m.TEXTFILE_NAME).read_bytes().startswith(b"# HELP"), where
            assert handed == ([] if where == "memory" else ["_write"]), where
    finally:
        for folder in folders.values():
            shutil.rmtree(folder, ignore_errors=True)
