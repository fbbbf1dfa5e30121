"""Issue 19: `kioskctl queue` is read and encoded in the journal reader's thread, through a
connection of its own, and answers exactly what the writer connection would."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from kioskd.daemon import control
from kioskd.daemon.control_handler import ControlHandler
from kioskd.journal import states
from kioskd.journal.reader import JournalReader, encode, queue_listing
from kioskd.journal.store import Journal, JournalError
from kioskd.proving.history import fill

DAY = 86400.0


@pytest.fixture
def filled(tmp_path: Path):
    j = Journal(tmp_path / "j.sqlite3", retention_days=3650)
    fill(j, days=4, per_day=120, end=time.time() - 60)
    now = time.time()
    open_id = j.add("create", {"wagers": []}, amount=5, deadline=now + 60, now=now)
    for _ in range(40):  # a history longer than the listing shows
        j.note(open_id, "probe", now=now, detail={"saw": "nothing"})
    yield j
    j.close()


async def test_the_reader_lists_what_the_writer_lists(filled) -> None:
    reader = JournalReader(filled.path)
    try:
        for kwargs in (
            {},
            {"limit": 200},
            {"states_in": ("rejected",), "limit": 50},
            {"since": time.time() - DAY, "limit": 500},
            {"states_in": (states.QUEUED, states.SENDING)},
        ):
            mine = await reader.run(lambda r, kw=kwargs: queue_listing(r, **kw))
            assert mine == queue_listing(filled, **kwargs), kwargs
        page = queue_listing(filled, limit=30)
        after = await reader.run(lambda r: queue_listing(r, limit=30, before=page[-1]["id"]))
        assert after == queue_listing(filled, limit=30, before=page[-1]["id"])
        assert not {op["id"] for op in after} & {op["id"] for op in page}
        first = page[0]
        assert first["state"] == states.QUEUED and first["history_total"] > 40
    finally:
        reader.close()


async def test_reads_run_in_the_readers_thread_in_one_snapshot(filled) -> None:
    reader = JournalReader(filled.path)
    seen: list[str] = []

    def listing(r: JournalReader) -> tuple[int, int]:
        seen.append(threading.current_thread().name)
        before = len(r.settled(limit=10_000))
        # The loop's writer commits meanwhile: this read transaction does not see it.
        done = asyncio.run_coroutine_threadsafe(write(), loop).result(5)
        assert done
        return before, len(r.settled(limit=10_000))

    async def write() -> bool:
        now = time.time()
        op = filled.add("create", {"wagers": []}, amount=1, deadline=now + 60, now=now)
        filled.transition(op, states.EXPIRE, now=now, history_kind="decision")
        return True

    loop = asyncio.get_running_loop()
    try:
        before, during = await reader.run(listing)
        assert seen and seen[0].startswith("journal-reader")
        assert seen[0] != threading.current_thread().name
        assert during == before  # one snapshot
        after = await reader.run(lambda r: len(r.settled(limit=10_000)))
        assert after == before + 1  # the next read sees the commit
    finally:
        reader.close()


async def test_the_reader_never_writes(filled) -> None:
    reader = JournalReader(filled.path)
    try:
        with pytest.raises(JournalError, match=r"readonly|read-only|query_only"):
            await reader.run(lambda r: r._read("DELETE FROM operations", ()))
        assert filled.counts()[states.DONE] > 0
    finally:
        reader.close()


async def test_a_journal_it_cannot_open_is_a_clear_error(tmp_path: Path) -> None:
    reader = JournalReader(str(tmp_path / "missing" / "j.sqlite3"))
    try:
        with pytest.raises(JournalError, match="journal read failed"):
            await reader.run(lambda r: queue_listing(r))
    finally:
        reader.close()


async def test_kioskctl_queue_is_answered_from_the_reader(
    filled, tmp_path: Path, monkeypatch
) -> None:
    """Through the real control socket: the answer is the listing, byte for byte what the
    server would have encoded, and it was built off the loop's thread."""
    daemon = SimpleNamespace(journal=filled)
    handler = ControlHandler(daemon)  # type: ignore[arg-type]
    threads: list[str] = []
    real = queue_listing

    def spy(source, *a, **kw):
        threads.append(threading.current_thread().name)
        return real(source, *a, **kw)

    monkeypatch.setattr("kioskd.journal.reader.queue_listing", spy)
    async with control.ControlServer(tmp_path / "c.sock", handler) as srv:
        got = await asyncio.to_thread(control.call, srv.path, "queue", {"limit": 200})
        assert got == json.loads(encode(queue_listing(filled, limit=200)))
        assert len(got) == 201  # the open operation, then 200 settled
        bad = asyncio.to_thread(control.call, srv.path, "queue", {"state": "nonsense"})
        with pytest.raises(control.ControlError, match="unknown state"):
            await bad
    assert threads and all(t.startswith("journal-reader") for t in threads)
    assert handler._reader is None  # closed with the server
