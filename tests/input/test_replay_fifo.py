"""The replay FIFO and replay files give the events the line-by-line reading gives.

`FifoReplayNode.read_events` reads what is in the FIFO and parses its whole lines in one go
(`parse_block`); what it must give is the stream read line by line: each ``\\n``-terminated line
decoded on its own (UTF-8, bad bytes replaced), `parse_line` on it, bad lines left out, a line
cut by a read kept for the next read.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kioskd.input.evtest import EvtestSyntaxError, InputEvent, KeyScript, parse_line, parse_lines
from kioskd.input.replay import FifoReplayNode, read_capture
from kioskd.proving.harness import KEYPAD_HEADER, keypad_events

from .test_evtest import CORPUS

CAPTURES = Path(__file__).resolve().parent.parent / "captures"


def line_by_line(stream: bytes) -> list[InputEvent]:
    """The events of the whole lines of `stream`, read the way the FIFO was always read."""
    lines = stream.split(b"\n")
    lines.pop()  # not a whole line (yet)
    events = []
    for line in lines:
        try:
            event = parse_line(line.decode("utf-8", "replace"))
        except EvtestSyntaxError:
            continue
        if event is not None:
            events.append(event)
    return events


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[FifoReplayNode, int]]:
    path = tmp_path / "keypad.fifo"
    os.mkfifo(path)
    node = FifoReplayNode(str(path))
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    yield node, writer
    os.close(writer)
    node.close()


def through(fifo: tuple[FifoReplayNode, int], pieces: list[bytes]) -> list[InputEvent]:
    node, writer = fifo
    events: list[InputEvent] = []
    for piece in pieces:
        if piece:  # nothing written: nothing to read (the loop would not call)
            os.write(writer, piece)
            events += node.read_events()
    return events


def test_a_sale_as_the_harness_types_it(fifo: tuple[FifoReplayNode, int]) -> None:
    sale = keypad_events("+1.123.1\n\n", 1_760_000_000.0).encode()
    events = through(fifo, [KEYPAD_HEADER.encode(), sale, sale])
    assert events == line_by_line(KEYPAD_HEADER.encode() + sale + sale)
    assert len(events) == 2 * 60
    plus = 78  # KEY_KPPLUS
    assert [(e.type, e.code, e.value) for e in events[:3]] == [
        (4, 4, 0x70000 + plus),
        (1, plus, 1),
        (0, 0, 0),
    ]


def test_lines_cut_by_reads_and_odd_bytes(fifo: tuple[FifoReplayNode, int]) -> None:
    stream = (
        KEYPAD_HEADER.encode()
        + KeyScript().type_text("a", _Us()).text().encode()
        + b"Event: time 1.5, type 1 (EV_\xc3\xa9KEY), code 30 (KEY_\xff), value 1\n"
        + b"Event: time 1.5, type 1 (\xe2\x82), code 30 (KEY_A), value 0\n"
        + "Event: time 1.5, type 1 (EV_KEY), code 30 (KEY_Ñ), value 2\n".encode()
        + b"Event: time 1.0, type one\n\n"
        + b"Event: time 2.0, -------------- SYN_REPORT ------------\n"
    )
    expected = line_by_line(stream)
    assert len(expected) == 3 * 2 + 3 + 1
    for size in (1, 2, 7, 61, 4096):
        pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert through(fifo, pieces) == expected
    assert through(fifo, [b"Event: time 3.0, -------------- SYN_REPORT ------------"]) == []
    assert through(fifo, [b"\n"]) == [InputEvent(3.0, 0, 0, 0)]


class _Us:
    """The one key the test types (a on ``us``), without building an XKB layout."""

    def keystrokes_for(self, char: str) -> tuple[int, tuple[int, ...]]:
        assert char == "a"
        return 30, ()


@settings(max_examples=50)
@given(
    st.lists(st.sampled_from(CORPUS), max_size=25),
    st.lists(st.integers(1, 200), min_size=1, max_size=8),
)
def test_any_stream_in_any_pieces_reads_as_line_by_line(
    tmp_path_factory: pytest.TempPathFactory, lines: list[str], cuts: list[int]
) -> None:
    stream = "".join(line + "\n" for line in lines).encode()
    pieces, at = [], 0
    for cut in cuts:
        pieces.append(stream[at : at + cut])
        at += cut
    pieces.append(stream[at:])
    path = tmp_path_factory.mktemp("fifo") / "f.fifo"
    os.mkfifo(path)
    node = FifoReplayNode(str(path))
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    try:
        assert through((node, writer), pieces) == line_by_line(stream)
    finally:
        os.close(writer)
        node.close()


@pytest.mark.parametrize(
    "capture", sorted(str(p.relative_to(CAPTURES)) for p in CAPTURES.rglob("*.evtest"))
)
def test_a_replay_file_reads_as_line_by_line(capture: str) -> None:
    path = CAPTURES / capture
    with open(path, encoding="utf-8", errors="replace") as handle:
        expected = list(parse_lines(handle))
    assert expected
    assert read_capture(str(path)) == expected


def test_a_bad_line_in_a_replay_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.evtest"
    syn = "Event: time 1.0, -------------- SYN_REPORT ------------\n"
    path.write_text(KEYPAD_HEADER + syn + "Event: time x\n" + syn)
    with pytest.raises(EvtestSyntaxError, match="line 6:"):
        read_capture(str(path))
