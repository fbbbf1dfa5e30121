"""Prometheus metrics of one kiosk (prometheus_client), for the fleet's monitoring.

Rules:
- Names and labels follow the Prometheus conventions: `kioskd_` prefix, base units (seconds,
  bytes), `_total` counters, `_timestamp_seconds` for Unix times, `_info` for the build, one
  `state` label per state set. Every label has a small, fixed set of values (operation kind,
  state, endpoint template, device role, outcome class): never a PIN, password, token or ticket
  number. Nothing a metric is built from can hold one (`Snapshot` has no field for it; the
  client reports the endpoint template, not the path).
- The kiosk is read on the event loop, where the journal lives, into a `Snapshot`; the collector
  only serves the last snapshot, so the HTTP thread (`metrics.listen`) never touches SQLite.
  Counters and the request histogram are updated as things happen (outcome and API hooks).
- The textfile is replaced atomically (a temporary file in the same folder, then rename), so
  node-exporter never reads half a file; it is made 0644 although the unit runs with
  UMask=0077, because node-exporter runs as another user. No fsync: metrics are rewritten every
  few seconds and a file lost in a power cut is rewritten 5 s after the next start.
- Read every `metrics.interval_s` and `MIN_GAP_S` (1 s) after a state change (`changed()`:
  a sale's burst of changes is read once; in the daemon on the first tick of its ticker after
  that, `beat()`, not on a wake-up of its own); the textfile is rewritten only when what it shows
  changed, or once it is `textfile_max_age_s` old (issue 19: an SD card wears with every
  rewrite), and not even rendered when no counter moved and the snapshot's steady fields are
  those of the last write (issue 19: CPU). A failure to write is logged once per distinct
  error, never fatal.
- The text is prometheus_client's `generate_latest`, byte for byte; `CachedExposition`
  (`kioskd/daemon/exposition.py`) keeps
  each series' text and reads again only what can have moved (a sale changes about a dozen
  of some 260 lines; issue 19: CPU per sale): a counter, gauge or histogram series only after
  its writer said so (`CachedExposition.moved`: the hooks below are the only writers of the
  prometheus_client metrics), a snapshot family only when a field it reads (`reads`, in
  `kioskd/daemon/metrics_snapshot.py`, with the `Snapshot` and its families)
  changed. A series that changed gets its new values in the lines the library wrote for it
  (each checked against the value it was written with), so a sale has the library format
  nothing once every series was written once.
- Counters count what this process saw since it started (a restart resets them, which
  Prometheus' `rate()` and `increase()` handle); gauges are read from the journal each time.

Theory of operation: the daemon calls `observe_outcome` for each outcome of the outbox,
`observe_exchange` (client hook) for each API exchange, and `changed()` when the lights are
refreshed (every state change of the kiosk goes through there), when a device comes or goes,
and after a reload (the `[metrics]` keys are read again before each write; the loopback
listener moves or stops with `metrics.listen`). `run()` takes a snapshot with
`snapshot_of(daemon)` on the loop, hands it to the collector, renders it, and writes
`kioskd.prom`: itself when the folder is on tmpfs (as shipped), else through a worker thread
(`memory_backed`). `kioskd_build_info`'s terminal id is the one at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from operator import attrgetter
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)

from kioskd.config import MetricsConfig, parse_listen
from kioskd.daemon.exposition import CachedExposition
from kioskd.daemon.metrics_snapshot import (
    FIELDS,
    UNFINISHED_STATES,
    PrinterGauges,
    Snapshot,
    SnapshotCollector,
)

log = logging.getLogger("kioskd.metrics")

TEXTFILE_NAME = "kioskd.prom"
# A state change is written this long after it happened, so that a sale's burst of changes
# (typed, sent, done, printed) is read and rendered once (issue 19: CPU per sale); a scrape
# every 15-60 s never sees the difference.
MIN_GAP_S = 1.0
# With a beat (`Metrics.beat`, the daemon's ticker), the read after a change waits for the
# first beat once `MIN_GAP_S` has passed: the loop is awake then anyway, and a wake-up of its
# own cost about as much as the reading here (issue 19: CPU a sale). A beat that does not come
# (a ticker that stopped) holds it no longer than this past the gap.
BEAT_GRACE_S = 1.0
OP_KINDS = ("create", "pay", "cancel")
FINAL_STATES = ("done", "rejected", "expired")
API_OUTCOMES = ("ok", "rejected", "forbidden", "not_sent", "in_doubt", "bad_response")
# Request durations: a fast LAN answer to the read timeout (15 s) and the overall deadline.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0)


class Metrics:
    """The kiosk's metrics registry, its textfile writer and its optional HTTP endpoint."""

    def __init__(
        self,
        config: Callable[[], MetricsConfig],
        *,
        terminal_id: str,
        version: str,
        now: Callable[[], float],
    ) -> None:
        self.config = config
        self.now = now
        # `*_created` series double the file for nothing node-exporter's users query.
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.operations = Counter(
            "kioskd_operations",
            "Operations finished, by kind and final state",
            ["kind", "state"],
            registry=self.registry,
        )
        for kind in OP_KINDS:
            for state in FINAL_STATES:
                self.operations.labels(kind, state)
        self.alarms = Counter(
            "kioskd_alarms",
            "Foreign tickets seen on the account (a ticket this kiosk never journaled)",
            registry=self.registry,
        )
        self.api_requests = Counter(
            "kioskd_api_requests",
            "Banklot API exchanges, by endpoint and outcome",
            ["endpoint", "outcome"],
            registry=self.registry,
        )
        self.api_duration = Histogram(
            "kioskd_api_request_duration_seconds",
            "Duration of Banklot API exchanges, by endpoint",
            ["endpoint"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.api_last_success = Gauge(
            "kioskd_api_last_success_timestamp_seconds",
            "When an API exchange last succeeded (Unix time; 0: not since start)",
            registry=self.registry,
        )
        self.start_time = Gauge(
            "kioskd_start_time_seconds",
            "When kioskd started (Unix time)",
            registry=self.registry,
        )
        self.start_time.set(now())
        self.collector = SnapshotCollector(terminal_id, version)
        self.registry.register(self.collector)
        # The hooks below are the only writers of the metrics above: each tells the
        # exposition what it moved (`CachedExposition.moved`).
        self.exposition = CachedExposition(
            [
                self.operations,
                self.alarms,
                self.api_requests,
                self.api_duration,
                self.api_last_success,
                self.start_time,
                self.collector,
            ]
        )
        self.last_sale_at: float | None = None
        self.last_sale_read = False  # read once from the journal, then kept up to date
        self.written: str | None = None  # path of the last textfile written
        self._changed: asyncio.Event | None = None
        # Set by the owner that calls `beat()` regularly (the daemon's ticker); then a read
        # after a change waits for a beat instead of a timer of its own.
        self.beats = False
        self._beat = asyncio.Event()  # bound to the loop at its first wait (`_gap`)
        self._due: float | None = None  # monotonic time from which a beat starts the read
        self._observed = 0  # updates of counters and of the histogram so far
        self._written_key: tuple[int, tuple[Any, ...]] | None = None  # the last write's
        self._written_at = float("-inf")  # monotonic time of the last textfile write
        self._errors: set[str] = set()
        self._memory_backed: tuple[str, bool] | None = None  # (folder, on tmpfs): `_in_memory`
        self._server: Any = None
        self._serving: str = ""

    # ------------------------------------------------------------------ hooks

    def observe_exchange(self, endpoint: str, seconds: float, outcome: str) -> None:
        """BanklotClient's `on_exchange`: one API exchange (endpoint template, never a path)."""
        self._observed += 1
        moved = self.exposition.moved
        self.api_requests.labels(endpoint, outcome).inc()
        moved(self.api_requests, endpoint, outcome)
        self.api_duration.labels(endpoint).observe(seconds)
        moved(self.api_duration, endpoint)
        if outcome == "ok":
            self.api_last_success.set(self.now())
            moved(self.api_last_success)

    def observe_outcome(self, outcome: Any) -> None:
        """An outbox outcome: count final ones, remember the last sale."""
        kind, op_kind = outcome.kind, outcome.op_kind or ""
        if kind in FINAL_STATES and op_kind:
            self._observed += 1
            self.operations.labels(op_kind, kind).inc()
            self.exposition.moved(self.operations, op_kind, kind)
            if kind == "done" and op_kind == "create":
                self.last_sale_at = self.now()
        elif kind == "alarm":
            self._observed += 1
            self.alarms.inc()
            self.exposition.moved(self.alarms)
        self.changed()

    def changed(self) -> None:
        """Something the gauges show has changed: write soon (coalesced)."""
        if self._changed is not None:
            self._changed.set()

    def beat(self) -> None:
        """A regular wake-up of the loop (the daemon's ticker): the read waiting for its gap
        to pass after a change starts on the first one after it."""
        due = self._due
        if due is not None and time.monotonic() >= due:
            self._due = None
            self._beat.set()

    async def _gap(self) -> None:
        """`MIN_GAP_S` after a change: on the first beat after it when there are beats (no
        timer of its own), else a sleep."""
        if not self.beats:
            await asyncio.sleep(MIN_GAP_S)
            return
        self._beat.clear()
        self._due = time.monotonic() + MIN_GAP_S
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(MIN_GAP_S + BEAT_GRACE_S):
                    await self._beat.wait()
        finally:
            self._due = None

    # ------------------------------------------------------------------ output

    def update(self, snapshot: Snapshot) -> None:
        self.collector.snapshot = snapshot

    def render(self) -> bytes:
        """The Prometheus text exposition of everything (what `generate_latest` writes)."""
        return self.exposition.render()

    def write_textfile(self, directory: str, data: bytes | None = None) -> str:
        """Replace DIRECTORY/kioskd.prom atomically (with `data`, else a fresh rendering);
        return its path. The temporary name is this process's and thread's own (two writers
        never share one: the task's worker and the last write at stop), made without
        `tempfile`'s random names and retries (a write a sale: issue 19, CPU per sale)."""
        path = os.path.join(directory, TEXTFILE_NAME)
        if data is None:
            data = self.render()
        tmp = os.path.join(directory, f".kioskd.{os.getpid()}.{threading.get_ident()}.tmp")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
        try:
            fd = os.open(tmp, flags, 0o644)
            try:
                os.fchmod(fd, 0o644)  # the unit's UMask=0077 masked the mode above
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def _once(self, what: str, exc: BaseException) -> None:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        text = f"{what}: {reason}"
        if text not in self._errors:
            self._errors.add(text)
            log.warning("metrics %s", text)

    # ------------------------------------------------------------------ HTTP

    def _serve(self, listen: str) -> None:
        """Start, stop or move the loopback HTTP endpoint to match `metrics.listen`."""
        if listen == self._serving:
            return
        self._stop_server()
        if not listen:
            return
        from prometheus_client import start_http_server

        host, port = parse_listen(listen)
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            self._once(f"cannot listen on {listen}", exc)
            return
        self._server, self._serving = server, listen
        log.info("metrics served on http://%s/metrics", listen)

    def _stop_server(self) -> None:
        server, self._server, self._serving = self._server, None, ""
        if server is not None:
            # shutdown() waits for the serving thread: not on the event loop's own thread.
            threading.Thread(target=_close_server, args=(server,), daemon=True).start()

    # ------------------------------------------------------------------ the task

    def _take(self, take: Callable[[], Snapshot]) -> None:
        try:
            self.update(take())
        except Exception as exc:  # a journal fault must not stop the other metrics
            self._once("cannot read the kiosk", exc)

    def _in_memory(self, directory: str) -> bool:
        """`memory_backed(directory)`, looked up once per folder (mounts do not move under a
        running kiosk; a reload that names another folder is looked up anew)."""
        if self._memory_backed is None or self._memory_backed[0] != directory:
            self._memory_backed = (directory, memory_backed(directory))
        return self._memory_backed[1]

    def _write(self, directory: str, data: bytes) -> None:
        try:
            self.written = self.write_textfile(directory, data)
        except OSError as exc:
            self._once(f"cannot write {os.path.join(directory, TEXTFILE_NAME)}", exc)
            return
        if self._errors:
            self._errors.clear()  # a later failure is reported again
            log.info("metrics written to %s again", self.written)

    def refresh(self, take: Callable[[], Snapshot]) -> None:
        """Take a snapshot and write the textfile (when configured), all in this thread."""
        self._take(take)
        directory = self.config().textfile_dir
        if directory:
            self._write(directory, self.render())

    async def _refresh(self, take: Callable[[], Snapshot]) -> None:
        """The snapshot is read on the event loop (the journal lives there); the file is
        written by a worker thread, so a slow SD card never stalls the loop, unless it goes to
        tmpfs (`memory_backed`: the loop writes it, cheaper than the hand-over). Rendered and
        written only when what it shows changed (a counter moved, a steady gauge changed), or
        once it is `textfile_max_age_s` old (SD cards)."""
        self._take(take)
        cfg = self.config()
        directory = cfg.textfile_dir
        if not directory:
            return
        path = os.path.join(directory, TEXTFILE_NAME)
        fresh = time.monotonic() - self._written_at < cfg.textfile_max_age_s
        snapshot = self.collector.snapshot
        key = (self._observed, _steady_snapshot(snapshot)) if snapshot is not None else None
        if key is not None and key == self._written_key and self.written == path and fresh:
            return  # the same counters and the same steady gauges: not even rendered
        data = self.render()
        if self._in_memory(directory):
            self._write(directory, data)  # tmpfs: nothing to wait for (see `memory_backed`)
        else:
            await asyncio.to_thread(self._write, directory, data)
        if self.written == path:
            self._written_at, self._written_key = time.monotonic(), key

    async def run(self, take: Callable[[], Snapshot]) -> None:
        """Forever: serve / write now, then again after `interval_s` or a state change."""
        self._changed = asyncio.Event()
        try:
            while True:
                cfg = self.config()
                self._serve(cfg.listen)
                await self._refresh(take)
                # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
                # that arrives as the event is set (the task then never stopped at SIGTERM).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(cfg.interval_s):
                        await self._changed.wait()
                self._changed.clear()
                await self._gap()
        finally:
            self._stop_server()
            with contextlib.suppress(Exception):
                self.refresh(take)  # the last state, as the kiosk stops


# The snapshot fields that change at every reading without anything happening.
_VOLATILE = ("taken_at", "oldest_in_doubt_s", "catalog_age_s", "journal_bytes")
_read_steady = attrgetter(*(name for name in FIELDS if name not in _VOLATILE))


def _steady_snapshot(s: Snapshot) -> tuple[Any, ...]:
    """The snapshot without the fields that change at every reading without anything
    happening (the reading time, the oldest doubt's and the catalog's ages, the journal's
    size: `kioskd_last_update_timestamp_seconds`, `kioskd_oldest_in_doubt_age_seconds`,
    `kioskd_catalog_age_seconds`, `kioskd_journal_size_bytes`): they make no textfile write on
    their own (`textfile_max_age_s` bounds how old they get), only whether there is a catalog
    age at all does. With the same counters, equal ones render the same file apart from those
    lines. (A tuple of the other fields, equal exactly when the snapshots with those fields
    blanked are: a tenth of `dataclasses.replace`'s CPU, at every refresh: issue 19.)"""
    return (*_read_steady(s), s.catalog_age_s is None)


def _close_server(server: Any) -> None:
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------- where the file goes

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
_MOUNT_ESCAPE = re.compile(r"\\([0-7]{3})")


def memory_backed(directory: str, mounts: str = "/proc/self/mounts") -> bool:
    """Is `directory` on a filesystem in memory (tmpfs, ramfs: the shipped /run/kioskd-metrics)?
    A write there never waits for a disk, so the loop writes the textfile itself: handing a
    20 KB write to a worker thread and back cost more CPU than the write (issue 19, CPU per
    sale). Anywhere else (an SD card), or when the mounts cannot be read, a worker writes it,
    so a slow card never stalls the loop. The mount is the longest mount point above the
    folder's real path (`/proc/self/mounts` escapes spaces and such as octal: `\\040`)."""
    try:
        real = os.path.realpath(directory)
        with open(mounts, encoding="utf-8", errors="replace") as table:
            lines = table.read().splitlines()
    except OSError:
        return False
    best, fstype = "", ""
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _MOUNT_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[1])
        above = real == point or real.startswith(point.rstrip("/") + "/")
        if above and len(point) >= len(best):
            best, fstype = point, fields[2]  # the later of two equal mounts is on top
    return fstype in MEMORY_FILESYSTEMS


# ---------------------------------------------------------------------- reading the kiosk


def snapshot_of(daemon: Any) -> Snapshot:
    """Read the daemon's health, outbox, journal, printer, devices and lights."""
    from kioskd.daemon.looplag import PROBE
    from kioskd.journal import states

    now = daemon.clock.now()
    journal = daemon.journal
    counts = daemon.outbox.counts()
    unfinished = journal.unfinished()  # one look for both (issue 19: CPU per sale)
    doubtful = [op for op in unfinished if op.state in (states.IN_DOUBT, states.RECONCILING)]
    oldest = min((op.sent_at or op.created_at for op in doubtful), default=None)
    queued = [op for op in unfinished if op.state == states.QUEUED]
    policy = daemon.outbox.policy
    health = daemon.health
    catalog = daemon._catalog
    status = getattr(health, "printer_status", None)
    printer = None
    if status is not None:
        printer = PrinterGauges(
            connected=bool(status.connected),
            online=status.online is True and bool(status.connected),
            paper=status.paper if status.connected else "unknown",
            cover=status.cover if status.connected else "unknown",
        )
    devices = {role: state in ("open", "grabbed") for role, state in health.devices.items()}
    if printer is not None:
        devices["printer"] = printer.connected
    metrics = daemon.metrics
    assert metrics is not None  # the metrics task takes snapshots only once they exist
    if not metrics.last_sale_read:
        metrics.last_sale_read = True
        metrics.last_sale_at = metrics.last_sale_at or _last_sale(journal)
    return Snapshot(
        taken_at=now,
        unfinished={s: int(counts.get(s, 0)) for s in UNFINISHED_STATES},
        oldest_in_doubt_s=max(0.0, now - oldest) if oldest is not None else 0.0,
        queued_operations=len(queued),
        queued_amount=sum(op.amount for op in queued),
        max_queued_operations=policy.max_queued,
        max_queued_amount=policy.max_queued_amount,
        api_up=health.api == "ok" and health.outbox != "offline",
        catalog_age_s=round(catalog.age(now), 1) if catalog is not None else None,
        catalog_stale=bool(health.catalog_stale),
        printer=printer,
        devices=devices,
        journal_bytes=_journal_bytes(journal.path),
        journal_attention=health.journal != "ok" or journal.attention is not None,
        lights=str(daemon.lights.current().get("state", "off")),
        last_sale_at=metrics.last_sale_at,
        slips_printed=daemon.spooler.printed,
        **_clock_fields(daemon),
        loop_longest_s=PROBE.longest_s,
        loop_stalls=PROBE.stalls,
    )


def _clock_fields(daemon: Any) -> dict[str, Any]:
    clock_status = getattr(daemon, "clock_status", None)
    if not callable(clock_status):
        return {}
    c = clock_status()
    return {"server_time_known": not c["server_time_unknown"], "clock_skew_s": c["clock_skew_s"]}


def _journal_bytes(path: str) -> int:
    total = 0
    for p in (path, path + "-wal"):
        with contextlib.suppress(OSError):
            total += os.stat(p).st_size
    return total


def _last_sale(journal: Any) -> float | None:
    """The last confirmed sale in the journal (after a restart, before the next sale)."""
    try:
        return journal.last_settled_at("create", "done")  # by index, newest first
    except Exception:
        return None
