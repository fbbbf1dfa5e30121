"""Decode evtest captures offline: one decoder per capture, events merged by time.

Rules:
- Each capture is one device (evtest prints one device), with its own `Decoder`; captures given
  together are merged by event time (stable: the first capture wins ties), as if the devices were
  plugged in at once. This is how "two devices interleaved" is replayed.
- Time only advances with the events: before each event, every other decoder whose gap deadline
  has passed is ticked, so gap-terminated scans come out in time order. At the end each decoder is
  finished (a scan still open ends as by its gap, or as ``incomplete`` when gaps are off).
- `decode_captures` is pure: callers pass lines (from files or anywhere) and get tokens.
- `FifoReplayNode` is the live side of ``replay:PATH`` on a FIFO; it looks like an input node
  to `kioskd.input.reader` (same queue, same decoder as a real device).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable, Iterator, Sequence

from kioskd.input.decoder import Decoder, DecoderConfig, Token
from kioskd.input.evtest import InputEvent, parse_block, parse_lines
from kioskd.input.xkb import Layout


def decode_captures(
    captures: Sequence[tuple[str, Iterable[str]]],
    layout: Layout,
    config: DecoderConfig,
) -> Iterator[Token]:
    """Tokens from captures given as (device id, evtest lines), in time order."""
    decoders = [Decoder(layout, config, device) for device, _ in captures]
    streams = [_numbered(parse_lines(lines), index) for index, (_, lines) in enumerate(captures)]
    merged = heapq.merge(*streams, key=lambda item: (item[0].time, item[1]))
    for event, index in merged:
        for other in decoders:
            deadline = other.deadline
            if deadline is not None and deadline < event.time:
                yield from other.tick(event.time)
        yield from decoders[index].feed(event)
    for decoder in decoders:
        yield from decoder.finish()


def _numbered(events: Iterator[InputEvent], index: int) -> Iterator[tuple[InputEvent, int]]:
    for event in events:
        yield event, index


def token_record(token: Token) -> dict[str, object]:
    """The JSON shape `kioskd decode` prints for a token (text kept verbatim)."""
    record: dict[str, object] = {"text": token.text, "role": token.role, "device": token.device}
    if token.key is not None:
        record["key"] = token.key
    record["t_first"] = round(token.t_first, 6)
    record["t_last"] = round(token.t_last, 6)
    record["end"] = token.end
    if token.error is not None:
        record["error"] = token.error
    return record


class FifoReplayNode:
    """``replay:PATH`` on a FIFO: evtest text written by another process, read as it comes.

    The FIFO is opened read-write: the kiosk holds a writer end itself, so a writer that closes
    never produces end-of-file (which would otherwise be readable forever and spin the loop, and
    need a reopen that can race the next writer); the next writer simply continues the stream.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self._partial = b""

    def fileno(self) -> int:
        return self._fd

    def read_events(self) -> list[InputEvent]:
        """The events of the whole lines read so far (a line cut by the read waits for its end).

        Bad lines are left out: a live stream keeps going; `kioskd decode` reports them."""
        data = self._partial + os.read(self._fd, 65536)
        end = data.rfind(b"\n") + 1
        self._partial = data[end:]
        if not end:
            return []
        return parse_block(_text_of(data[:end]), skip_bad=True)

    def active_keys(self) -> list[int]:
        return []

    def grab(self) -> None:
        pass

    def ungrab(self) -> None:
        pass

    def close(self) -> None:
        os.close(self._fd)


def _text_of(lines: bytes) -> str:
    """`lines` as text, each line decoded on its own (UTF-8, bad bytes replaced) as the stream
    always was; ASCII, what evtest writes, is decoded in one call."""
    if lines.isascii():
        return lines.decode("ascii")
    return "\n".join(line.decode("utf-8", "replace") for line in lines.split(b"\n"))


def read_capture(path: str) -> list[InputEvent]:
    """All events of a capture file."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return parse_block(handle.read())
