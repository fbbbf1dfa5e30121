"""Issue 19 item 5: the real `kioskd run` imports only what its config needs. The process runs
with `PYTHONPROFILEIMPORTTIME=1`, so every module it imports, at start or later, is a line of
its stderr (the harness's daemon log); the test reads that log, not a list kept by the code."""

from __future__ import annotations

import re
import time

from kioskd.proving.harness import VirtualKiosk

# The self time may be negative: two threads importing at once (httpx and gpiozero, in the
# workers right after READY=1) mix CPython's per-import accounting.
IMPORTED = re.compile(r"^import time:\s+-?\d+ \|\s+-?\d+ \|\s*(\S+)\s*$", re.MULTILINE)

# Never in `kioskd run`: the proving ground (simulator, its HTTP server, fakes).
NEVER = ("kioskd.proving", "uvicorn", "starlette", "fastapi")
# Not before READY=1 (python-escpos and its capability database load in a worker after it;
# python-barcode's tables, which import Pillow, only for a drawn preview): none at start.
NOT_BEFORE_A_SLIP = ("escpos.escpos", "escpos.capabilities", "barcode", "PIL")
# Never with a TCP printer: python-escpos's device backends (pyserial, pyusb, CUPS); the
# renderer uses its command builder only (issue 19: 1.2 MB).
NEVER_FOR_TCP = ("escpos.printer", "serial", "usb", "cups")
# Not with [metrics] off (no textfile folder, no listener); with them on, not before READY=1.
NOT_WITHOUT_METRICS = (
    "prometheus_client",
    "kioskd.daemon.metrics",
    "kioskd.daemon.exposition",
    "http.server",
)
# Not before READY=1: the HTTP client's stack (issue 19: ~65 ms of CPU here).
HTTP_STACK = ("httpx", "httpcore", "h11", "anyio", "idna", "certifi")
# Not before READY=1: the lights' GPIO library (issue 19: ~50 ms of CPU here).
LIGHTS_STACK = ("gpiozero", "colorzero")
# Not before READY=1: the printer's own modules (its worker, DLE EOT status, layout; 15-30 ms
# of CPU here), imported in a worker right after it, then the printer opens. (The config check
# reads the printer's URI with kioskd.printer.transport's parser before.)
PRINTER_STACK = ("kioskd.printer.printer", "kioskd.printer.status", "kioskd.printer.layout")
# Never: httpx's command-line tool and what it pulls in when installed (kioskd.banklot marks
# it absent).
NEVER_IMPORTED = ("click", "rich", "pygments")


def _imported(k: VirtualKiosk, part: str = "all") -> set[str]:
    """Modules in the daemon's import log: `all`, `before` the ready line, or `after` it."""
    text = k.log_path.read_text(errors="replace")
    ready = re.search(r"kioskd \S+ ready", text)
    assert ready, "the daemon logged no ready line"
    if part == "before":
        text = text[: ready.start()]
    elif part == "after":
        text = text[ready.end() :]
    return set(IMPORTED.findall(text))


def test_kioskd_run_imports_only_what_its_config_needs(tmp_path):
    with VirtualKiosk(tmp_path / "k", preview=False, metrics=False, timers="shipped") as k:
        k.start_daemon(env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout_s=60)
        k.wait_catalog(60)
        ready = _imported(k, "before")
        assert "kioskd.daemon.daemon" in ready  # the log does list the daemon's imports
        # The ready entry says what the start cost (issue 19's budget: bench/RESULTS.md).
        said = re.search(r"kioskd \S+ ready .*CPU_S=([0-9.]+)", k.log_path.read_text())
        assert said and float(said.group(1)) > 0
        assert not {m for m in ready if m.split(".")[0] in NEVER or m.startswith(NEVER)}
        assert not {m for m in ready if m in NOT_BEFORE_A_SLIP or m.split(".")[0] == "PIL"}
        assert not {m for m in ready if m.startswith(NOT_WITHOUT_METRICS)}
        # httpx and what it brings (httpcore, h11, http.client, email...) are imported after
        # READY=1, in a worker, with the client's HTTP client (`BanklotClient.prepare`).
        assert not {m for m in ready if m.split(".")[0] in HTTP_STACK}
        assert not {m for m in ready if m.split(".")[0] in NEVER_IMPORTED or m in NEVER_IMPORTED}
        # The client's own transport (h11 on an asyncio Protocol): never httpx's default one,
        # httpcore, nor anyio, which it imported at the first connection.
        assert {"httpx", "h11", "kioskd.banklot.transport"} <= _imported(k, "after")
        assert not {m for m in _imported(k) if m.split(".")[0] in ("httpcore", "anyio")}
        # gpiozero (the lights' pins) likewise: opened in a worker after READY=1, the LEDs then
        # show the daemon's state.
        assert not {m for m in ready if m.split(".")[0] in LIGHTS_STACK}
        assert "gpiozero" in _imported(k, "after")
        assert not {m for m in ready if m in PRINTER_STACK}
        k.wait_for(lambda: set(PRINTER_STACK) <= _imported(k, "after"), 30)
        k.wait_for(lambda: k.status()["lights"]["opened"], 30)
        assert k.status()["lights"]["state"] == "ready"

        # A kiosk nobody used holds no renderer (issue 19: RSS after start); the counter's
        # first key loads it in a worker, ahead of the slip that typing leads to, so the first
        # customer does not wait for python-escpos (issue 19: start light, slip fast).
        time.sleep(1.0)
        assert "escpos.escpos" not in _imported(k)
        k.type("+")
        k.wait_for(lambda: "escpos.escpos" in _imported(k, "after"), 30)
        # What start-up and the renderer made is frozen out of the cyclic collector (a full
        # collection walking it held the GIL for 45-70 ms here: the loop stood still).
        frozen = k.status()["gc_frozen_objects"]
        assert frozen > 0
        cuts = k.printer.core.cuts
        k.type("1.341.20\n\n")
        k.wait_for(lambda: k.printer.core.cuts > cuts, 30)
        # Printing a slip brings in nothing of the proving ground or of metrics.
        after = _imported(k)
        assert "escpos.escpos" in after
        assert not {m for m in after if m.split(".")[0] in NEVER_FOR_TCP[1:]}
        assert not {m for m in after if m.startswith(NEVER_FOR_TCP[0])}
        assert not {m for m in after if m.startswith(NOT_WITHOUT_METRICS)}
        assert not {m for m in after if m.startswith(NEVER)}


def _exchanges_counted(text: str) -> float:
    counts = re.findall(
        r"^kioskd_api_request_duration_seconds_count\{[^}]*\} (\S+)$", text, re.MULTILINE
    )
    return sum(float(c) for c in counts)


def test_metrics_are_loaded_after_ready_and_count_from_the_start(tmp_path, monkeypatch):
    """Metrics on (the shipped default): prometheus_client is imported after READY=1, in a
    worker, and every API exchange is counted, those before the metrics existed too."""
    from kioskd.proving.sim import app

    seen = []
    real_handle = app.handle

    def counting(sim, method, path, *a):  # the simulator's own dispatch, counted
        if not path.startswith("/_sim"):
            seen.append(path)
        return real_handle(sim, method, path, *a)

    monkeypatch.setattr(app, "handle", counting)
    with VirtualKiosk(tmp_path / "k", preview=False, metrics=True, timers="shipped") as k:
        k.start_daemon(env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout_s=60)
        k.wait_catalog(60)
        assert not {m for m in _imported(k, "before") if m.startswith(NOT_WITHOUT_METRICS)}
        textfile = k.metrics_dir / "kioskd.prom"
        k.wait_for(lambda: textfile.exists() and _exchanges_counted(textfile.read_text()), 30)
        assert "prometheus_client" in _imported(k, "after")
        # Every request the simulator answered is in the histogram (the first ones were made
        # before the metrics existed); the file is rewritten when the counters move.
        k.wait_for(lambda: _exchanges_counted(textfile.read_text()) == len(seen) > 0, 30)
        assert not {m for m in _imported(k) if m.split(".")[0] in NEVER_IMPORTED}


def _renderer_loaded(k: VirtualKiosk) -> bool:
    return "escpos.escpos" in _imported(k, "after")


def _fresh_catalog(k: VirtualKiosk, spawned: float) -> bool:
    """The daemon holds a catalog fetched since it started (not the journal's cached one)."""
    age = k.status().get("catalog_age_s")
    return age is not None and age < time.monotonic() - spawned


def test_the_renderer_is_warmed_after_the_first_catalog_refresh(tmp_path):
    """Issue 19 (RSS): python-escpos's modules, loaded for the whole run, are not imported
    while the first refresh's answers are decoded (allocated among those temporaries they
    kept the allocator's pages resident), but as soon as that refresh has ended."""
    with VirtualKiosk(tmp_path / "k", preview=False, metrics=False, timers="shipped") as k:
        k.sim.arm_fault("/gaming/inventory/template", "delay", delay_s=2.0)
        spawned = time.monotonic()
        k.start_daemon(env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout_s=60)
        k.type("+")  # the counter in use: the renderer is wanted
        k.wait_for(lambda: _renderer_loaded(k), 60, poll_s=0.02)
        # The moment the renderer shows up, the refresh (2 s longer than usual) has ended.
        assert _fresh_catalog(k, spawned)


def test_a_hanging_refresh_delays_the_warm_up_by_a_bounded_time(tmp_path):
    """A first refresh that hangs (until the API deadline, 20 s as shipped) holds the warm-up
    `WARM_WAIT_S` at most: the renderer is loaded while that refresh still hangs."""
    from kioskd.daemon.daemon import WARM_WAIT_S

    with VirtualKiosk(tmp_path / "k", preview=False, metrics=False, timers="shipped") as k:
        k.sim.arm_fault("/gaming/inventory/template", "hang")
        k.start_daemon(env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout_s=60)
        ready = time.monotonic()
        k.type("+")  # the counter in use: the renderer is wanted
        time.sleep(1.0)
        assert not _renderer_loaded(k)  # waiting for the refresh
        k.wait_for(lambda: _renderer_loaded(k), WARM_WAIT_S + 10)
        assert time.monotonic() - ready >= WARM_WAIT_S - 0.5
        assert k.status().get("catalog_age_s") is None  # the refresh still hangs
