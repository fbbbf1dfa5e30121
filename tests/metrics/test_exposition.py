"""Issue 19 (CPU per sale): the textfile's text is prometheus_client's `generate_latest`, byte
for byte, although `CachedExposition` formats again only the series that changed."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

import pytest
from prometheus_client import generate_latest
from prometheus_client.metrics import MetricWrapperBase

from kioskd.config import MetricsConfig
from kioskd.daemon import exposition
from kioskd.daemon import metrics as m
from kioskd.daemon import metrics_snapshot as snapshots

ROLES = ["keypad", "scanner"]
ENDPOINTS = ("POST /login", "POST /wagers", "GET /wagers/last", "GET /tickets/{n}", "POST /pay")


def _snapshot(rng: random.Random, i: int) -> m.Snapshot:
    printer = None
    if rng.random() < 0.7:
        printer = m.PrinterGauges(
            connected=rng.random() < 0.8,
            online=rng.random() < 0.8,
            paper=rng.choice(snapshots.PAPER_STATES),
            cover=rng.choice(snapshots.COVER_STATES),
        )
    return m.Snapshot(
        taken_at=1_700_000_000.0 + i,
        unfinished={"in_doubt": rng.randrange(3)},
        oldest_in_doubt_s=rng.choice((0.0, 12.5)),
        queued_operations=rng.randrange(4),
        queued_amount=rng.randrange(100),
        api_up=rng.random() < 0.5,
        catalog_age_s=rng.choice((None, float(i))),
        printer=printer,
        devices={r: rng.random() < 0.5 for r in rng.sample(ROLES, rng.randrange(3))},
        journal_bytes=4096 * i,
        lights=rng.choice(("ready", "working", "offline")),
        last_sale_at=rng.choice((None, 1_700_000_000.0 + i)),
        slips_printed=i // 2,
        clock_skew_s=rng.choice((None, -0.25)),
        loop_longest_s=0.001 * i,
    )


def test_cached_rendering_is_generate_latest_byte_for_byte() -> None:
    rng = random.Random(19)
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    assert metrics.render() == generate_latest(metrics.registry)  # no snapshot yet
    for i in range(300):
        for _ in range(rng.randrange(4)):  # exchanges, new endpoints appearing as they come
            endpoint = rng.choice(ENDPOINTS[: 2 + i // 60])
            outcome = rng.choice(m.API_OUTCOMES)
            metrics.observe_exchange(endpoint, rng.choice((0.01, 0.3, 7.0, 40.0)), outcome)
        if rng.random() < 0.5:
            kind = rng.choice((*m.FINAL_STATES, "alarm", "queued"))
            metrics.observe_outcome(SimpleNamespace(kind=kind, op_kind=rng.choice(m.OP_KINDS)))
        if rng.random() < 0.8:
            metrics.update(_snapshot(rng, i))
        assert metrics.render() == generate_latest(metrics.registry), f"step {i}"


def test_a_sale_formats_only_what_it_changed(monkeypatch) -> None:
    """The saving itself: after a sale's changes, the request histogram's other endpoints and
    the unchanged gauges are not formatted again (a rendering that formatted everything would
    still be correct, and 2-3 ms a sale)."""
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    for endpoint in ENDPOINTS:
        metrics.observe_exchange(endpoint, 0.2, "ok")
    metrics.update(m.Snapshot(taken_at=1.0, lights="ready", slips_printed=1))
    full = generate_latest(metrics.registry).count(b"\n")
    metrics.render()
    formatted: list[int] = []
    real = exposition.generate_latest

    def counting(registry):  # type: ignore[no-untyped-def]
        text = real(registry)
        formatted.append(text.count(b"\n"))
        return text

    monkeypatch.setattr(exposition, "generate_latest", counting)
    metrics.observe_exchange("POST /wagers", 0.1, "ok")  # a sale: its request, its outcome
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))
    metrics.update(m.Snapshot(taken_at=2.0, lights="ready", slips_printed=2))
    text = metrics.render()
    monkeypatch.setattr(exposition, "generate_latest", real)
    assert text == generate_latest(metrics.registry)
    assert b'kioskd_operations_total{kind="create",state="done"} 1.0' in text
    # (since a series that moved has its values swapped into its old lines, nothing at all:
    # see the next test)
    assert sum(formatted) < full / 5, (sum(formatted), full)


def test_a_sale_has_the_library_format_nothing_once_each_series_was_written(monkeypatch) -> None:
    """Issue 19 (CPU per sale): between two sales, families whose samples are all equal are
    kept whole, and a series whose values moved (a counter, a gauge, the request histogram's
    buckets) has its values swapped into the lines the library wrote for it before: once
    every series was written once, a sale has the library format nothing, and the text is
    still its own. A series never written before (a new endpoint) is the library's work."""
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    for endpoint in ENDPOINTS[:-1]:
        metrics.observe_exchange(endpoint, 0.2, "ok")
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))
    metrics.update(m.Snapshot(taken_at=1.0, lights="ready", slips_printed=1, journal_bytes=7))
    metrics.render()
    calls: list[bytes] = []
    real = exposition.generate_latest

    def counting(registry):  # type: ignore[no-untyped-def]
        text = real(registry)
        calls.append(text)
        return text

    monkeypatch.setattr(exposition, "generate_latest", counting)
    for sale in range(2, 6):
        calls.clear()
        metrics.observe_exchange("POST /wagers", 0.1 * sale, "ok")
        metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))
        metrics.update(
            m.Snapshot(taken_at=float(sale), lights="ready", slips_printed=sale, journal_bytes=sale)
        )
        text = metrics.render()
        assert text == real(metrics.registry)
        assert f'kioskd_operations_total{{kind="create",state="done"}} {sale}.0'.encode() in text
        assert calls == [], calls
    metrics.observe_exchange(ENDPOINTS[-1], 0.3, "ok")  # its series and its request counter
    text = metrics.render()
    assert text == real(metrics.registry)
    assert len(calls) == 2 and b"_bucket{" in calls[0] + calls[1]


def test_what_decides_a_write_leaves_out_exactly_the_volatile_samples() -> None:
    """A textfile write is decided on the counters and `_steady_snapshot` (no rendering): two
    readings equal there render files that differ only in the four volatile samples' lines,
    and every other field of the snapshot that shows in the file changes the decision."""
    volatile = (
        b"kioskd_last_update_timestamp_seconds",
        b"kioskd_catalog_age_seconds",
        b"kioskd_journal_size_bytes",
        b"kioskd_oldest_in_doubt_age_seconds",
    )
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    metrics.observe_exchange("POST /wagers", 0.2, "ok")
    base = m.Snapshot(taken_at=7.0, catalog_age_s=3.0, journal_bytes=99, oldest_in_doubt_s=4.0)
    moved = dataclasses.replace(
        base, taken_at=8.0, catalog_age_s=9.5, journal_bytes=4096, oldest_in_doubt_s=60.0
    )
    assert m._steady_snapshot(base) == m._steady_snapshot(moved)
    texts = []
    for snap in (base, moved):
        metrics.update(snap)
        texts.append(metrics.render().split(b"\n"))
    differ = [a for a, b in zip(*texts, strict=True) if a != b]
    assert len(differ) == len(volatile) and all(line.startswith(volatile) for line in differ)
    changes = {
        "unfinished": {"in_doubt": 1}, "queued_operations": 2, "queued_amount": 40,
        "max_queued_operations": 5, "max_queued_amount": 100, "api_up": True,
        "catalog_stale": True, "printer": m.PrinterGauges(True, True, "ok", "closed"),
        "devices": {"keypad": True}, "journal_attention": True, "lights": "offline",
        "last_sale_at": 6.0, "slips_printed": 3, "server_time_known": True,
        "clock_skew_s": 1.5, "loop_longest_s": 0.02, "loop_stalls": 1,
    }  # fmt: skip
    shown = {f.name for f in dataclasses.fields(m.Snapshot)} - {
        "taken_at", "catalog_age_s", "journal_bytes", "oldest_in_doubt_s"
    }  # fmt: skip
    assert set(changes) == shown  # a new field must be listed here
    for name, value in changes.items():
        changed = dataclasses.replace(base, **{name: value})
        assert m._steady_snapshot(changed) != m._steady_snapshot(base), name
        metrics.update(changed)
        assert metrics.render().split(b"\n") != texts[0], name


def _same_text(metrics: m.Metrics, step: str) -> None:
    assert metrics.render() == generate_latest(metrics.registry), step


def test_every_kind_of_change_reaches_the_cached_text() -> None:
    """Each way the file can change, one after the other, each rendering checked against the
    library's: a family kept because "nothing it shows moved" while something did is the
    failure this catches (counters, histogram series old and new, gauges that change and
    change back, a snapshot replaced by an equal one, families that come and go)."""
    t = {"now": 100.0}
    metrics = m.Metrics(
        lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: t["now"]
    )
    _same_text(metrics, "empty")
    base = m.Snapshot(taken_at=1.0, lights="ready", devices={"keypad": True})
    metrics.update(base)
    _same_text(metrics, "first snapshot")
    metrics.update(dataclasses.replace(base))  # equal, another object
    _same_text(metrics, "equal snapshot")
    metrics.observe_exchange("POST /wagers", 0.2, "ok")
    _same_text(metrics, "first exchange: a new series of each API metric")
    t["now"] = 101.0
    metrics.observe_exchange("POST /wagers", 0.07, "ok")  # the same series, other buckets
    _same_text(metrics, "an old endpoint")
    metrics.observe_exchange("POST /wagers", 40.0, "in_doubt")  # +Inf only; a new outcome
    _same_text(metrics, "a new outcome of an old endpoint")
    metrics.observe_exchange("GET /tickets/{n}", 3.0, "rejected")
    _same_text(metrics, "a new endpoint after the old one")
    for kind in ("done", "rejected", "expired"):
        metrics.observe_outcome(SimpleNamespace(kind=kind, op_kind="pay"))
        _same_text(metrics, f"outcome {kind}")
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="revert"))  # a new child
    _same_text(metrics, "an operation kind never seen")
    metrics.observe_outcome(SimpleNamespace(kind="alarm", op_kind=""))
    _same_text(metrics, "an alarm")
    changes: list[dict[str, object]] = [
        {"printer": m.PrinterGauges(True, True, "ok", "closed")},
        {"printer": m.PrinterGauges(True, False, "near_end", "open")},
        {"printer": None},
        {"clock_skew_s": 0.5},
        {"clock_skew_s": 0.0},
        {"clock_skew_s": -0.0},  # equal to 0.0, written "-0.0"
        {"clock_skew_s": None},
        {"catalog_age_s": 3.0},
        {"catalog_age_s": None},
        {"devices": {"keypad": True, "scanner": False}},
        {"devices": {}},
        {"unfinished": {"in_doubt": 2}},
        {"lights": "offline"},
        {"last_sale_at": 99.0},
        {"slips_printed": 1},
        {"api_up": True},
        {"api_up": 1},  # equal, another type: the same text
        {"loop_longest_s": float("nan")},
        {"loop_longest_s": float("inf")},
    ]
    snapshot = base
    for change in changes:  # one after the other
        snapshot = dataclasses.replace(snapshot, **change)  # type: ignore[arg-type]
        metrics.update(snapshot)
        _same_text(metrics, f"changed {change}")
    for change in changes:  # each from the first snapshot, and back
        metrics.update(dataclasses.replace(base, **change))  # type: ignore[arg-type]
        _same_text(metrics, f"changed {change} from the first")
        metrics.update(base)
        _same_text(metrics, f"changed back from {change}")
    metrics.collector.version = "2"
    _same_text(metrics, "another version")


def test_a_rendering_that_fails_forgets_what_moved_and_the_next_is_whole(monkeypatch) -> None:
    """What moved is taken when a rendering starts: one that fails half way must not leave
    a series that moved with its old text (the next rendering collects everything)."""
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    metrics.observe_exchange("POST /wagers", 0.2, "ok")
    metrics.update(m.Snapshot(taken_at=1.0))
    metrics.render()
    metrics.observe_exchange("POST /wagers", 0.3, "ok")
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))

    def broken(self, values):  # type: ignore[no-untyped-def]
        raise RuntimeError("half way")

    with monkeypatch.context() as patch:
        patch.setattr(exposition._Series, "swapped", broken)
        with pytest.raises(RuntimeError):
            metrics.render()
    _same_text(metrics, "after the failure")


def test_nothing_that_did_not_move_is_collected_or_built(monkeypatch) -> None:
    """The saving itself (issue 19): after a sale, only the children of the series it moved
    are collected (never a whole metric: the request histogram whole costs 0.7 ms) and only
    the snapshot families whose fields changed are built; between two equal snapshots,
    nothing at all."""
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    for endpoint in ENDPOINTS:
        metrics.observe_exchange(endpoint, 0.2, "ok")
    snapshot = m.Snapshot(taken_at=1.0, lights="ready", slips_printed=1, catalog_age_s=2.0)
    metrics.update(snapshot)
    metrics.render()
    collected: list[str] = []
    built: list[str] = []

    def counted_render() -> bytes:
        """A rendering that records what it collected and built (the library's own
        rendering, to compare with, collects everything)."""
        real_collect = MetricWrapperBase.collect

        def counting_collect(self):  # type: ignore[no-untyped-def]
            collected.append(f"{self._name}{list(self._labelvalues)}")
            return real_collect(self)

        def counting(build):  # type: ignore[no-untyped-def]
            return lambda s: built.append(build.__name__) or build(s)

        families = [(names, counting(build)) for names, build in snapshots.SNAPSHOT_FAMILIES]
        with monkeypatch.context() as patch:
            patch.setattr(MetricWrapperBase, "collect", counting_collect)
            patch.setattr(snapshots, "SNAPSHOT_FAMILIES", families)
            return metrics.render()

    metrics.update(dataclasses.replace(snapshot))
    assert counted_render() == generate_latest(metrics.registry)
    assert built == [] and collected == []
    metrics.observe_exchange("POST /wagers", 0.1, "ok")
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))
    metrics.update(dataclasses.replace(snapshot, taken_at=2.0, slips_printed=2))
    assert counted_render() == generate_latest(metrics.registry)
    # The request histogram's child moved too: its counters are read, not collected
    # (`_histogram_values`); the text above is still the library's, byte for byte.
    assert sorted(collected) == [
        "kioskd_api_last_success_timestamp_seconds[]",
        "kioskd_api_requests['POST /wagers', 'ok']",
        "kioskd_operations['create', 'done']",
    ]
    # the families of `taken_at` (kioskd_last_update_timestamp_seconds) and `slips_printed`
    assert sorted(built) == ["_slips_printed", "_taken_at"]


def _other(value: object) -> object:
    """A value of a snapshot field that differs from `value` (and from its None)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 7.5 if isinstance(value, float) else value + 7
    if isinstance(value, str):
        return "offline" if value != "offline" else "ready"
    if isinstance(value, m.PrinterGauges):
        return m.PrinterGauges(not value.connected, not value.online, "out", "open")
    if value is None:
        return 3.0
    assert isinstance(value, dict)
    return {**{k: not v if isinstance(v, bool) else v + 1 for k, v in value.items()}, "x": 1}


def test_each_snapshot_family_is_built_from_the_fields_it_names_only() -> None:
    """`_reads` names the fields a family is built from, and a family is built again only
    when one of them changed: a field it reads but does not name would leave its text
    stale. Every other field, changed, must build the same family."""
    full = m.Snapshot(
        taken_at=1.0,
        unfinished={"in_doubt": 1, "queued": 2},
        oldest_in_doubt_s=3.0,
        queued_operations=1,
        queued_amount=20,
        max_queued_operations=5,
        max_queued_amount=100,
        api_up=True,
        catalog_age_s=4.0,
        catalog_stale=True,
        printer=m.PrinterGauges(True, True, "ok", "closed"),
        devices={"keypad": True, "scanner": False},
        journal_bytes=99,
        journal_attention=True,
        lights="ready",
        last_sale_at=6.0,
        slips_printed=3,
        server_time_known=True,
        clock_skew_s=0.5,
        loop_longest_s=0.02,
        loop_stalls=1,
    )
    bare = m.Snapshot(taken_at=1.0)  # the optional fields None
    assert len(snapshots.SNAPSHOT_FAMILIES) == 24
    for names, build in snapshots.SNAPSHOT_FAMILIES:
        for snapshot in (full, bare):
            for f in dataclasses.fields(m.Snapshot):
                if f.name in names:
                    continue
                other = dataclasses.replace(snapshot, **{f.name: _other(getattr(snapshot, f.name))})
                assert build(other) == build(snapshot), (build.__name__, f.name)


def test_the_steady_key_is_equal_exactly_when_the_blanked_snapshots_are() -> None:
    """`_steady_snapshot` is a tuple of fields (cheaper than a blanked copy): its equality
    must be the blanked snapshots' own (the four volatile fields set to constants, the
    catalog's age kept as "there is one or not"), or a write would be made or skipped that
    was not before."""

    def blanked(s: m.Snapshot) -> m.Snapshot:
        return dataclasses.replace(
            s,
            taken_at=0.0,
            oldest_in_doubt_s=0.0,
            catalog_age_s=None if s.catalog_age_s is None else 0.0,
            journal_bytes=0,
        )

    rng = random.Random(7)
    snapshots = [_snapshot(rng, i % 3) for i in range(60)]
    snapshots += [dataclasses.replace(s, catalog_age_s=None) for s in snapshots[:10]]
    snapshots += [dataclasses.replace(s, clock_skew_s=-0.0) for s in snapshots[:10]]
    equal = 0
    for a in snapshots:
        for b in snapshots:
            same = blanked(a) == blanked(b)
            assert (m._steady_snapshot(a) == m._steady_snapshot(b)) == same, (a, b)
            equal += same and a is not b
    assert equal > 0  # some pairs differ only in the volatile fields


def test_a_histogram_laid_out_otherwise_is_collected() -> None:
    """`_histogram_values` reads a histogram child's counters only when the series' lines are
    its buckets, count and sum, and the child has those counters; anything else (another
    version of the library) is collected as before, and the text stays the library's."""
    metrics = m.Metrics(lambda: MetricsConfig(), terminal_id="t-1", version="1", now=lambda: 5.0)
    metrics.observe_exchange("POST /wagers", 0.2, "ok")
    metrics.render()
    cut = metrics.exposition._cut[metrics.api_duration]
    series = cut.series[("POST /wagers",)]
    child = metrics.api_duration.labels("POST /wagers")
    assert exposition._histogram_values(child, series) == [s for s in series.values]
    assert exposition._histogram_values(SimpleNamespace(), series) is None
    assert exposition._histogram_values(child, series._replace(names=series.names[:-1])) is None
    shifted = series._replace(names=[*series.names[:-2], series.names[-1], series.names[-2]])
    assert exposition._histogram_values(child, shifted) is None
    metrics.observe_exchange("POST /wagers", 7.0, "ok")
    assert metrics.render() == generate_latest(metrics.registry)
