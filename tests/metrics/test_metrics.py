"""The metrics writer in process: the real daemon (flows rig: simulator in process, loopback
printer, real SQLite journal), its textfile, its loopback HTTP endpoint, and the config keys."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kioskd.config import ConfigInvalid, load_config
from tests.flows.conftest import PASSWORD, running_kiosk
from tests.metrics.conftest import free_port, need_promtool

MINIMAL = '[api]\nbase_url = "https://api.example"\nemail = "k@example.com"\n'


async def until(predicate, timeout_s: float = 20.0):
    """Poll a file- or HTTP-reading predicate gently (the daemon shares this event loop)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not (value := await asyncio.to_thread(predicate)):
        if loop.time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.2)
    return value


def samples(text: str) -> dict:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def test_textfile_after_a_sale_is_whole_readable_and_secret_free(tmp_path):
    folder = tmp_path / "textfile"
    folder.mkdir()
    extra = {"metrics": f'textfile_dir = "{folder}"\ninterval_s = 1.0'}
    async with running_kiosk(tmp_path, extra=extra) as kiosk:
        ticket = await kiosk.sell("+1.341.20\n6.12.10\n\n")
        path = folder / "kioskd.prom"

        def sold() -> bool:
            if not path.exists():
                return False
            got = samples(path.read_text())
            done = (("kind", "create"), ("state", "done"))
            return got.get(("kioskd_operations_total", done)) == 1

        await until(sold)
        text = path.read_text()
        # node-exporter runs as another user: readable by all although the unit has UMask=0077
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
        assert os.listdir(folder) == ["kioskd.prom"]  # no temporary file left behind
        got = samples(text)
        assert got[("kioskd_queue_operations", ())] == 0
        assert got[("kioskd_catalog_age_seconds", ())] >= 0
        assert got[("kioskd_last_sale_timestamp_seconds", ())] == pytest.approx(
            kiosk.clock.now(), abs=60
        )
        assert str(ticket["ticket_number"]) not in text
        assert f"{ticket['pin_number']:08d}" not in text
        assert PASSWORD not in text
        assert "_created" not in text
    # promtool's linter (names, types, help texts) accepts the file as written
    check = subprocess.run(
        [need_promtool(), "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr


async def test_http_endpoint_on_loopback_serves_the_same_metrics(tmp_path):
    port = free_port()
    extra = {"metrics": f'textfile_dir = ""\nlisten = "127.0.0.1:{port}"'}
    async with running_kiosk(tmp_path, extra=extra) as kiosk:
        await kiosk.sell("+6.12.10\n\n")

        def fetch() -> str:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                return r.read().decode()

        got = await until(
            lambda: (g := samples(fetch())).get(("kioskd_slips_printed_total", ())) and g
        )
        assert got[("kioskd_slips_printed_total", ())] == 1
        assert got[("kioskd_api_up", ())] == 1
        assert ("kioskd_build_info", (("terminal_id", "flow-1"), ("version", _version()))) in got
    # stopped with the daemon
    with pytest.raises(OSError):
        await asyncio.to_thread(fetch)


async def test_missing_textfile_folder_is_reported_once_and_the_kiosk_still_sells(tmp_path, caplog):
    missing = tmp_path / "no-node-exporter"
    extra = {"metrics": f'textfile_dir = "{missing}"\ninterval_s = 1.0'}
    with caplog.at_level(logging.WARNING, logger="kioskd.metrics"):
        async with running_kiosk(tmp_path, extra=extra) as kiosk:
            await kiosk.sell("+6.12.10\n\n")
            await asyncio.sleep(2.5)  # a few more write attempts
    warnings = [r.getMessage() for r in caplog.records if r.name == "kioskd.metrics"]
    assert len(warnings) == 1, warnings
    assert str(missing) in warnings[0]
    assert not missing.exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('listen = "0.0.0.0:9839"', "must be a loopback address"),
        ('listen = "9839"', "must be HOST:PORT"),
        ('listen = "127.0.0.1:70000"', "port must be 1..65535"),
        ('textfile_dir = "var/lib/prom"', "must be an absolute path"),
        ("interval_s = 0.1", "must be between 1 and 300"),
    ],
)
def test_check_config_refuses_bad_metrics_keys(tmp_path, line, message):
    path = tmp_path / "kioskd.toml"
    path.write_text(MINIMAL + f"[metrics]\n{line}\n")
    with pytest.raises(ConfigInvalid) as exc:
        load_config(path)
    (error,) = exc.value.errors
    assert error.key.startswith("metrics.") and error.line == 5
    assert message in error.message


@pytest.mark.parametrize(
    ("lines", "textfile_dir", "bind"),
    [
        ('textfile_dir = ""\nlisten = ""', "", None),
        ('listen = "[::1]:9839"', "/run/kioskd-metrics", ("::1", 9839)),
        ('listen = "localhost:9840"', "/run/kioskd-metrics", ("localhost", 9840)),
    ],
)
def test_check_config_accepts_metrics_off_and_loopback(tmp_path, lines, textfile_dir, bind):
    """Accepted, and read as written: off is off, the listener binds the host and port given."""
    from kioskd.config import parse_listen

    path = tmp_path / "kioskd.toml"
    path.write_text(MINIMAL + f"[metrics]\n{lines}\n")
    metrics = load_config(path).metrics
    assert metrics.textfile_dir == textfile_dir
    assert (parse_listen(metrics.listen) if metrics.listen else None) == bind


def test_metrics_default_is_the_tmpfs_folder_and_no_listener(tmp_path):
    """Issue 19 moved the default from node-exporter's folder (on the SD card) to tmpfs;
    node-exporter reads it through a link (tests/metrics/test_textfile_place.py)."""
    path = tmp_path / "kioskd.toml"
    path.write_text(MINIMAL)
    cfg = load_config(path)
    assert cfg.metrics.textfile_dir == "/run/kioskd-metrics"
    assert cfg.metrics.listen == ""


def _version() -> str:
    from kioskd import __version__

    return __version__


async def test_a_reload_turns_the_textfile_on_without_a_restart(tmp_path):
    folder = tmp_path / "textfile"
    folder.mkdir()
    # textfile off, and no periodic write for 300 s: only the reload can make the file appear
    extra = {"metrics": 'textfile_dir = ""\ninterval_s = 300.0'}
    async with running_kiosk(tmp_path, extra=extra) as kiosk:
        await asyncio.sleep(0.5)
        assert os.listdir(folder) == []
        dropins = tmp_path / "kioskd.toml.d"
        dropins.mkdir()
        (dropins / "50-metrics.toml").write_text(f'[metrics]\ntextfile_dir = "{folder}"\n')
        kiosk.daemon.reload()
        assert kiosk.daemon.cfg.metrics.textfile_dir == str(folder)
        await until(lambda: (folder / "kioskd.prom").exists())
        assert "kioskd_build_info" in (folder / "kioskd.prom").read_text()
