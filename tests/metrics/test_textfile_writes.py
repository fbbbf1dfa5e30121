"""Issue 19: the textfile is rewritten only when what it shows changed, or once it is
`textfile_max_age_s` old (an SD card wears with each rewrite); the reading time and other
values that move on their own do not cause a write."""

from __future__ import annotations

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
