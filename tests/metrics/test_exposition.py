"""Issue 19 (CPU per sale): the textfile's text is prometheus_client's `generate_latest`, byte
for byte, although `CachedExposition` formats again only the series that changed."""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace

from prometheus_client import generate_latest

from kioskd.config import MetricsConfig
from kioskd.daemon import metrics as m

ROLES = ["keypad", "scanner"]
ENDPOINTS = ("POST /login", "POST /wagers", "GET /wagers/last", "GET /tickets/{n}", "POST /pay")


def _snapshot(rng: random.Random, i: int) -> m.Snapshot:
    printer = None
    if rng.random() < 0.7:
        printer = m.PrinterGauges(
            connected=rng.random() < 0.8,
            online=rng.random() < 0.8,
            paper=rng.choice(m.PAPER_STATES),
            cover=rng.choice(m.COVER_STATES),
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
    real = m.generate_latest

    def counting(registry):  # type: ignore[no-untyped-def]
        text = real(registry)
        formatted.append(text.count(b"\n"))
        return text

    monkeypatch.setattr(m, "generate_latest", counting)
    metrics.observe_exchange("POST /wagers", 0.1, "ok")  # a sale: its request, its outcome
    metrics.observe_outcome(SimpleNamespace(kind="done", op_kind="create"))
    metrics.update(m.Snapshot(taken_at=2.0, lights="ready", slips_printed=2))
    text = metrics.render()
    monkeypatch.setattr(m, "generate_latest", real)
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
    real = m.generate_latest

    def counting(registry):  # type: ignore[no-untyped-def]
        text = real(registry)
        calls.append(text)
        return text

    monkeypatch.setattr(m, "generate_latest", counting)
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
