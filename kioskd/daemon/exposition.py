"""The Prometheus text exposition of the kiosk's registry, kept between renderings: each
series' text is read again only when it can have moved (issue 19: CPU per sale).

Rules:
- The text is prometheus_client's `generate_latest`, byte for byte: every line kept is a line
  the library wrote, and a series that moved gets its new values (the library's own
  `floatToGoString`) in the lines it wrote for it, each checked against the value it was
  written with; anything that does not fit is rendered by the library again.
- A counter, gauge or histogram series is read again only after its writer said so (`moved`:
  the `Metrics` hooks are the only writers of those metrics); a snapshot family only when a
  field it reads changed (`kioskd.daemon.metrics_snapshot`).
- A rendering that fails midway forgets everything kept: the next one starts afresh.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any, NamedTuple, cast

from prometheus_client import Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from kioskd.daemon import metrics_snapshot as families
from kioskd.daemon.metrics_snapshot import Snapshot, SnapshotCollector, changed_fields, same_value


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

    def matches(self, samples: list[Sample], *, child: bool = False) -> bool:
        """Whether `samples` are this series' samples (the same names and labels, in the
        same order), with lines that can take new values. `child`: what the child of a
        labelled metric reports for this series (its samples without the parent's labels)."""
        labels = self.own if child else self.labels
        return (
            self.prefixes is not None
            and _plain(samples)
            and self.names == [s.name for s in samples]
            and labels == [s.labels for s in samples]
        )

    def swapped(self, values: list[float]) -> _Series:
        """The same samples with these values (a line whose value is the same is kept; a
        histogram's upper buckets share one value: formatted once)."""
        prefixes, olds = self.prefixes, self.values
        assert prefixes is not None and len(values) == len(olds)
        lines = self.lines.copy()
        formatted: dict[float, str] = {}  # nonzero values only: 0.0 == -0.0 as a key
        for i, new in enumerate(values):
            if new == olds[i] and same_value(olds[i], new):
                continue
            text = formatted.get(new) if new else None
            if text is None:
                text = formatted[new] = floatToGoString(new)
            lines[i] = f"{prefixes[i]}{text}\n"
        return _Series(
            self.names, self.labels, self.own, values, lines, self.prefixes, "".join(lines)
        )


def _histogram_values(child: Any, old: _Series) -> list[float] | None:
    """A histogram series' values in the order of its lines (each bucket's count cumulated,
    the count, the sum), read from the child's own counters: its `collect` builds every
    bucket's sample again with its `le` formatted (21 us a series against 4 here; one a sale:
    the request's duration). None, and the child is collected, when the lines the library
    wrote are not those buckets, count and sum (another layout than this library version's)
    or the child has not the counters read here."""
    buckets, total = getattr(child, "_buckets", None), getattr(child, "_sum", None)
    names = old.names
    if (
        old.prefixes is None
        or not isinstance(buckets, list)
        or total is None
        or len(names) != len(buckets) + 2
        or not names[-2].endswith("_count")
        or not names[-1].endswith("_sum")
        or not all(name.endswith("_bucket") for name in names[:-2])
    ):
        return None
    values: list[float] = []
    count = 0.0
    for bucket in buckets:
        count += bucket.get()
        values.append(count)
    values.append(count)
    values.append(total.get())
    return values


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
    parts: list[str]  # each of `families.SNAPSHOT_FAMILIES`' text ("": not shown)
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
      not move keeps its text; a series that moved has its child collected alone (a
      histogram's child: its counters read, `_histogram_values`) and its new values swapped
      into its lines (`_Series.swapped`); a metric is collected whole when a
      series that moved was never rendered (a new endpoint: the library's order of its
      series is then its own) or does not match its lines.
    - the snapshot collector's families are built again only when a field they read
      (`reads`) differs from the last rendered snapshot's (`same_value`), its build info only
      when the terminal id or version changed.
    Every line is still the library's own rendering (`generate_latest` of a family holding
    only that part), with at most its value swapped for the value's `floatToGoString`, so
    the format stays its; `tests/metrics/test_exposition.py` checks the identity. A rendering
    that fails forgets everything (the next one collects all).
    """

    def __init__(self, collectors: list[MetricWrapperBase | SnapshotCollector]) -> None:
        self.collectors = collectors  # in the registry's order (registration order)
        self._snapshot_collectors = {c for c in collectors if isinstance(c, SnapshotCollector)}
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
        self, c: MetricWrapperBase | SnapshotCollector, moved: set[tuple[str, ...]] | None
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
            child = metric.labels(*key) if key else metric
            values = _histogram_values(child, old) if isinstance(metric, Histogram) else None
            if values is None:
                (family,) = child.collect()
                samples = family.samples
                if not old.matches(samples, child=True):
                    return None
                values = [s.value for s in samples]
            cut.series[key] = old.swapped(values)
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

    def _snapshot_text(self, c: SnapshotCollector) -> str:
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
        changed = changed_fields(before, s) if before is not None else None
        parts: list[str] = []
        for i, (names, build) in enumerate(families.SNAPSHOT_FAMILIES):
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
