"""`InputSource`: one configured device (scanner or keypad) as an async stream of tokens.

Rules:
- One long-lived reader per input node: the node's fd is watched with `loop.add_reader` and the
  callback reads only what is ready, putting event batches on one `asyncio.Queue`. A pending
  python-evdev read is never cancelled (cancelling ``async_read`` can lose the next event).
- Decoding and gap timeouts work on that queue in one task: it waits for the next batch or for
  the earliest gap deadline, whichever is first. Each node has its own `Decoder`. A node's "now"
  is its last event time plus the monotonic time since that batch arrived, so gaps work the same
  for kernel timestamps and for replayed captures with old timestamps.
- Exclusive grab is taken only when no key is held (a grab with a key down leaves the console with
  a stuck key); a failed grab is reported as state ``grab_failed`` and reading goes on.
- Hotplug: the directory watch is armed before the first enumeration. A node that vanishes is torn
  down in the order ungrab -> remove reader -> close, and the device is looked for again; it is
  read again as soon as it re-appears (inotify), or within `retry_s` while a node cannot be
  opened yet (``OSError`` means "not yet"). Shutdown adds the last step: cancel the tasks.
- ``replay:PATH``: a FIFO is read like a node for as long as the source runs; a regular file is
  read once and the stream of tokens ends after it.
- Device states go to `on_state` and the log; tokens never do (keypad digits are PIN-like).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, fields

from kioskd.input.decoder import Decoder, DecoderConfig, Token
from kioskd.input.devices import (
    DeviceInfo,
    EvdevOpener,
    InputNode,
    NodeOpener,
    Selector,
    find_matches,
)
from kioskd.input.evtest import InputEvent
from kioskd.input.hotplug import DirectoryWatcher
from kioskd.input.replay import FifoReplayNode, read_capture
from kioskd.input.xkb import Layout

log = logging.getLogger(__name__)

# Device states reported through `on_state`.
WAITING = "waiting"  # nothing matches (yet)
OPEN = "open"  # reading; grab pending until no key is held (or grab not wanted)
GRABBED = "grabbed"
GRAB_FAILED = "grab_failed"  # reading, but another process may see the keys too
GONE = "gone"  # unplugged or failed; being looked for again
CLOSED = "closed"  # source shut down
NO_GRAB = "open (no grab)"  # a replay FIFO: nothing to grab


@dataclass(frozen=True, kw_only=True)
class SourceConfig(DecoderConfig):
    """One configured input device: how to find it and open it, and how its keys decode (the
    `DecoderConfig` fields). `device`: by-id path, vendor:product[:serial], name:PATTERN or
    replay:PATH."""

    device: str
    layout: str = "us"
    variant: str = ""
    grab: bool = True
    label: str = ""

    def decoder_config(self) -> DecoderConfig:
        return DecoderConfig(**{f.name: getattr(self, f.name) for f in fields(DecoderConfig)})


@dataclass(frozen=True)
class DeviceState:
    """What an input device is doing now (for `on_state`, status and doctor)."""

    label: str
    path: str
    state: str
    detail: str = ""


@dataclass(eq=False)
class _Node:
    """An open device node and its decoder."""

    path: str
    device_id: str
    node: InputNode | None
    decoder: Decoder
    state: str = OPEN
    last_event: float = 0.0
    arrival: float = 0.0
    registered: bool = field(default=False)

    def now(self, monotonic: float) -> float:
        return self.last_event + (monotonic - self.arrival)


class _End:
    """The queue marker that says a replay file is done."""


_END = _End()
_Raw = tuple[_Node, list[InputEvent] | None]  # a node's events (None: the node is gone)


class InputSource:
    """A scanner or keypad as tokens: ``async with InputSource(cfg) as src: async for t in
    src.tokens(): ...``. `opener` and `base_dir` are the test seam (fake ``/dev/input``)."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        base_dir: str | os.PathLike[str] = "/dev/input",
        opener: NodeOpener | None = None,
        on_state: Callable[[DeviceState], None] | None = None,
        retry_s: float = 0.5,
        rescan_s: float = 5.0,
    ) -> None:
        self.config = config
        self.selector = Selector.parse(config.device)
        if self.selector.kind == "auto":
            self.selector = Selector("auto", config.role)
        self.layout = Layout(config.layout, config.variant)  # an unknown layout fails here
        self.label = config.label or config.role
        self.base_dir = os.fspath(base_dir)
        self.opener = opener or EvdevOpener()
        self.on_state = on_state
        self.retry_s = retry_s
        self.rescan_s = rescan_s
        # configured device string -> waiting/open; each node path -> its own state
        self.states: dict[str, str] = {}
        self._nodes: dict[str, _Node] = {}
        self._raw: asyncio.Queue[_Raw | _End] = asyncio.Queue()
        # The tokens of one batch of events go on the queue together (one put and one wake-up
        # a sale, not one per key); `tokens()` hands them out one by one from `_ready`, which
        # belongs to the source, so a generator dropped mid-batch loses none.
        self._tokens: asyncio.Queue[Sequence[Token] | None] = asyncio.Queue()
        self._ready: deque[Token] = deque()
        self._tasks: list[asyncio.Task[None]] = []
        self._watcher: DirectoryWatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._failure: BaseException | None = None

    # ------------------------------------------------------------------ public
    async def __aenter__(self) -> InputSource:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.selector.kind != "replay":
            self._watcher = DirectoryWatcher(self.base_dir, poll_s=self.retry_s)
            self._watcher.start()  # before enumerating: a device plugged meanwhile wakes a scan
        supervise = self._replay() if self.selector.kind == "replay" else self._supervise()
        self._tasks = [
            asyncio.create_task(supervise, name=f"input-{self.label}-supervise"),
            asyncio.create_task(self._decode(), name=f"input-{self.label}-decode"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        """A crashed task must not leave `tokens()` waiting forever: it re-raises there."""
        if task.cancelled() or task.exception() is None:
            return
        self._failure = task.exception()
        log.error("input %s: %s failed", self.label, task.get_name(), exc_info=self._failure)
        self._tokens.put_nowait(None)

    async def tokens(self) -> AsyncIterator[Token]:
        """Tokens as they are decoded; ends when the source is closed (or a replay file ends)."""
        ready = self._ready
        while True:
            while ready:
                yield ready.popleft()
            batch = await self._tokens.get()
            if batch is None:
                if self._failure is not None:
                    raise self._failure
                return
            ready.extend(batch)

    async def aclose(self) -> None:
        """Teardown: ungrab -> remove reader -> close for every node, then cancel the tasks."""
        if self._closed:
            return
        self._closed = True
        for node in list(self._nodes.values()):
            self._teardown(node, CLOSED)
        if self._watcher is not None:
            self._watcher.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tokens.put_nowait(None)

    # ------------------------------------------------------------------ states
    def _set_state(self, path: str, state: str, detail: str = "") -> None:
        if self.states.get(path) == state:
            return
        self.states[path] = state
        log.info(
            "input %s %s: %s%s",
            self.label,
            path,
            state,
            f" ({detail})" if detail else "",
            extra={"DEVICE_ROLE": self.config.role},
        )
        if self.on_state is not None:
            self.on_state(DeviceState(self.label, path, state, detail))

    # ------------------------------------------------------------------ nodes
    def _device_id(self, info: DeviceInfo) -> str:
        return info.by_id[0] if info.by_id else info.path

    def _attach(self, path: str, device_id: str, node: InputNode, grab: bool = True) -> _Node:
        decoder = Decoder(self.layout, self.config.decoder_config(), device_id)
        entry = _Node(path, device_id, node, decoder)
        with contextlib.suppress(OSError):
            decoder.resync(node.active_keys())
        self._nodes[path] = entry
        assert self._loop is not None
        self._loop.add_reader(node.fileno(), self._readable, entry)
        entry.registered = True
        self._set_state(path, OPEN)
        if grab:
            self._maybe_grab(entry)
        else:
            entry.state = NO_GRAB
        return entry

    def _readable(self, entry: _Node) -> None:
        """fd callback: read what is ready (never blocks, never leaves a read pending)."""
        assert entry.node is not None
        try:
            events = entry.node.read_events()
        except BlockingIOError:
            return
        except OSError as exc:
            self._teardown(entry, GONE, exc.strerror or type(exc).__name__)
            return
        if events:
            self._raw.put_nowait((entry, events))

    def _maybe_grab(self, entry: _Node) -> None:
        if not self.config.grab or entry.state != OPEN or entry.decoder.any_key_held:
            return
        assert entry.node is not None
        try:
            entry.node.grab()
        except OSError as exc:
            entry.state = GRAB_FAILED
            self._set_state(entry.path, GRAB_FAILED, exc.strerror or str(exc.errno))
            return
        entry.state = GRABBED
        self._set_state(entry.path, GRABBED)

    def _teardown(self, entry: _Node, state: str, detail: str = "") -> None:
        """ungrab -> remove reader -> close; the decoder settles what it holds."""
        if self._nodes.get(entry.path) is not entry:
            return
        del self._nodes[entry.path]
        node = entry.node
        if node is not None:
            if entry.state == GRABBED:
                with contextlib.suppress(OSError):
                    node.ungrab()
            if entry.registered and self._loop is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._loop.remove_reader(node.fileno())
                entry.registered = False
            with contextlib.suppress(OSError):
                node.close()
        entry.state = state
        self._raw.put_nowait((entry, None))
        self._set_state(entry.path, state, detail)
        if self._watcher is not None and not self._closed:
            self._watcher.changed.set()  # look for it again now

    # ------------------------------------------------------------------ tasks
    async def _supervise(self) -> None:
        watcher = self._watcher
        assert watcher is not None
        self._set_state(self.config.device, WAITING)
        while True:
            watcher.rearm()
            not_yet: list[str] = []
            matches = find_matches(self.selector, self.base_dir, self.opener, not_yet)
            for info in matches:
                if info.path in self._nodes or self._closed:
                    continue
                try:
                    node = self.opener.open(info.path)
                except OSError as exc:
                    not_yet.append(info.path)
                    log.debug("input %s %s: not yet (%s)", self.label, info.path, exc.strerror)
                    continue
                if self.selector.kind == "auto":
                    from kioskd.input.roles import classify

                    log.info(
                        "input %s: auto chose %s %s %r (%s)",
                        self.label,
                        info.path,
                        info.vendor_product,
                        info.name,
                        "; ".join(classify(info).reasons),
                        extra={"DEVICE_ROLE": self.config.role},
                    )
                self._attach(info.path, self._device_id(info), node)
            if self._nodes:
                self._set_state(self.config.device, OPEN)
            else:
                self._set_state(self.config.device, WAITING)
            # inotify wakes us for new nodes and links; poll only for nodes that are "not yet".
            soon = bool(not_yet) or not watcher.uses_inotify
            await watcher.wait(self.retry_s if soon else self.rescan_s)

    async def _replay(self) -> None:
        path = self.selector.value
        self._set_state(path, WAITING)
        while True:
            try:
                mode = os.stat(path).st_mode
                break
            except OSError:
                await asyncio.sleep(self.retry_s)
        if stat.S_ISFIFO(mode):
            self._attach(path, path, FifoReplayNode(path), grab=False)
            return
        events = await asyncio.to_thread(read_capture, path)
        decoder = Decoder(self.layout, self.config.decoder_config(), path)
        entry = _Node(path, path, None, decoder, state=OPEN)
        self._set_state(path, OPEN)
        if events:
            self._raw.put_nowait((entry, events))
        self._raw.put_nowait((entry, None))
        self._raw.put_nowait(_END)

    async def _decode(self) -> None:
        while True:
            timeout = self._next_timeout()
            item: _Raw | _End | None
            try:
                if timeout is None:
                    item = await self._raw.get()
                else:
                    item = await asyncio.wait_for(self._raw.get(), max(timeout, 0.0))
            except TimeoutError:
                item = None
            if isinstance(item, _End):
                self._tokens.put_nowait(None)
                return
            if item is not None:
                entry, events = item
                if events is None:
                    self._emit(entry.decoder.finish())
                else:
                    entry.last_event = events[-1].time
                    entry.arrival = time.monotonic()
                    self._feed(entry, events)
            monotonic = time.monotonic()
            for entry in list(self._nodes.values()):
                if entry.decoder.deadline is not None:
                    self._emit(entry.decoder.tick(entry.now(monotonic)))

    def _feed(self, entry: _Node, events: list[InputEvent]) -> None:
        decoder = entry.decoder
        refused = decoder.refused_codes
        try:
            self._feed_events(entry, events)
        finally:
            if decoder.refused_codes != refused:
                log.warning(
                    "%s: %d key event(s) with an impossible key code refused (%d so far)",
                    self.label,
                    decoder.refused_codes - refused,
                    decoder.refused_codes,
                    extra={"DEVICE_ROLE": self.label},
                )

    def _feed_events(self, entry: _Node, events: list[InputEvent]) -> None:
        """Decode one batch; its tokens are emitted together, also when decoding fails midway
        (those before the failure are still handed out, then the failure)."""
        decoder = entry.decoder
        node = entry.node
        if node is None:  # a replay file: nothing to ask, nothing to grab
            self._emit(decoder.feed_many(events))
            return
        out: list[Token] = []
        feed = decoder.feed
        try:
            for event in events:
                tokens = feed(event)
                if tokens:
                    out.extend(tokens)
                if decoder.needs_key_state and decoder.state_name() != "dropping":
                    # The SYN_REPORT after SYN_DROPPED: ask the device which keys are down now,
                    # before the events that follow in this batch.
                    try:
                        decoder.resync(node.active_keys())
                    except OSError:
                        decoder.resync(())
        finally:
            self._emit(out)
        if entry.state == OPEN:
            self._maybe_grab(entry)

    def _next_timeout(self) -> float | None:
        monotonic = time.monotonic()
        waits = [
            deadline - entry.now(monotonic)
            for entry in self._nodes.values()
            if (deadline := entry.decoder.deadline) is not None
        ]
        return min(waits) + 0.001 if waits else None

    def _emit(self, tokens: Sequence[Token]) -> None:
        """Hand a batch of tokens to `tokens()` (the decoder's sequences are not reused)."""
        if tokens:
            self._tokens.put_nowait(tokens)
