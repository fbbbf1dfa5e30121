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
  each series' text and reads again only what can have moved (a sale changes about a dozen
  of some 260 lines; issue 19: CPU per sale): a counter, gauge or histogram series only after
  its writer said so (`CachedExposition.moved`: the hooks below are the only writers of the
  prometheus_client metrics), a snapshot family only when a field it reads (`_reads`)
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
from dataclasses import dataclass, field, fields
from math import copysign
from operator import attrgetter
from typing import Any, NamedTuple, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
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


# Every field of a snapshot, read at once (what `_changed_fields` compares).
_FIELDS = tuple(f.name for f in fields(Snapshot))
_read_fields = attrgetter(*_FIELDS)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _state_set(name: str, doc: str, states: tuple[str, ...], current: str) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=["state"])
    for s in states:
        g.add_metric([s], 1.0 if s == current else 0.0)
    return g


# ---------------------------------------------------------------------- the snapshot's families

SnapshotFamily = Callable[[Snapshot], Metric | None]
# The families a snapshot shows, in the textfile's order, each with the snapshot fields its
# builder reads: `CachedExposition` builds one again only when one of those fields changed
# (issue 19: CPU per sale). tests/metrics/test_exposition.py checks that no other field
# changes what a builder makes. None: the family is not shown (no printer, no catalog...).
_SNAPSHOT_FAMILIES: list[tuple[frozenset[str], SnapshotFamily]] = []


def _reads(*names: str) -> Callable[[SnapshotFamily], SnapshotFamily]:
    """Register the next family of the textfile, built from these snapshot fields only."""
    assert set(names) <= set(_FIELDS), set(names) - set(_FIELDS)

    def register(build: SnapshotFamily) -> SnapshotFamily:
        _SNAPSHOT_FAMILIES.append((frozenset(names), build))
        return build

    return register


@_reads("taken_at")
def _last_update(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_last_update_timestamp_seconds",
        "When these values were read from the kiosk (Unix time)",
        s.taken_at,
    )


@_reads("unfinished")
def _unfinished(s: Snapshot) -> Metric:
    g = GaugeMetricFamily(
        "kioskd_operations_unfinished",
        "Operations that still need the outbox or a person, by state",
        labels=["state"],
    )
    for state in UNFINISHED_STATES:
        g.add_metric([state], float(s.unfinished.get(state, 0)))
    return g


@_reads("oldest_in_doubt_s")
def _oldest_in_doubt(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_oldest_in_doubt_age_seconds",
        "Age of the oldest operation in doubt or reconciling (0: none)",
        s.oldest_in_doubt_s,
    )


@_reads("queued_operations")
def _queue_operations(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_queue_operations", "Operations queued offline", float(s.queued_operations)
    )


@_reads("queued_amount")
def _queue_amount(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_queue_amount",
        "Amount queued offline, in whole currency units",
        float(s.queued_amount),
    )


@_reads("max_queued_operations")
def _queue_max_operations(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_queue_max_operations",
        "Cap on operations queued offline (offline.max_queued)",
        float(s.max_queued_operations),
    )


@_reads("max_queued_amount")
def _queue_max_amount(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_queue_max_amount",
        "Cap on the amount queued offline (offline.max_queued_amount)",
        float(s.max_queued_amount),
    )


@_reads("api_up")
def _api_up(s: Snapshot) -> Metric:
    return _gauge("kioskd_api_up", "1 when the Banklot API answers and accepts our login", s.api_up)


@_reads("server_time_known")
def _server_time_known(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_server_time_known",
        "1 when the server's time is known from its answers on this boot (0: new money "
        "waits for an answer, or is stamped on a floor carried across a reboot)",
        s.server_time_known,
    )


@_reads("clock_skew_s")
def _clock_skew(s: Snapshot) -> Metric | None:
    if s.clock_skew_s is None:
        return None
    return _gauge(
        "kioskd_clock_skew_seconds",
        "Server time minus the kiosk's wall clock (money never depends on it; large "
        "means NTP is not working)",
        s.clock_skew_s,
    )


@_reads("catalog_age_s")
def _catalog_age(s: Snapshot) -> Metric | None:
    if s.catalog_age_s is None:
        return None
    return _gauge(
        "kioskd_catalog_age_seconds", "Age of the product catalog in use", s.catalog_age_s
    )


@_reads("catalog_stale", "catalog_age_s")
def _catalog_stale(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_catalog_stale",
        "1 when the catalog is older than catalog.stale_after_s (or there is none)",
        s.catalog_stale or s.catalog_age_s is None,
    )


@_reads("printer")
def _printer_connected(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _gauge(
        "kioskd_printer_connected",
        "1 when the printer's transport opens (0: unplugged, off, unreachable)",
        s.printer.connected,
    )


@_reads("printer")
def _printer_online(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _gauge("kioskd_printer_online", "1 when the printer says it is online", s.printer.online)


@_reads("printer")
def _printer_paper(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _state_set(
        "kioskd_printer_paper", "Paper roll sensor, by state", PAPER_STATES, s.printer.paper
    )


@_reads("printer")
def _printer_cover(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _state_set(
        "kioskd_printer_cover", "Printer cover, by state", COVER_STATES, s.printer.cover
    )


@_reads("devices")
def _devices(s: Snapshot) -> Metric:
    g = GaugeMetricFamily(
        "kioskd_device_present", "1 when the device of this role is there", labels=["role"]
    )
    for role, present in sorted(s.devices.items()):
        g.add_metric([role], 1.0 if present else 0.0)
    return g


@_reads("journal_bytes")
def _journal_size(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_journal_size_bytes",
        "Size of the SQLite journal with its write-ahead log",
        float(s.journal_bytes),
    )


@_reads("journal_attention")
def _journal_attention(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_journal_attention",
        "1 when the journal cannot be used (no money operation is possible)",
        s.journal_attention,
    )


@_reads("lights")
def _lights(s: Snapshot) -> Metric:
    return _state_set(
        "kioskd_lights", "The kiosk's steady light state", tuple(LIGHT_STATES), s.lights
    )


@_reads("last_sale_at")
def _last_sale_time(s: Snapshot) -> Metric | None:
    if s.last_sale_at is None:
        return None
    return _gauge(
        "kioskd_last_sale_timestamp_seconds",
        "When the last sale was confirmed (Unix time)",
        s.last_sale_at,
    )


@_reads("slips_printed")
def _slips_printed(s: Snapshot) -> Metric:
    return CounterMetricFamily(
        "kioskd_slips_printed",
        "Slips printed since kioskd started",
        value=float(s.slips_printed),
    )


@_reads("loop_longest_s")
def _loop_longest(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_loop_longest_callback_seconds",
        "Longest time one callback held the event loop since kioskd was ready",
        s.loop_longest_s,
    )


@_reads("loop_stalls")
def _loop_stalls(s: Snapshot) -> Metric:
    return CounterMetricFamily(
        "kioskd_loop_stalls",
        "Callbacks that held the event loop longer than 50 ms since kioskd was ready",
        value=float(s.loop_stalls),
    )


class _SnapshotCollector(Collector):
    """Serves the last snapshot (thread-safe: the snapshot is replaced, never changed)."""

    def __init__(self, terminal_id: str, version: str) -> None:
        self.terminal_id = terminal_id
        self.version = version
        self.snapshot: Snapshot | None = None

    def info(self) -> Metric:
        return InfoMetricFamily(
            "kioskd_build",
            "kioskd version and terminal id (1 while kioskd runs; join on instance)",
            value={"version": self.version, "terminal_id": self.terminal_id},
        )

    def collect(self) -> Iterator[Metric]:
        yield self.info()
        s = self.snapshot
        if s is None:
            return
        for _names, build in _SNAPSHOT_FAMILIES:
            family = build(s)
            if family is not None:
                yield family


def _same(a: Any, b: Any) -> bool:
    """Whether two values of a snapshot field render the same: equal, of one type, and not
    0.0 against -0.0 (equal, but `floatToGoString` writes "-0.0": `round(-0.04, 1)` is a
    clock skew of -0.0). A field's dict holds ints or bools, never a float."""
    return type(a) is type(b) and a == b and (a != 0 or copysign(1.0, a) == copysign(1.0, b))


def _changed_fields(before: Snapshot, after: Snapshot) -> set[str]:
    """The fields whose values differ between two snapshots (see `_same`; a snapshot is
    replaced, never changed, so a field holding the very same object has not changed)."""
    changed = set()
    for name, a, b in zip(_FIELDS, _read_fields(before), _read_fields(after), strict=True):
        if a is not b and not _same(a, b):
            changed.add(name)
    return changed


# ---------------------------------------------------------------------- the exposition


class _One(Collector):
    """A collector of one metric family, for `generate_latest` to render a part of the text."""

    def __init__(self, family: Metric) -> None:
        self.family = family

    def collect(self) -> Iterator[Metric]:
        yield self.family


# Samples `generate_latest` moves to a family of their own (OpenMetrics-only): a family that
# has one is rendered whole, never in parts.
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")
# The label a series' samples differ by (a histogram's buckets): not part of the series' key.
_BUCKET_LABEL = "le"


class _Series(NamedTuple):
    """One series (a sample, or one endpoint's buckets, count and sum) as the library wrote
    it. The library writes each sample `NAME{LABELS} VALUE\\n`, VALUE its `floatToGoString`:
    each line is cut once before its value (checked against the value it was written with),
    so the same samples with other values are the same prefixes with the new values'
    `floatToGoString` (`swapped`). `prefixes` is None when a line did not end as expected or a
    sample has a timestamp: the library then writes the series each time it moves. (Lists,
    never changed once made: cheaper to compare with what a collection returns.)"""

    names: list[str]
    labels: list[dict[str, str]]
    own: list[dict[str, str]]  # each sample's labels but the series' (a child's: `le`)
    values: list[float]
    lines: list[str]
    prefixes: list[str] | None
    text: str

    def matches(self, samples: list[Sample]) -> bool:
        """Whether `samples` are this series' samples (the same names and labels, in the
        same order), with lines that can take new values."""
        return (
            self.prefixes is not None
            and _plain(samples)
            and self.names == [s.name for s in samples]
            and self.labels == [s.labels for s in samples]
        )

    def matches_child(self, samples: list[Sample]) -> bool:
        """`matches` for what the child of a labelled metric reports for this series (its
        samples without the parent's labels, in the order the parent reports them)."""
        return (
            self.prefixes is not None
            and _plain(samples)
            and self.names == [s.name for s in samples]
            and self.own == [s.labels for s in samples]
        )

    def swapped(self, values: list[float]) -> _Series:
        """The same samples with these values (a line whose value is the same is kept; a
        histogram's upper buckets share one value: formatted once)."""
        prefixes, olds = self.prefixes, self.values
        assert prefixes is not None and len(values) == len(olds)
        lines = self.lines.copy()
        formatted: dict[float, str] = {}  # nonzero values only: 0.0 == -0.0 as a key
        for i, new in enumerate(values):
            if new == olds[i] and _same(olds[i], new):
                continue
            text = formatted.get(new) if new else None
            if text is None:
                text = formatted[new] = floatToGoString(new)
            lines[i] = f"{prefixes[i]}{text}\n"
        return _Series(
            self.names, self.labels, self.own, values, lines, self.prefixes, "".join(lines)
        )


def _written(samples: list[Sample], text: str) -> _Series:
    """The series of `samples` from `text`, the library's own lines for them."""
    cut = _cut(samples, text)
    return _Series(
        names=[s.name for s in samples],
        labels=[s.labels for s in samples],
        own=[_own(s.labels) for s in samples],
        values=[s.value for s in samples],
        lines=cut[0] if cut is not None else [],
        prefixes=cut[1] if cut is not None else None,
        text=text,
    )


def _cut(samples: list[Sample], text: str) -> tuple[list[str], list[str]] | None:
    """Each line of `text` (one a sample) and its part before the value; None when a line
    does not end with its sample's value as `floatToGoString` writes it, or a sample has a
    timestamp (written after the value)."""
    parts = text.split("\n")
    if parts.pop() != "" or len(parts) != len(samples):
        return None
    lines: list[str] = []
    prefixes: list[str] = []
    for part, s in zip(parts, samples, strict=True):
        tail = f" {floatToGoString(s.value)}"
        if s.timestamp is not None or not part.endswith(tail):
            return None
        lines.append(f"{part}\n")
        prefixes.append(part[: len(part) - len(tail) + 1])
    return lines, prefixes


def _own(labels: dict[str, str]) -> dict[str, str]:
    """A sample's labels that are not its series' (what a labelled metric's child reports)."""
    return {k: v for k, v in labels.items() if k == _BUCKET_LABEL}


def _plain(samples: list[Sample]) -> bool:
    """Samples whose lines are `NAME{LABELS} VALUE` (no timestamp, exemplar or native
    histogram, each of which the library writes otherwise)."""
    for s in samples:
        if s.timestamp is not None or s.exemplar is not None or s.native_histogram is not None:
            return False
    return True


class _Family:
    """A family's text as the library wrote it: its HELP and TYPE lines, then its series in
    the library's order (by their key, `_series`)."""

    __slots__ = ("header", "series", "text")

    def __init__(self, header: str, series: dict[tuple[str, ...], _Series]) -> None:
        self.header = header
        self.series = series
        self.text = ""
        self.join()

    def join(self) -> None:
        self.text = self.header + "".join([s.text for s in self.series.values()])


class _SnapshotText(NamedTuple):
    """The snapshot collector's text at the last rendering, and what it was made of."""

    snapshot: Snapshot | None
    ident: tuple[str, str]  # terminal id and version (the build info family)
    info: str
    parts: list[str]  # each of `_SNAPSHOT_FAMILIES`' text ("": not shown)
    text: str


class CachedExposition:
    """`generate_latest(registry)`, byte for byte, formatting again only what moved.

    Why (issue 19: CPU per sale): prometheus_client formats about 10-16 us a line here (names
    and labels escaped and checked each time) and the textfile has some 260 lines, 128 of them
    the request histogram, when a sale changes about a dozen; collecting a metric builds its
    samples again (the histogram alone about 0.7 ms: each bucket's `le` is formatted again),
    and building the snapshot's 25 families about 0.1 ms. So nothing is collected or built
    that cannot have moved (about 0.6 -> 0.2 ms a rendering after a sale here,
    bench/bench_metrics_render.py):
    - a prometheus_client metric (counter, gauge, histogram) is written only by code that
      then calls `moved(metric, *label values)` (the rule of this class; `Metrics`' hooks are
      the only writers), a series' first `labels()` too (it adds a line). A metric that did
      not move keeps its text; a series that moved has its child collected alone and its new
      values swapped into its lines (`_Series.swapped`); a metric is collected whole when a
      series that moved was never rendered (a new endpoint: the library's order of its
      series is then its own) or does not match its lines.
    - the snapshot collector's families are built again only when a field they read
      (`_reads`) differs from the last rendered snapshot's (`_same`), its build info only
      when the terminal id or version changed.
    Every line is still the library's own rendering (`generate_latest` of a family holding
    only that part), with at most its value swapped for the value's `floatToGoString`, so
    the format stays its; `tests/metrics/test_exposition.py` checks the identity. A rendering
    that fails forgets everything (the next one collects all).
    """

    def __init__(self, collectors: list[MetricWrapperBase | _SnapshotCollector]) -> None:
        self.collectors = collectors  # in the registry's order (registration order)
        self._snapshot_collectors = {c for c in collectors if isinstance(c, _SnapshotCollector)}
        self._families: dict[tuple[Any, ...], _Family] = {}  # family head -> its cut text
        # a snapshot family's head -> its HELP and TYPE lines, its samples as one series
        self._small: dict[tuple[Any, ...], tuple[str, _Series]] = {}
        self._texts: dict[Collector, str] = {}  # metric -> its text at the last rendering
        self._cut: dict[Collector, _Family] = {}  # metric -> its one family, cut in series
        self._moved: dict[Collector, set[tuple[str, ...]]] = {}  # since the last rendering
        self._snapshots: dict[Collector, _SnapshotText] = {}

    def moved(self, metric: MetricWrapperBase, *labelvalues: str) -> None:
        """The series of `metric` with these label values (in its labels' order) was
        written or created: the next rendering reads it again."""
        self._moved.setdefault(metric, set()).add(labelvalues)

    def render(self) -> bytes:
        moved, self._moved = self._moved, {}
        try:
            out = [self._text(c, moved.get(c)) for c in self.collectors]
        except BaseException:
            self.forget()
            raise
        return "".join(out).encode()

    def forget(self) -> None:
        """Drop every text kept: the next rendering collects everything."""
        self._families.clear()
        self._small.clear()
        self._texts.clear()
        self._cut.clear()
        self._snapshots.clear()

    def _text(
        self, c: MetricWrapperBase | _SnapshotCollector, moved: set[tuple[str, ...]] | None
    ) -> str:
        if c in self._snapshot_collectors:  # (isinstance of a Collector is slow)
            return self._snapshot_text(c)
        metric = cast(MetricWrapperBase, c)
        kept = self._texts.get(metric)
        if kept is not None and not moved:
            return kept
        text = self._children(metric, moved) if kept is not None and moved else None
        if text is None:
            text = self._collected(metric)
        self._texts[metric] = text
        return text

    def _children(self, metric: MetricWrapperBase, moved: set[tuple[str, ...]]) -> str | None:
        """The metric's text with the series that moved read again from their children
        alone; None when one is new or does not match its lines (collect it whole)."""
        cut = self._cut.get(metric)
        if cut is None:
            return None
        for key in moved:
            old = cut.series.get(key)
            if old is None:
                return None
            (family,) = (metric.labels(*key) if key else metric).collect()
            samples = family.samples
            if not old.matches_child(samples):
                return None
            cut.series[key] = old.swapped([s.value for s in samples])
        cut.join()
        return cut.text

    def _collected(self, metric: MetricWrapperBase) -> str:
        """The metric collected whole (its series the library's, in its order)."""
        families = list(metric.collect())
        text = "".join(self._family_text(f) for f in families)
        cut = self._families.get(_head(families[0])) if len(families) == 1 else None
        if cut is not None:
            self._cut[metric] = cut
        else:
            self._cut.pop(metric, None)
        return text

    def _snapshot_text(self, c: _SnapshotCollector) -> str:
        s, ident = c.snapshot, (c.terminal_id, c.version)
        kept = self._snapshots.get(c)
        if kept is not None and kept.snapshot is s and kept.ident == ident:
            return kept.text
        info = kept.info if kept is not None and kept.ident == ident else self._small_text(c.info())
        parts = [] if s is None else self._snapshot_parts(s, kept)
        text = info + "".join(parts)
        self._snapshots[c] = _SnapshotText(s, ident, info, parts, text)
        return text

    def _snapshot_parts(self, s: Snapshot, kept: _SnapshotText | None) -> list[str]:
        """Each snapshot family's text: kept when no field it reads changed."""
        before = kept.snapshot if kept is not None else None
        changed = _changed_fields(before, s) if before is not None else None
        parts: list[str] = []
        for i, (names, build) in enumerate(_SNAPSHOT_FAMILIES):
            if changed is not None and kept is not None and changed.isdisjoint(names):
                parts.append(kept.parts[i])
                continue
            family = build(s)
            parts.append("" if family is None else self._small_text(family))
        return parts

    def _small_text(self, family: Metric) -> str:
        """A snapshot family's text, its samples one series (a few lines, all built again
        when a field it reads changed: not worth cutting into series)."""
        head = _head(family)
        samples = family.samples
        kept = self._small.get(head)
        if kept is not None and kept[1].matches(samples):
            header, series = kept[0], kept[1].swapped([s.value for s in samples])
        else:
            header = kept[0] if kept is not None else _header(family)
            series = _written(samples, _lines(family, samples))
        self._small[head] = (header, series)
        return header + series.text

    def _family_text(self, family: Metric) -> str:
        """A family's text: each series kept, swapped or written by the library."""
        head = _head(family)
        runs = _series(family)
        if runs is None:  # what the parts cannot hold: the library renders it whole
            self._families.pop(head, None)
            return generate_latest(_One(family)).decode()
        before = self._families.get(head)
        header = before.header if before is not None else _header(family)
        series: dict[tuple[str, ...], _Series] = {}
        for key, samples in runs:
            old = before.series.get(key) if before is not None else None
            series[key] = _fresh(family, samples, old)
        cut = _Family(header, series)
        self._families[head] = cut
        return cut.text


def _fresh(family: Metric, samples: list[Sample], old: _Series | None) -> _Series:
    """The series of `samples`: `old`'s lines with new values when it is the same samples,
    else the library's lines."""
    if old is not None and old.matches(samples):
        return old.swapped([s.value for s in samples])
    return _written(samples, _lines(family, samples))


def _head(family: Metric) -> tuple[Any, ...]:
    return (family.name, family.type, family.documentation, family.unit)


def _header(family: Metric) -> str:
    """The family's HELP and TYPE lines, as `generate_latest` writes them."""
    part = copy.copy(family)
    part.samples = []
    return generate_latest(_One(part)).decode()


def _lines(family: Metric, samples: list[Sample]) -> str:
    """`samples` of `family` as `generate_latest` writes them, without HELP and TYPE."""
    part = copy.copy(family)
    part.samples = samples
    return generate_latest(_One(part)).decode().split("\n", 2)[2]


def _series(family: Metric) -> list[tuple[tuple[str, ...], list[Sample]]] | None:
    """The family's samples in runs of one series (the same labels apart from `le`: one
    child of a labelled metric), each keyed by those labels' values; None when a sample has
    what a part cannot render alone (an exemplar, a native histogram, a moved suffix) or a
    key comes back after another (no key then names one run)."""
    runs: dict[tuple[str, ...], list[Sample]] = {}
    last: tuple[str, ...] | None = None
    run: list[Sample] = []
    for s in family.samples:
        if s.exemplar is not None or s.native_histogram is not None:
            return None
        name = s.name
        if name.startswith(family.name) and name[len(family.name) :] in _MOVED_SUFFIXES:
            return None
        labels = s.labels
        if _BUCKET_LABEL in labels:
            key = tuple(v for k, v in labels.items() if k != _BUCKET_LABEL)
        else:
            key = tuple(labels.values())
        if key != last:
            if key in runs:
                return None
            run = runs[key] = []
            last = key
        run.append(s)
    return list(runs.items())


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
        self._observed = 0  # updates of counters and of the histogram so far
        self._written_key: tuple[int, tuple[Any, ...]] | None = None  # the last write's
        self._written_at = float("-inf")  # monotonic time of the last textfile write
        self._errors: set[str] = set()
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


# The snapshot fields that change at every reading without anything happening.
_VOLATILE = ("taken_at", "oldest_in_doubt_s", "catalog_age_s", "journal_bytes")
_read_steady = attrgetter(*(name for name in _FIELDS if name not in _VOLATILE))


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
