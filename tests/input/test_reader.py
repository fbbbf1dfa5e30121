"""InputSource against a fake /dev/input tree: hotplug, grab, teardown, replay, no PINs in logs."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from evdev import ecodes as e

from kioskd.input.decoder import Token
from kioskd.input.devices import EvtestOpener, list_devices
from kioskd.input.evtest import InputEvent, KeyScript, format_header
from kioskd.input.reader import (
    CLOSED,
    GONE,
    GRAB_FAILED,
    GRABBED,
    OPEN,
    DeviceState,
    InputSource,
    SourceConfig,
)
from kioskd.proving.harness import KEYPAD_HEADER, keypad_events

from .fakes import KEYPAD, SCANNER, FakeTree, until

BY_ID = "usb-Datalogic_Handheld_Barcode_Scanner_S123-event-kbd"


def typed(text: str, t0: float = 1_729_587_036.0) -> str:
    script = KeyScript(t0)
    for char in text:
        if char == "\n":
            script.tap(e.KEY_ENTER)
        elif char.isupper():
            script.tap(getattr(e, f"KEY_{char}"), e.KEY_LEFTSHIFT)
        else:
            script.tap(getattr(e, f"KEY_{char.upper()}"))
    return script.text()


async def next_token(source: InputSource, guard_s: float = 10.0):
    stream = source.tokens()
    return await asyncio.wait_for(anext(stream), guard_s)


async def test_replugged_device_is_read_again_through_its_by_id_path(tree: FakeTree) -> None:
    opener = EvtestOpener()
    states: list[DeviceState] = []
    config = SourceConfig(device=str(tree.base / "by-id" / BY_ID), gap_s=None)
    # Long rescan/retry: only the inotify watch can notice the devices in time.
    source = InputSource(
        config, base_dir=tree.base, opener=opener, on_state=states.append, rescan_s=60
    )
    tree.plug(2, KEYPAD, "usb-Other-event-kbd")  # another device: never opened
    async with source:
        assert source._watcher is not None and source._watcher.uses_inotify
        tree.plug(3, SCANNER, BY_ID)
        await until(lambda: source.states.get(str(tree.base / "event3")) == GRABBED)
        tree.type(3, typed("Abc\n"))
        token = await next_token(source)
        assert (token.text, token.device) == ("Abc", str(tree.base / "by-id" / BY_ID))

        tree.unplug(3)
        await until(lambda: source.states.get(str(tree.base / "event3")) == GONE)
        assert opener.nodes[0].log == ["grab", "ungrab", "close"]

        tree.plug(7, SCANNER, BY_ID)  # same device, new eventN
        await until(lambda: source.states.get(str(tree.base / "event7")) == GRABBED)
        tree.type(7, typed("Def\n"))
        token = await next_token(source)
        assert token.text == "Def"
    assert [os.path.basename(n.path) for n in opener.nodes] == ["event3", "event7"]
    assert opener.nodes[1].log == ["grab", "ungrab", "close"]
    assert source.states[str(tree.base / "event7")] == CLOSED
    assert (str(tree.base / "event3"), GONE) in [(s.path, s.state) for s in states]


async def test_grab_waits_until_no_key_is_held(tree: FakeTree) -> None:
    opener = EvtestOpener()
    opener.held_at_open["event4"] = [e.KEY_LEFTSHIFT]
    tree.plug(4, SCANNER)
    async with InputSource(
        SourceConfig(device="05f9:2206", gap_s=None), base_dir=tree.base, opener=opener
    ) as source:
        path = str(tree.base / "event4")
        await until(lambda: source.states.get(path) == OPEN)
        node = opener.nodes[0]
        # Shift still held: typing goes on (upper case), but no grab yet.
        tree.type(4, KeyScript().tap(e.KEY_A).tap(e.KEY_ENTER).text())
        assert (await next_token(source)).text == "A"
        assert node.log == []
        tree.type(4, KeyScript(1_729_587_037.0).key(e.KEY_LEFTSHIFT, 0).text())
        await until(lambda: source.states.get(path) == GRABBED)
        assert node.log == ["grab"]


async def test_grab_failure_is_a_device_state_and_reading_goes_on(tree: FakeTree) -> None:
    opener = EvtestOpener()
    opener.grab_error["event5"] = errno.EBUSY
    states: list[DeviceState] = []
    tree.plug(5, SCANNER)
    config = SourceConfig(device="name:*barcode scanner", gap_s=None, label="scanner")
    async with InputSource(
        config, base_dir=tree.base, opener=opener, on_state=states.append
    ) as source:
        await until(lambda: any(s.state == GRAB_FAILED for s in states))
        tree.type(5, typed("ok\n"))
        assert (await next_token(source)).text == "ok"
    failed = [s for s in states if s.state == GRAB_FAILED]
    assert failed[0].label == "scanner" and failed[0].detail


async def test_open_error_means_not_yet(tree: FakeTree) -> None:
    class FlakyOpener(EvtestOpener):
        fails = 2

        def open(self, path: str):
            if self.fails:
                self.fails -= 1
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return super().open(path)

    opener = FlakyOpener()
    tree.plug(1, SCANNER)
    async with InputSource(
        SourceConfig(device="05f9:2206", gap_s=None),
        base_dir=tree.base,
        opener=opener,
        retry_s=0.05,
    ) as source:
        await until(lambda: source.states.get(str(tree.base / "event1")) == GRABBED)
        assert opener.fails == 0
        tree.type(1, typed("x\n"))
        assert (await next_token(source)).text == "x"


async def test_gap_ends_a_live_scan_without_terminator(tree: FakeTree) -> None:
    tree.plug(6, SCANNER)
    async with InputSource(
        SourceConfig(device="05f9:2206", gap_s=0.05), base_dir=tree.base, opener=EvtestOpener()
    ) as source:
        await until(lambda: bool(source._nodes))
        tree.type(6, typed("abc", t0=1000.0))  # old timestamps: the gap runs on arrival time
        token = await next_token(source)
        assert (token.text, token.end) == ("abc", "gap")


async def test_fifo_replay_survives_writers_closing(tmp_path: Path) -> None:
    fifo = tmp_path / "scanner.fifo"
    os.mkfifo(fifo)
    async with InputSource(SourceConfig(device=f"replay:{fifo}", gap_s=None)) as source:
        await until(lambda: source.states.get(str(fifo)) == OPEN)
        text = typed("Hello\nWorld\n")
        half = len(text) // 2
        for part in (text[:half], text[half:]):  # two writers, one after the other
            fd = os.open(fifo, os.O_WRONLY)
            os.write(fd, part.encode())
            os.close(fd)
        stream = source.tokens()
        got = [(await asyncio.wait_for(anext(stream), 10)).text for _ in range(2)]
        assert got == ["Hello", "World"]


async def test_replay_file_ends_the_stream(tmp_path: Path) -> None:
    capture = tmp_path / "capture.evtest"
    capture.write_text(format_header(SCANNER) + typed("One\nTwo"))
    async with InputSource(SourceConfig(device=f"replay:{capture}", gap_s=0.1)) as source:
        texts = [t.text async for t in source.tokens()]
    assert texts == ["One", "Two"]


async def test_keypad_digits_never_reach_the_logs(
    tree: FakeTree, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tree.plug(8, KEYPAD)
    script = KeyScript()
    for code in (e.KEY_KP7, e.KEY_KP3, e.KEY_KP9, e.KEY_KP1, e.KEY_KPENTER):
        script.tap(code)
    async with InputSource(
        SourceConfig(device="1a2c:0e24", role="keypad"), base_dir=tree.base, opener=EvtestOpener()
    ) as source:
        await until(lambda: bool(source._nodes))
        tree.type(8, script.text())
        stream = source.tokens()
        tokens = [await asyncio.wait_for(anext(stream), 10) for _ in range(5)]
        logging.getLogger("test").info("tokens: %r", tokens)  # as a careless caller would
    assert [t.key for t in tokens] == ["7", "3", "9", "1", "Enter"]
    assert caplog.records  # device states were logged
    logged = caplog.text
    assert "grabbed" in logged
    assert "key=<redacted>" in logged
    assert not re.search(r"""(key|text)=['"]?[0-9]""", logged)
    assert "7391" not in logged


def test_list_devices_for_doctor(tree: FakeTree) -> None:
    tree.plug(2, SCANNER, BY_ID)
    tree.plug(3, KEYPAD)
    rows = list_devices(
        tree.base,
        {"scanner": str(tree.base / "by-id" / BY_ID), "keypad": "name:SEM*"},
        opener=EvtestOpener(),
    )
    assert [(r["vendor_product"], r["roles"]) for r in rows] == [
        ("05f9:2206", ["scanner"]),
        ("1a2c:0e24", ["keypad"]),
    ]
    assert rows[0]["by_id"] == [str(tree.base / "by-id" / BY_ID)]
    assert rows[0]["name"] == SCANNER.name


async def test_two_scanners_at_once_keep_their_scans_apart(tree: FakeTree) -> None:
    tree.plug(2, SCANNER, "usb-scanner-one-event-kbd")
    tree.plug(3, SCANNER, "usb-scanner-two-event-kbd")
    async with InputSource(
        SourceConfig(device="05f9:2206", gap_s=None), base_dir=tree.base, opener=EvtestOpener()
    ) as source:
        await until(lambda: len(source._nodes) == 2)
        one = typed("Aaaa\n").splitlines(keepends=True)
        two = typed("Bbbb\n", t0=1_729_587_036.001).splitlines(keepends=True)
        for line_one, line_two in zip(one, two, strict=True):  # interleaved, line by line
            tree.type(2, line_one)
            tree.type(3, line_two)
        stream = source.tokens()
        got = {(await asyncio.wait_for(anext(stream), 10)) for _ in range(2)}
    assert {(t.text, os.path.basename(t.device)) for t in got} == {
        ("Aaaa", "usb-scanner-one-event-kbd"),
        ("Bbbb", "usb-scanner-two-event-kbd"),
    }


async def test_after_syn_dropped_the_reader_asks_the_device_which_keys_are_down(
    tree: FakeTree,
) -> None:
    opener = EvtestOpener()
    tree.plug(4, SCANNER)
    async with InputSource(
        SourceConfig(device="05f9:2206", gap_s=None), base_dir=tree.base, opener=opener
    ) as source:
        await until(lambda: bool(source._nodes))
        opener.nodes[0].held_at_open = [e.KEY_LEFTSHIFT]  # what EVIOCGKEY will answer now
        tree.type(4, KeyScript().tap(e.KEY_A).dropped().tap(e.KEY_B).tap(e.KEY_ENTER).text())
        stream = source.tokens()
        dropped = await asyncio.wait_for(anext(stream), 10)
        scan = await asyncio.wait_for(anext(stream), 10)
    assert (dropped.error, scan.text) == ("dropped", "B")


@pytest.mark.parametrize("code", [2**32 - 7, 2**32 - 8, 2**40, e.KEY_MAX + 1])
async def test_an_impossible_key_code_is_refused_and_reading_goes_on(
    tree: FakeTree, caplog, code: int
) -> None:
    """A key code no keyboard has (a corrupt capture, a broken driver) is refused and logged;
    the reader task keeps running and the scan around it comes out whole."""
    caplog.set_level(logging.WARNING, logger="kioskd")
    tree.plug(6, SCANNER)
    bad = KeyScript(1_729_587_036.5).key(code, 1).key(code, 0).text()
    async with InputSource(
        SourceConfig(device="05f9:2206", gap_s=None), base_dir=tree.base, opener=EvtestOpener()
    ) as source:
        await until(lambda: bool(source._nodes))
        tree.type(6, typed("Ab", t0=1_729_587_036.0) + bad + typed("c\n", t0=1_729_587_037.0))
        token = await next_token(source)
        assert (token.text, token.error) == ("Abc", None)
        tree.type(6, typed("Def\n", t0=1_729_587_038.0))
        assert (await next_token(source)).text == "Def"
    assert any("impossible key code refused" in r.getMessage() for r in caplog.records)


def keypad_fifo(tmp_path: Path) -> tuple[Path, SourceConfig]:
    """A replay FIFO configured as the daemon configures the keypad (`config.input_sources`)."""
    fifo = tmp_path / "keypad.fifo"
    os.mkfifo(fifo)
    return fifo, SourceConfig(device=f"replay:{fifo}", role="keypad", gap_s=None, label="keypad")


async def test_a_sale_typed_into_the_keypad_fifo_comes_out_key_by_key(tmp_path: Path) -> None:
    fifo, config = keypad_fifo(tmp_path)
    t0 = 1_760_000_000.0
    async with InputSource(config) as source:
        await until(lambda: source.states.get(str(fifo)) == OPEN)
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, (KEYPAD_HEADER + keypad_events("+1.123.1\n\n", t0)).encode())  # one batch
        os.close(fd)
        tokens = [await next_token(source) for _ in range(10)]  # a new generator each time
    assert [t.key for t in tokens] == ["+", "1", ".", "1", "2", "3", ".", "1", "Enter", "Enter"]
    assert [t.text for t in tokens] == ["+", "1", ".", "1", "2", "3", ".", "1", "\r", "\r"]
    downs = [round(t0 + 0.02 * (2 * i + 1), 6) for i in range(10)]
    assert [round(t.t_first, 6) for t in tokens] == downs
    assert all(t.t_last == t.t_first and t.device == str(fifo) for t in tokens)


async def test_the_tokens_before_a_failure_come_out_then_the_failure(tmp_path: Path) -> None:
    fifo, config = keypad_fifo(tmp_path)
    source = InputSource(config)
    await source.start()
    try:
        await until(lambda: source.states.get(str(fifo)) == OPEN)
        decoder = source._nodes[str(fifo)].decoder
        feed, presses = decoder.feed, []

        def failing_feed(event: InputEvent) -> Sequence[Token]:
            if event.type == 1 and event.value == 1:
                presses.append(event.code)
                if len(presses) == 3:
                    raise RuntimeError("decoder broke")
            return feed(event)

        decoder.feed = failing_feed  # type: ignore[method-assign]
        fd = os.open(fifo, os.O_WRONLY)
        os.write(fd, keypad_events("12345", 1000.0).encode())  # one batch
        os.close(fd)
        stream = source.tokens()
        assert (await anext(stream)).key == "1"
        assert (await next_token(source)).key == "2"  # kept for the next reader of the source
        with pytest.raises(RuntimeError, match="decoder broke"):
            await next_token(source)
    finally:
        with contextlib.suppress(RuntimeError):  # the failed task's error, once more
            await source.aclose()
