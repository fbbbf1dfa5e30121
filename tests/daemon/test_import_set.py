"""Issue 19 item 5: the real `kioskd run` imports only what its config needs. The process runs
with `PYTHONPROFILEIMPORTTIME=1`, so every module it imports, at start or later, is a line of
its stderr (the harness's daemon log); the test reads that log, not a list kept by the code."""

from __future__ import annotations

import re

from kioskd.proving.harness import VirtualKiosk

IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)\s*$", re.MULTILINE)

# Never in `kioskd run`: the proving ground (simulator, its HTTP server, fakes).
NEVER = ("kioskd.proving", "uvicorn", "starlette", "fastapi")
# Not until a slip is printed (python-escpos and its capability database, in a worker) or a
# preview drawn (python-barcode's tables, which import Pillow): none with previews off.
NOT_BEFORE_A_SLIP = ("escpos.printer", "escpos.capabilities", "barcode", "PIL")
# Not with [metrics] off (no textfile folder, no listener).
NOT_WITHOUT_METRICS = ("prometheus_client", "kioskd.daemon.metrics", "http.server")


def _imported(k: VirtualKiosk, after_ready: bool = False) -> set[str]:
    text = k.log_path.read_text(errors="replace")
    if after_ready:
        text = text[re.search(r"kioskd \S+ ready", text).end() :]  # type: ignore[union-attr]
    return set(IMPORTED.findall(text))


def test_kioskd_run_imports_only_what_its_config_needs(tmp_path):
    with VirtualKiosk(tmp_path / "k", preview=False, metrics=False, timers="shipped") as k:
        k.start_daemon(env={"PYTHONPROFILEIMPORTTIME": "1"}, timeout_s=60)
        k.wait_catalog(60)
        ready = _imported(k)
        assert "kioskd.daemon.daemon" in ready  # the log does list the daemon's imports
        assert not {m for m in ready if m.split(".")[0] in NEVER or m.startswith(NEVER)}
        assert not {m for m in ready if m in NOT_BEFORE_A_SLIP or m.split(".")[0] == "PIL"}
        assert not {m for m in ready if m.startswith(NOT_WITHOUT_METRICS)}
        # What httpcore imports at the first connection (anyio's sockets, streams, tasks) is
        # imported in a worker before READY=1, not on the loop in the first request after it.
        assert not {m for m in _imported(k, after_ready=True) if m.startswith("anyio")}

        cuts = k.printer.core.cuts
        k.type("+1.341.20\n\n")
        k.wait_for(lambda: k.printer.core.cuts > cuts, 30)
        # The first slip loads the ESC/POS renderer (in the printer's worker; python-escpos
        # itself imports Pillow), still not the proving ground.
        after = _imported(k)
        assert "escpos.printer" in after
        assert not {m for m in after if m.startswith(NOT_WITHOUT_METRICS)}
        assert not {m for m in after if m.startswith(NEVER)}
