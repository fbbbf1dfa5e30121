"""`kioskd doctor` on the Prometheus textfile: a technician learns that node-exporter's folder
is missing, that kioskd has not written (or stopped writing) kioskd.prom, or that
node-exporter cannot read it. Real files in a temporary folder; the verdicts are pure."""

from __future__ import annotations

import asyncio
import os

from kioskd.doctor.checks import OK, WARN, judge_metrics, observe_metrics, run_checks

MINIMAL = (
    '[api]\nbase_url = "http://127.0.0.1:9"\nemail = "k@example.com"\n'
    'password = "doctor-metrics-pass"\n'
)


def test_off_missing_absent_fresh_stale_unreadable(tmp_path):
    assert judge_metrics(observe_metrics(""), 5.0).status == OK
    missing = judge_metrics(observe_metrics(str(tmp_path / "nope")), 5.0)
    assert missing.status == WARN and "systemd-tmpfiles --create kioskd.conf" in missing.hint
    absent = judge_metrics(observe_metrics(str(tmp_path)), 5.0)
    assert absent.status == WARN and "is kioskd running" in absent.hint
    prom = tmp_path / "kioskd.prom"
    prom.write_text("kioskd_build_info 1\n")
    prom.chmod(0o644)
    now = os.stat(prom).st_mtime
    fresh = judge_metrics(observe_metrics(str(tmp_path), now=now + 10), 5.0)
    assert fresh.status == OK and "written 10 s ago" in fresh.detail
    # An unchanged file is rewritten once a minute old, at the next reading (every 5 s): 65 s
    # is not stale (it was, wrongly, before); past the age and two readings it is.
    rewritten_soon = judge_metrics(observe_metrics(str(tmp_path), now=now + 65), 5.0, 60.0)
    assert rewritten_soon.status == OK
    assert judge_metrics(observe_metrics(str(tmp_path), now=now + 71), 5.0, 60.0).status == WARN
    stale = judge_metrics(observe_metrics(str(tmp_path), now=now + 600), 5.0)
    assert stale.status == WARN and "not rewritten for 600 s" in stale.detail
    prom.chmod(0o600)
    unreadable = judge_metrics(observe_metrics(str(tmp_path), now=now + 1), 5.0)
    assert unreadable.status == WARN and "cannot read" in unreadable.detail


def test_doctor_runs_the_metrics_check_from_the_config(tmp_path):
    folder = tmp_path / "textfile"
    config = tmp_path / "kioskd.toml"
    config.write_text(
        MINIMAL
        + f'[journal]\npath = "{tmp_path}/j.sqlite3"\n[metrics]\ntextfile_dir = "{folder}"\n'
    )
    findings = asyncio.run(run_checks(config, input_dir=tmp_path, timeout_s=5.0))
    (metrics,) = [f for f in findings if f.check == "metrics"]
    assert metrics.status == WARN and str(folder) in metrics.detail
