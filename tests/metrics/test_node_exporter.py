"""kioskd's metrics through a real prometheus-node-exporter.

The real `kioskd run` (the virtual kiosk harness: simulator over loopback HTTP, loopback ESC/POS
printer, evtest FIFOs) writes its textfile; a real node-exporter reads that folder and serves
it over HTTP; the test scrapes it like Prometheus would, after a sale, a paper-out and a sale in
doubt, and checks the values and that no ticket number, PIN or password is in any series.
`promtool check metrics` must accept what kioskd wrote.
"""

from __future__ import annotations

import subprocess

import pytest

from kioskd.proving.harness import VirtualKiosk
from tests.metrics.conftest import need_promtool, value


def wait_scrape(kiosk: VirtualKiosk, ne, predicate, what: str, timeout_s: float = 30.0):
    """Scrape until `predicate(samples)` holds (the file is rewritten every few seconds)."""
    last: dict = {}

    def check():
        nonlocal last
        last = ne.scrape()
        return predicate(last)

    try:
        kiosk.wait_for(check, timeout_s, poll_s=0.2)
    except TimeoutError:
        kioskd = sorted((k, v) for k, v in last.items() if k[0].startswith("kioskd_"))
        pytest.fail(f"node-exporter never showed {what}; last scrape: {kioskd}")
    return last


@pytest.mark.slow
def test_node_exporter_serves_kioskd_after_sale_paper_out_and_in_doubt(tmp_path, node_exporter):
    with VirtualKiosk(tmp_path / "kiosk") as k:
        ne = node_exporter(k.metrics_dir)
        k.start_daemon()
        k.wait_catalog()

        # 1. a sale
        k.type("+1.341.20\n6.12.10\n\n")
        s = wait_scrape(
            k,
            ne,
            lambda s: (
                value(s, "kioskd_operations_total", kind="create", state="done") == 1
                and value(s, "kioskd_slips_printed_total") == 1
            ),
            "one sale done and its slip printed",
        )
        assert value(s, "node_textfile_scrape_error") == 0
        assert value(s, "kioskd_build_info", terminal_id="virtual-1", version=_version()) == 1
        assert value(s, "kioskd_api_up") == 1
        assert value(s, "kioskd_lights", state="ready") == 1
        assert value(s, "kioskd_printer_paper", state="ok") == 1
        assert value(s, "kioskd_device_present", role="scanner") == 1
        assert value(s, "kioskd_device_present", role="printer") == 1
        assert value(s, "kioskd_operations_unfinished", state="in_doubt") == 0
        assert value(s, "kioskd_last_sale_timestamp_seconds") > 0
        assert value(s, "kioskd_catalog_stale") == 0
        assert value(s, "kioskd_journal_attention") == 0
        assert value(s, "kioskd_journal_size_bytes") > 0
        assert value(s, "kioskd_queue_max_operations") == 20
        created = value(
            s, "kioskd_api_request_duration_seconds_count", endpoint="/user/ticket/create"
        )
        assert created == 1
        assert value(s, "kioskd_api_requests_total", endpoint="/user/ticket/create", outcome="ok")
        mtime = value(s, "node_textfile_mtime_seconds", file=str(k.metrics_dir / "kioskd.prom"))
        assert mtime is not None and mtime > 0

        # 2. the paper runs out: seen at the next status query (before the next slip)
        k.printer.core.set_state(paper="out")
        k.type("+6.12.10\n\n")
        s = wait_scrape(
            k,
            ne,
            lambda s: (
                value(s, "kioskd_printer_paper", state="out") == 1
                and value(s, "kioskd_operations_total", kind="create", state="done") == 2
            ),
            "paper out and the second sale done",
        )
        assert value(s, "kioskd_printer_paper", state="ok") == 0
        assert value(s, "kioskd_lights", state="attention") == 1
        assert value(s, "kioskd_printer_connected") == 1

        # 3. a sale in doubt: the server commits, the answer is lost, and every look-up of
        # the account's last ticket fails (502), so reconciliation cannot decide
        k.sim.arm_fault("/user/ticket/create", "commit_then_drop")
        k.sim.arm_fault("/user/ticket/last", "html_error", count=10_000)
        k.type("+6.30.8\n\n")
        k.wait_for(lambda: k.status()["in_doubt"] >= 1, 20)
        s = wait_scrape(
            k,
            ne,
            lambda s: (
                (
                    (value(s, "kioskd_operations_unfinished", state="in_doubt") or 0)
                    + (value(s, "kioskd_operations_unfinished", state="reconciling") or 0)
                )
                == 1
                and (value(s, "kioskd_oldest_in_doubt_age_seconds") or 0) > 0
            ),
            "one sale in doubt with its age",
        )
        assert value(s, "kioskd_operations_total", kind="create", state="done") == 2
        assert value(
            s, "kioskd_api_requests_total", endpoint="/user/ticket/create", outcome="in_doubt"
        )

        # nothing secret or identifying a ticket in any series
        text = ne.scrape_text()
        ops = k.journal_operations()
        for op in ops:
            for number in (op["ticket_number"], op["pin_number"]):
                if number:
                    assert str(number) not in text
                    assert f"{number:08d}" not in text
        assert k.password not in text

        # promtool's linter accepts the file as kioskd wrote it
        promtool = need_promtool()
        check = subprocess.run(
            [promtool, "check", "metrics"],
            input=(k.metrics_dir / "kioskd.prom").read_bytes(),
            capture_output=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        k.sim.clear_faults()


def _version() -> str:
    from kioskd import __version__

    return __version__
