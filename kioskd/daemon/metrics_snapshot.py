"""What the kiosk's state shows in its metrics: the `Snapshot` read on the event loop and the
metric families built from it (names, help texts, label values), in the textfile's order.

Rules:
- A snapshot is replaced, never changed: the collector serves the last one to any thread (the
  HTTP listener's too), and a field holding the very same object has not changed.
- Each family is registered with the snapshot fields its builder reads (`reads`): the cached
  exposition (`kioskd.daemon.exposition`) builds one again only when one of those fields
  changed (`changed_fields`; issue 19: CPU per sale). tests/metrics/test_exposition.py checks
  that no other field changes what a builder makes.
- Nothing here can hold a PIN, password, token or ticket number: `Snapshot` has no field for
  one, and every label takes a small, fixed set of values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from math import copysign
from operator import attrgetter
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from kioskd.lights import STATES as LIGHT_STATES

UNFINISHED_STATES = ("queued", "sending", "in_doubt", "reconciling", "conflict")
PAPER_STATES = ("ok", "near_end", "out", "unknown")
COVER_STATES = ("open", "closed", "unknown")


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


# Every field of a snapshot, read at once (what `changed_fields` compares).
FIELDS = tuple(f.name for f in fields(Snapshot))
_read_fields = attrgetter(*FIELDS)


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
SNAPSHOT_FAMILIES: list[tuple[frozenset[str], SnapshotFamily]] = []


def reads(*names: str) -> Callable[[SnapshotFamily], SnapshotFamily]:
    """Register the next family of the textfile, built from these snapshot fields only."""
    assert set(names) <= set(FIELDS), set(names) - set(FIELDS)

    def register(build: SnapshotFamily) -> SnapshotFamily:
        SNAPSHOT_FAMILIES.append((frozenset(names), build))
        return build

    return register


def _field_gauge(name: str, metric: str, doc: str) -> None:
    """Register the next family: a gauge showing snapshot field `name` as it is (a count, a
    flag or seconds; the library writes each as a float)."""

    def build(s: Snapshot) -> Metric:
        return _gauge(metric, doc, float(getattr(s, name)))

    build.__name__ = f"_{name}"
    reads(name)(build)


_field_gauge(
    "taken_at",
    "kioskd_last_update_timestamp_seconds",
    "When these values were read from the kiosk (Unix time)",
)


@reads("unfinished")
def _unfinished(s: Snapshot) -> Metric:
    g = GaugeMetricFamily(
        "kioskd_operations_unfinished",
        "Operations that still need the outbox or a person, by state",
        labels=["state"],
    )
    for state in UNFINISHED_STATES:
        g.add_metric([state], float(s.unfinished.get(state, 0)))
    return g


_field_gauge(
    "oldest_in_doubt_s",
    "kioskd_oldest_in_doubt_age_seconds",
    "Age of the oldest operation in doubt or reconciling (0: none)",
)


_field_gauge("queued_operations", "kioskd_queue_operations", "Operations queued offline")


_field_gauge(
    "queued_amount", "kioskd_queue_amount", "Amount queued offline, in whole currency units"
)


_field_gauge(
    "max_queued_operations",
    "kioskd_queue_max_operations",
    "Cap on operations queued offline (offline.max_queued)",
)


_field_gauge(
    "max_queued_amount",
    "kioskd_queue_max_amount",
    "Cap on the amount queued offline (offline.max_queued_amount)",
)


_field_gauge("api_up", "kioskd_api_up", "1 when the Banklot API answers and accepts our login")


_field_gauge(
    "server_time_known",
    "kioskd_server_time_known",
    "1 when the server's time is known from its answers on this boot (0: new money "
    "waits for an answer, or is stamped on a floor carried across a reboot)",
)


@reads("clock_skew_s")
def _clock_skew(s: Snapshot) -> Metric | None:
    if s.clock_skew_s is None:
        return None
    return _gauge(
        "kioskd_clock_skew_seconds",
        "Server time minus the kiosk's wall clock (money never depends on it; large "
        "means NTP is not working)",
        s.clock_skew_s,
    )


@reads("catalog_age_s")
def _catalog_age(s: Snapshot) -> Metric | None:
    if s.catalog_age_s is None:
        return None
    return _gauge(
        "kioskd_catalog_age_seconds", "Age of the product catalog in use", s.catalog_age_s
    )


@reads("catalog_stale", "catalog_age_s")
def _catalog_stale(s: Snapshot) -> Metric:
    return _gauge(
        "kioskd_catalog_stale",
        "1 when the catalog is older than catalog.stale_after_s (or there is none)",
        s.catalog_stale or s.catalog_age_s is None,
    )


@reads("printer")
def _printer_connected(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _gauge(
        "kioskd_printer_connected",
        "1 when the printer's transport opens (0: unplugged, off, unreachable)",
        s.printer.connected,
    )


@reads("printer")
def _printer_online(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _gauge("kioskd_printer_online", "1 when the printer says it is online", s.printer.online)


@reads("printer")
def _printer_paper(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _state_set(
        "kioskd_printer_paper", "Paper roll sensor, by state", PAPER_STATES, s.printer.paper
    )


@reads("printer")
def _printer_cover(s: Snapshot) -> Metric | None:
    if s.printer is None:
        return None
    return _state_set(
        "kioskd_printer_cover", "Printer cover, by state", COVER_STATES, s.printer.cover
    )


@reads("devices")
def _devices(s: Snapshot) -> Metric:
    g = GaugeMetricFamily(
        "kioskd_device_present", "1 when the device of this role is there", labels=["role"]
    )
    for role, present in sorted(s.devices.items()):
        g.add_metric([role], 1.0 if present else 0.0)
    return g


_field_gauge(
    "journal_bytes",
    "kioskd_journal_size_bytes",
    "Size of the SQLite journal with its write-ahead log",
)


_field_gauge(
    "journal_attention",
    "kioskd_journal_attention",
    "1 when the journal cannot be used (no money operation is possible)",
)


@reads("lights")
def _lights(s: Snapshot) -> Metric:
    return _state_set(
        "kioskd_lights", "The kiosk's steady light state", tuple(LIGHT_STATES), s.lights
    )


@reads("last_sale_at")
def _last_sale_time(s: Snapshot) -> Metric | None:
    if s.last_sale_at is None:
        return None
    return _gauge(
        "kioskd_last_sale_timestamp_seconds",
        "When the last sale was confirmed (Unix time)",
        s.last_sale_at,
    )


@reads("slips_printed")
def _slips_printed(s: Snapshot) -> Metric:
    return CounterMetricFamily(
        "kioskd_slips_printed",
        "Slips printed since kioskd started",
        value=float(s.slips_printed),
    )


_field_gauge(
    "loop_longest_s",
    "kioskd_loop_longest_callback_seconds",
    "Longest time one callback held the event loop since kioskd was ready",
)


@reads("loop_stalls")
def _loop_stalls(s: Snapshot) -> Metric:
    return CounterMetricFamily(
        "kioskd_loop_stalls",
        "Callbacks that held the event loop longer than 50 ms since kioskd was ready",
        value=float(s.loop_stalls),
    )


class SnapshotCollector(Collector):
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
        for _names, build in SNAPSHOT_FAMILIES:
            family = build(s)
            if family is not None:
                yield family


def same_value(a: Any, b: Any) -> bool:
    """Whether two values of a snapshot field render the same: equal, of one type, and not
    0.0 against -0.0 (equal, but `floatToGoString` writes "-0.0": `round(-0.04, 1)` is a
    clock skew of -0.0). A field's dict holds ints or bools, never a float."""
    return type(a) is type(b) and a == b and (a != 0 or copysign(1.0, a) == copysign(1.0, b))


def changed_fields(before: Snapshot, after: Snapshot) -> set[str]:
    """The fields whose values differ between two snapshots (see `same_value`; a snapshot is
    replaced, never changed, so a field holding the very same object has not changed)."""
    changed = set()
    for name, a, b in zip(FIELDS, _read_fields(before), _read_fields(after), strict=True):
        if a is not b and not same_value(a, b):
            changed.add(name)
    return changed
