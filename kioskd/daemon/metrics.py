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
  a sale's burst of changes is read once); the textfile is rewritten only when what it shows
  changed, or once it is `textfile_max_age_s` old (issue 19: an SD card wears with every
  rewrite), and not even rendered when no counter moved and the snapshot's steady fields are
  those of the last write (issue 19: CPU). A failure to write is logged once per distinct
  error, never fatal.
- The text is prometheus_client's `generate_latest`, byte for byte; `CachedExposition` keeps
  each series' text and has the library format again only the series that changed (a sale
  changes about a dozen of some 260 lines; issue 19: CPU per sale); a series that changed
  gets its new values in the lines the library wrote for it (each checked against its old
  value), so a sale has the library format nothing once every series was written once.
- Counters count what this process saw since it started (a restart resets them, which
  Prometheus' `rate()` and `increase()` handle); gauges are read from the journal each time.

Theory of operation: the daemon calls `observe_outcome` for each outcome of the outbox,
`observe_exchange` (client hook) for each API exchange, and `changed()` when the lights are
refreshed (every state change of the kiosk goes through there), when a device comes or goes,
and after a reload (the `[metrics]` keys are read again before each write; the loopback
listener moves or stops with `metrics.listen`). `run()` takes a snapshot with
`snapshot_of(daemon)` on the loop, hands it to the collector, renders it, and has a worker
thread write `kioskd.prom`. `kioskd_build_info`'s terminal id is the one at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from kioskd.config import MetricsConfig, parse_listen
from kioskd.lights import STATES as LIGHT_STATES

log = logging.getLogger("kioskd.metrics")

TEXTFILE_NAME = "kioskd.prom"
# A state change is written this long after it happened, so that a sale's burst of changes
# (typed, sent, done, printed) is read and rendered once (issue 19: CPU per sale); a scrape
# every 15-60 s never sees the difference.
MIN_GAP_S = 1.0
OP_KINDS = ("create", "pay", "cancel")
FINAL_STATES = ("done", "rejected", "expired")
UNFINISHED_STATES = ("queued", "sending", "in_doubt", "reconciling", "conflict")
PAPER_STATES = ("ok", "near_end", "out", "unknown")
COVER_STATES = ("open", "closed", "unknown")
API_OUTCOMES = ("ok", "rejected", "forbidden", "not_sent", "in_doubt", "bad_response")
# Request durations: a fast LAN answer to the read timeout (15 s) and the overall deadline.
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0)


@dataclass(frozen=True)
class PrinterGauges:
    """The printer's state as the metrics show it."""

    connected: bool
    online: bool
    paper: str
    cover: str


@dataclass(frozen=True)
class Snapshot:
    """What the state gauges show, read on the event loop (no PIN, ticket number or secret)."""

    taken_at: float
    unfinished: dict[str, int] = field(default_factory=dict)
    oldest_in_doubt_s: float = 0.0
    queued_operations: int = 0
    queued_amount: int = 0
    max_queued_operations: int = 0
    max_queued_amount: int = 0
    api_up: bool = False
    catalog_age_s: float | None = None
    catalog_stale: bool = False
    printer: PrinterGauges | None = None
    devices: dict[str, bool] = field(default_factory=dict)
    journal_bytes: int = 0
    journal_attention: bool = False
    lights: str = "off"
    last_sale_at: float | None = None
    slips_printed: int = 0
    server_time_known: bool = False
    clock_skew_s: float | None = None  # server time minus the kiosk's wall clock
    loop_longest_s: float = 0.0
    loop_stalls: int = 0


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _state_set(name: str, doc: str, states: tuple[str, ...], current: str) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["state"])
    for s in states:
        g.add_metric([s], 1.0 if s == current else 0.0)
    return g


class _SnapshotCollector(Collector):
    """Serves the last snapshot (thread-safe: the snapshot is replaced, never changed)."""

    def __init__(self, terminal_id: str, version: str) -> None:
        self.terminal_id = terminal_id
        self.version = version
        self.snapshot: Snapshot | None = None

    def collect(self) -> Iterator[Any]:
        yield InfoMetricFamily(
            "kioskd_build",
            "kioskd version and terminal id (1 while kioskd runs; join on instance)",
            value={"version": self.version, "terminal_id": self.terminal_id},
        )
        s = self.snapshot
        if s is None:
            return
        yield _gauge(
            "kioskd_last_update_timestamp_seconds",
            "When these values were read from the kiosk (Unix time)",
            s.taken_at,
        )
        g = GaugeMetricFamily(
            "kioskd_operations_unfinished",
            "Operations that still need the outbox or a person, by state",
            labels=["state"],
        )
        for state in UNFINISHED_STATES:
            g.add_metric([state], float(s.unfinished.get(state, 0)))
        yield g
        yield _gauge(
            "kioskd_oldest_in_doubt_age_seconds",
            "Age of the oldest operation in doubt or reconciling (0: none)",
            s.oldest_in_doubt_s,
        )
        yield _gauge(
            "kioskd_queue_operations", "Operations queued offline", float(s.queued_operations)
        )
        yield _gauge(
            "kioskd_queue_amount",
            "Amount queued offline, in whole currency units",
            float(s.queued_amount),
        )
        yield _gauge(
            "kioskd_queue_max_operations",
            "Cap on operations queued offline (offline.max_queued)",
            float(s.max_queued_operations),
        )
        yield _gauge(
            "kioskd_queue_max_amount",
            "Cap on the amount queued offline (offline.max_queued_amount)",
            float(s.max_queued_amount),
        )
        yield _gauge(
            "kioskd_api_up", "1 when the Banklot API answers and accepts our login", s.api_up
        )
        yield _gauge(
            "kioskd_server_time_known",
            "1 when the server's time is known from its answers on this boot (0: new money "
            "waits for an answer, or is stamped on a floor carried across a reboot)",
            s.server_time_known,
        )
        if s.clock_skew_s is not None:
            yield _gauge(
                "kioskd_clock_skew_seconds",
                "Server time minus the kiosk's wall clock (money never depends on it; large "
                "means NTP is not working)",
                s.clock_skew_s,
            )
        if s.catalog_age_s is not None:
            yield _gauge(
                "kioskd_catalog_age_seconds", "Age of the product catalog in use", s.catalog_age_s
            )
        yield _gauge(
            "kioskd_catalog_stale",
            "1 when the catalog is older than catalog.stale_after_s (or there is none)",
            s.catalog_stale or s.catalog_age_s is None,
        )
        if s.printer is not None:
            p = s.printer
            yield _gauge(
                "kioskd_printer_connected",
                "1 when the printer's transport opens (0: unplugged, off, unreachable)",
                p.connected,
            )
            yield _gauge("kioskd_printer_online", "1 when the printer says it is online", p.online)
            yield _state_set(
                "kioskd_printer_paper", "Paper roll sensor, by state", PAPER_STATES, p.paper
            )
            yield _state_set(
                "kioskd_printer_cover", "Printer cover, by state", COVER_STATES, p.cover
            )
        g = GaugeMetricFamily(
            "kioskd_device_present", "1 when the device of this role is there", labels=["role"]
        )
        for role, present in sorted(s.devices.items()):
            g.add_metric([role], 1.0 if present else 0.0)
        yield g
        yield _gauge(
            "kioskd_journal_size_bytes",
            "Size of the SQLite journal with its write-ahead log",
            float(s.journal_bytes),
        )
        yield _gauge(
            "kioskd_journal_attention",
            "1 when the journal cannot be used (no money operation is possible)",
            s.journal_attention,
        )
        yield _state_set(
            "kioskd_lights", "The kiosk's steady light state", tuple(LIGHT_STATES), s.lights
        )
        if s.last_sale_at is not None:
            yield _gauge(
                "kioskd_last_sale_timestamp_seconds",
                "When the last sale was confirmed (Unix time)",
                s.last_sale_at,
            )
        yield CounterMetricFamily(
            "kioskd_slips_printed",
            "Slips printed since kioskd started",
            value=float(s.slips_printed),
        )
        yield _gauge(
            "kioskd_loop_longest_callback_seconds",
            "Longest time one callback held the event loop since kioskd was ready",
            s.loop_longest_s,
        )
        yield CounterMetricFamily(
            "kioskd_loop_stalls",
            "Callbacks that held the event loop longer than 50 ms since kioskd was ready",
            value=float(s.loop_stalls),
        )


class _One(Collector):
    """A collector of one metric family, for `generate_latest` to render a part of the text."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterator[Metric]:
        yield self.family


# Samples `generate_latest` moves to a family of their own (OpenMetrics-only): a family that
# has one is rendered whole, never in parts.
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")


class CachedExposition:
    """`generate_latest(registry)`, byte for byte, keeping the text of each series (a sample,
    or one endpoint's buckets, sum and count) while it does not change.

    Why (issue 19: CPU per sale): prometheus_client formats about 10-16 us a line here (names
    and labels escaped and checked each time) and the textfile has some 260 lines, 128 of them
    the request histogram: 2-3 ms a rendering, once a sale, when a sale changes about a dozen
    lines. Collecting the histogram alone costs about 1 ms (each bucket's `le` is formatted
    again), so its series are collected only for an endpoint whose observation count moved
    (`Metrics.observe_exchange` is the histogram's only writer). A family whose samples all
    equal those of the last rendering is not even cut into series: its text is kept whole
    (most of the file between two sales). Every part is still the library's own rendering
    (`generate_latest` of a family holding only that part, or the lines it wrote for the
    same samples with the new values swapped in, see `_swap`), so the format stays its;
    `tests/metrics/test_exposition.py` checks the identity.
    """

    def __init__(
        self,
        collectors: list[Collector],
        histogram: Histogram,
        label: str,
        observed: Callable[[], dict[str, int]],
    ) -> None:
        self.collectors = collectors  # in the registry's order (registration order)
        self.histogram = histogram
        self.label = label
        self.observed = observed  # label value -> observations so far, in first-seen order
        self._texts: dict[tuple[Any, ...], str] = {}
        # family head -> (its samples, its text, its parts' keys and texts) at the last
        # rendering: a family whose samples are all equal is not cut into series again
        self._families: dict[tuple[Any, ...], tuple[list[Any], str, dict[Any, str]]] = {}
        # a series (family head, its samples' names and labels) -> (their values, its lines)
        self._swaps: dict[tuple[Any, ...], tuple[list[float], str]] = {}

    def render(self) -> bytes:
        texts: dict[tuple[Any, ...], str] = {}
        families: dict[tuple[Any, ...], tuple[list[Any], str, dict[Any, str]]] = {}
        out: list[str] = []
        for collector in self.collectors:
            if collector is self.histogram:
                self._histogram(texts, out)
                continue
            for family in collector.collect():
                head = (family.name, family.type, family.documentation, family.unit)
                kept = self._families.get(head)
                if kept is not None and kept[0] == family.samples:
                    families[head] = kept
                    texts.update(kept[2])
                    out.append(kept[1])
                    continue
                parts = _series(family)
                if parts is None:  # what the parts cannot hold: the library renders it whole
                    out.append(generate_latest(_One(family)).decode())
                    continue
                mine: dict[Any, str] = {}
                pieces = [self._part(mine, head, partial(_header, family))]
                for key, samples in parts:
                    make = partial(self._swap, head, samples, partial(_lines, family, samples))
                    pieces.append(self._part(mine, (head, key), make))
                text = "".join(pieces)
                families[head] = (list(family.samples), text, mine)
                texts.update(mine)
                out.append(text)
        self._texts = texts  # only what this rendering used: bounded by the text itself
        self._families = families
        return "".join(out).encode()

    def _part(
        self, texts: dict[tuple[Any, ...], str], key: tuple[Any, ...], make: Callable[[], str]
    ) -> str:
        text = self._texts.get(key)
        if text is None:
            text = make()
        texts[key] = text
        return text

    def _swap(self, head: tuple[Any, ...], samples: list[Any], make: Callable[[], str]) -> str:
        """A series whose values moved (a gauge, a counter, one endpoint's buckets): the
        library writes each sample `NAME{LABELS} VALUE\n`, VALUE its `floatToGoString`, so the
        lines it wrote for the same samples (same names and labels) before get their old
        values swapped for the new ones; each line is checked against its old value, and the
        library makes the text itself when one does not end as expected (or a sample has a
        timestamp)."""
        ident = (head, *((x.name, tuple(x.labels.items())) for x in samples))
        before = self._swaps.get(ident)
        text = None
        if before is not None and all(s.timestamp is None for s in samples):
            old_values, old_text = before
            lines = old_text.split("\n")
            if len(lines) == len(samples) + 1 and not lines[-1]:
                new: list[str] = []
                for line, old, sample in zip(lines, old_values, samples, strict=False):
                    tail = f" {floatToGoString(old)}"
                    if not line.endswith(tail):
                        break
                    new.append(f"{line[: -len(tail)]} {floatToGoString(sample.value)}")
                else:
                    text = "\n".join(new) + "\n"
        if text is None:
            text = make()
        if len(self._swaps) > 4096:  # series are few and fixed; bounded anyway
            self._swaps.clear()
        self._swaps[ident] = ([s.value for s in samples], text)
        return text

    def _histogram(self, texts: dict[tuple[Any, ...], str], out: list[str]) -> None:
        h = self.histogram
        out.append(self._part(texts, ("histogram", id(h)), lambda: _header(_family_of(h))))
        for value, count in self.observed().items():
            out.append(
                self._part(texts, ("histogram", id(h), value, count), partial(self._one, value))
            )

    def _one(self, value: str) -> str:
        """One label value's series of the histogram (the child's samples, its label added)."""
        family = _family_of(self.histogram.labels(value))
        samples = [s._replace(labels={self.label: value, **s.labels}) for s in family.samples]
        head = ("histogram", id(self.histogram))
        return self._swap(head, samples, partial(_lines, family, samples))


def _family_of(collector: Collector) -> Metric:
    (family,) = collector.collect()
    return family


def _header(family: Metric) -> str:
    """The family's HELP and TYPE lines, as `generate_latest` writes them."""
    part = copy.copy(family)
    part.samples = []
    return generate_latest(_One(part)).decode()


def _lines(family: Metric, samples: list) -> str:
    """`samples` of `family` as `generate_latest` writes them, without HELP and TYPE."""
    part = copy.copy(family)
    part.samples = samples
    return generate_latest(_One(part)).decode().split("\n", 2)[2]


def _series(family: Metric) -> list[tuple[tuple[Any, ...], list]] | None:
    """The family's samples in runs of one series (the same labels apart from `le`), each
    with a key that changes whenever what the run renders to changes; None when a sample
    has what a part cannot render alone (an exemplar, a native histogram, a moved suffix)."""
    runs: list[tuple[list[tuple[Any, ...]], list]] = []
    last: tuple[Any, ...] | None = None
    moved = tuple(family.name + suffix for suffix in _MOVED_SUFFIXES)
    for s in family.samples:
        if s.exemplar is not None or s.native_histogram is not None or s.name in moved:
            return None
        labels = tuple(s.labels.items())
        series = tuple(item for item in labels if item[0] != "le")
        if series != last or not runs:
            runs.append(([], []))
            last = series
        runs[-1][0].append((s.name, labels, s.value, s.timestamp))
        runs[-1][1].append(s)
    return [(tuple(key), samples) for key, samples in runs]


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
        self.collector = _SnapshotCollector(terminal_id, version)
        self.registry.register(self.collector)
        self._exchanges: dict[str, int] = {}  # endpoint -> API exchanges observed
        self.exposition = CachedExposition(
            [
                self.operations,
                self.alarms,
                self.api_requests,
                self.api_duration,
                self.api_last_success,
                self.start_time,
                self.collector,
            ],
            self.api_duration,
            "endpoint",
            lambda: self._exchanges,
        )
        self.last_sale_at: float | None = None
        self.last_sale_read = False  # read once from the journal, then kept up to date
        self.written: str | None = None  # path of the last textfile written
        self._changed: asyncio.Event | None = None
        self._observed = 0  # updates of counters and of the histogram so far
        self._written_key: tuple[int, Snapshot] | None = None  # what the last write was made of
        self._written_at = float("-inf")  # monotonic time of the last textfile write
        self._errors: set[str] = set()
        self._server: Any = None
        self._serving: str = ""

    # ------------------------------------------------------------------ hooks

    def observe_exchange(self, endpoint: str, seconds: float, outcome: str) -> None:
        """BanklotClient's `on_exchange`: one API exchange (endpoint template, never a path)."""
        self._observed += 1
        self._exchanges[endpoint] = self._exchanges.get(endpoint, 0) + 1
        self.api_requests.labels(endpoint, outcome).inc()
        self.api_duration.labels(endpoint).observe(seconds)
        if outcome == "ok":
            self.api_last_success.set(self.now())

    def observe_outcome(self, outcome: Any) -> None:
        """An outbox outcome: count final ones, remember the last sale."""
        kind, op_kind = outcome.kind, outcome.op_kind or ""
        if kind in FINAL_STATES and op_kind:
            self._observed += 1
            self.operations.labels(op_kind, kind).inc()
            if kind == "done" and op_kind == "create":
                self.last_sale_at = self.now()
        elif kind == "alarm":
            self._observed += 1
            self.alarms.inc()
        self.changed()

    def changed(self) -> None:
        """Something the gauges show has changed: write soon (coalesced)."""
        if self._changed is not None:
            self._changed.set()

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
        written by a worker thread, so a slow SD card never stalls the loop. Rendered and
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
        await asyncio.to_thread(self._write, directory, self.render())
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
                await asyncio.sleep(MIN_GAP_S)
        finally:
            self._stop_server()
            with contextlib.suppress(Exception):
                self.refresh(take)  # the last state, as the kiosk stops


def _steady_snapshot(s: Snapshot) -> Snapshot:
    """The snapshot without the fields that change at every reading without anything
    happening (the reading time, the oldest doubt's and the catalog's ages, the journal's
    size: `kioskd_last_update_timestamp_seconds`, `kioskd_oldest_in_doubt_age_seconds`,
    `kioskd_catalog_age_seconds`, `kioskd_journal_size_bytes`): they make no textfile write on
    their own (`textfile_max_age_s` bounds how old they get). With the same counters, equal
    ones render the same file apart from those lines."""
    return replace(
        s,
        taken_at=0.0,
        oldest_in_doubt_s=0.0,
        catalog_age_s=None if s.catalog_age_s is None else 0.0,
        journal_bytes=0,
    )


def _close_server(server: Any) -> None:
    server.shutdown()
    server.server_close()


# ---------------------------------------------------------------------- reading the kiosk


def snapshot_of(daemon: Any) -> Snapshot:
    """Read the daemon's health, outbox, journal, printer, devices and lights."""
    from kioskd.daemon.looplag import PROBE
    from kioskd.journal import states

    now = daemon.clock.now()
    journal = daemon.journal
    counts = daemon.outbox.counts()
    doubtful = journal.operations((states.IN_DOUBT, states.RECONCILING))
    oldest = min((op.sent_at or op.created_at for op in doubtful), default=None)
    queued = journal.operations((states.QUEUED,))
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
