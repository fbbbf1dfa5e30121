"""`kioskd doctor` against real parts: simulator over loopback HTTP, fake TCP printer, a real
SQLite journal, a fake /dev/input tree; findings, exit codes, and no password in the output."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest

from kioskd.cli import main
from kioskd.doctor.checks import FAIL, OK, WARN, Finding, run_checks
from kioskd.journal import Journal, schema

from .conftest import PASSWORD, SCANNER_ID, add_node, write_config


def by_check(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check]


def one(findings: list[Finding], check: str) -> Finding:
    (f,) = by_check(findings, check)
    return f


def doctor(config: Path, input_dir: Path, **kw) -> list[Finding]:
    return asyncio.run(run_checks(config, input_dir=input_dir, **kw))


def test_all_good_exits_0_and_lists_devices(tmp_path, sim_server, sim, printer, input_dir, capsys):
    cfg = write_config(tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri)
    rc = main(["doctor", "--config", str(cfg), "--input-dir", str(input_dir), "--json"])
    out = json.loads(capsys.readouterr().out)
    statuses = {(f["check"], f["status"]) for f in out}
    assert rc == 0, out
    for check in ("config", "scanner", "keypad", "printer", "api", "clock", "disk", "journal"):
        assert (check, OK) in statuses, (check, out)
    assert all(set(f) >= {"check", "status", "detail", "hint"} for f in out)
    devices = [f["data"] for f in out if f["check"] == "input"]
    scanner = next(d for d in devices if d["vendor_product"] == SCANNER_ID)
    assert scanner["roles"] == ["scanner"]
    assert scanner["by_id"] == [str(input_dir / "by-id" / "usb-Honeywell_Scanner-event-kbd")]
    assert scanner["name"] == "Honeywell Barcode Scanner"
    mouse = next(d for d in devices if d["vendor_product"] == "046d:c077")
    assert mouse["roles"] == [] and mouse["by_id"] == []
    journal = next(f for f in out if f["check"] == "journal")
    assert "will be created" in journal["detail"]
    assert not (tmp_path / "state" / "journal.sqlite3").exists()  # doctor never creates it


def test_text_report_has_hints_and_exit_1_on_missing_role(
    tmp_path, sim_server, sim, printer, input_dir, capsys
):
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, keypad="05e0:1200"
    )
    rc = main(["doctor", "--config", str(cfg), "--input-dir", str(input_dir)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL  keypad   no device matches 05e0:1200" in out
    assert "plug the keypad in, or run `kioskd doctor` to list devices and set keypad.device" in out
    assert "Honeywell Barcode Scanner" in out and "-> scanner" in out


def test_password_never_printed(tmp_path, sim_server, sim, printer, input_dir, capsys, caplog):
    for password in (PASSWORD, "wrong-Secret-9f3k"):
        cfg = write_config(
            tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, password=password
        )
        for fmt in ([], ["--json"]):
            main(["doctor", "--config", str(cfg), "--input-dir", str(input_dir), *fmt])
            captured = capsys.readouterr()
            text = captured.out + captured.err + caplog.text
            if len(password) >= 12:
                assert password not in text
            else:
                # A short common word is masked where it stands as a value, never in
                # ordinary text (the account's e-mail domain stays readable).
                for shape in (f"={password}", f":{password}", f'"{password}"', f"'{password}'"):
                    assert shape not in text
            assert "api" in captured.out


def test_login_refused(tmp_path, sim_server, sim, printer, input_dir):
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, password="not-it"
    )
    findings = doctor(cfg, input_dir)
    api = one(findings, "api")
    assert api.status == FAIL and api.detail.startswith("login refused")
    assert "api.email" in api.hint
    assert one(findings, "clock").status == WARN  # not checked without a login


def test_api_unreachable(tmp_path, printer, input_dir, closed_port):
    cfg = write_config(
        tmp_path, base_url=f"http://127.0.0.1:{closed_port}", printer_uri=printer.uri
    )
    api = one(doctor(cfg, input_dir), "api")
    assert api.status == FAIL and api.detail.startswith("cannot reach http://127.0.0.1:")


def test_api_that_hangs_is_cut_by_the_check_timeout(tmp_path, sim_server, sim, printer, input_dir):
    sim.faults.arm("/auth/login", "hang")
    cfg = write_config(tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri)
    findings = doctor(cfg, input_dir, timeout_s=0.3)
    api = one(findings, "api")
    assert api.status == FAIL and "no answer within 0.3 s" in api.detail
    assert one(findings, "printer").status == OK  # the other checks still ran


@pytest.mark.parametrize(
    ("offset", "status"), [(0.0, OK), (-120.0, OK), (900.0, WARN), (-7200.0, WARN)]
)
def test_clock_skew_against_gaming_time(
    tmp_path, sim_server, sim, printer, input_dir, offset, status
):
    """Beyond the daemon's one threshold (300 s) a WARN; never a FAIL: money does not depend
    on the kiosk's clock (issue 18)."""
    sim.clock.offset = offset
    cfg = write_config(tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri)
    clock = one(doctor(cfg, input_dir), "clock")
    assert clock.status == status, clock
    assert abs(clock.data["skew_s"] + offset) < 5
    if offset:
        assert ("behind" if offset > 0 else "ahead of") in clock.detail
    if status != OK:
        assert "timedatectl" in clock.hint


@pytest.mark.parametrize(
    ("state", "status", "words"),
    [
        ({"paper": "out"}, FAIL, "paper out"),
        ({"cover_open": True}, FAIL, "cover open"),
        ({"paper": "near_end"}, WARN, "paper near end"),
        ({"silent": True}, WARN, "gives no status"),
    ],
)
def test_printer_states(tmp_path, sim_server, sim, printer, input_dir, state, status, words):
    printer.core.set_state(**state)
    cfg = write_config(tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri)
    found = one(doctor(cfg, input_dir), "printer")
    assert found.status == status and words in found.detail, found


def test_printer_unreachable_and_missing_file(tmp_path, sim_server, sim, input_dir, closed_port):
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=f"tcp://127.0.0.1:{closed_port}"
    )
    found = one(doctor(cfg, input_dir), "printer")
    assert found.status == FAIL and "cannot reach printer" in found.detail
    assert "kioskd printer-status" in found.hint
    missing = tmp_path / "lp0"
    cfg = write_config(tmp_path, base_url=sim_server.base_url, printer_uri=f"file:{missing}")
    found = one(doctor(cfg, input_dir), "printer")
    assert found.status == FAIL and "does not exist" in found.detail
    assert not missing.exists()  # doctor does not create a printer file


def test_journal_counts_and_in_doubt(tmp_path, sim_server, sim, printer, input_dir):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        journal.add("create", {"wagers": []}, amount=20, deadline=2e9, now=1e9)
        op = journal.add(
            "create", {"wagers": []}, amount=10, deadline=2e9, now=1e9, state="sending"
        )
        journal.transition(op, "ambiguous", now=1e9 + 1)
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, journal=path
    )
    found = one(doctor(cfg, input_dir), "journal")
    assert found.status == WARN, found
    assert "queued 1" in found.detail and "1 in doubt" in found.detail
    assert found.data["counts"]["in_doubt"] == 1 and found.data["counts"]["queued"] == 1
    assert "kioskctl queue" in found.hint
    # Read-only and leaves nothing behind (root-owned -wal/-shm would lock the daemon out).
    assert sorted(p.name for p in tmp_path.glob("journal.sqlite3*")) == ["journal.sqlite3"]


def test_journal_read_while_the_daemon_holds_it_open(tmp_path, sim_server, sim, printer, input_dir):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        op = journal.add(
            "create", {"wagers": []}, amount=10, deadline=2e9, now=1e9, state="sending"
        )
        journal.transition(op, "ambiguous", now=1e9 + 1)
        journal.transition(op, "probe", now=1e9 + 2)
        journal.transition(op, "mismatch", now=1e9 + 3)
        cfg = write_config(
            tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, journal=path
        )
        found = one(doctor(cfg, input_dir), "journal")
        journal.add("pay", {"t": 1}, amount=5, deadline=2e9, now=1e9 + 4)  # still writable
    assert found.status == WARN and "1 in conflict" in found.detail
    assert "kioskctl resolve" in found.hint


def test_corrupt_journal_fails(tmp_path, sim_server, sim, printer, input_dir):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, journal=path
    )
    found = one(doctor(cfg, input_dir), "journal")
    assert found.status == FAIL and "cannot be read" in found.detail
    assert "call support" in found.hint


def test_old_journal_is_not_migrated(tmp_path, sim_server, sim, printer, input_dir):
    path = tmp_path / "journal.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    schema.migrate(conn, target=1)
    conn.close()
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, journal=path
    )
    found = one(doctor(cfg, input_dir), "journal")
    assert found.status == WARN and "will be migrated" in found.detail
    conn = sqlite3.connect(path)
    assert schema.version(conn) == 1
    conn.close()


def test_broken_config_still_lists_devices(tmp_path, input_dir, capsys):
    cfg = tmp_path / "kioskd.toml"
    cfg.write_text(
        '[api]\nbase_url = "ftp://x"\nemail = "a@b.c"\n\n[scanner]\ndevise = "05e0:1200"\n',
        encoding="utf-8",
    )
    rc = main(["doctor", "--config", str(cfg), "--input-dir", str(input_dir), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 1
    details = [f["detail"] for f in out if f["check"] == "config"]
    assert (
        "kioskd.toml:2: api.base_url: must be an http:// or https:// URL, got 'ftp://x'" in details
    )
    assert any(d.startswith("kioskd.toml:6: scanner.devise: unknown key") for d in details)
    listed = [f for f in out if f["check"] == "input"]
    assert {f["data"]["vendor_product"] for f in listed} == {SCANNER_ID, "046d:c077"}
    skipped = {f["check"] for f in out if f["detail"].startswith("not checked")}
    assert skipped == {"printer", "api", "clock", "disk", "journal"}


def test_replay_source_must_exist(tmp_path, sim_server, sim, printer, input_dir):
    fifo = tmp_path / "keys.fifo"
    cfg = write_config(
        tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri, keypad=f"replay:{fifo}"
    )
    found = one(doctor(cfg, input_dir), "keypad")
    assert found.status == FAIL and "No such file" in found.detail
    import os

    os.mkfifo(fifo)
    found = one(doctor(cfg, input_dir), "keypad")
    assert found.status == OK and "FIFO" in found.detail


def test_ambiguous_role_warns_and_strict_exits_1(
    tmp_path, sim_server, sim, printer, input_dir, capsys
):
    add_node(input_dir, 5, "Honeywell Barcode Scanner", 0x0C2E, 0x0B61)
    cfg = write_config(tmp_path, base_url=sim_server.base_url, printer_uri=printer.uri)
    assert main(["doctor", "--config", str(cfg), "--input-dir", str(input_dir)]) == 0
    out = capsys.readouterr().out
    assert "WARN  scanner  0c2e:0b61 matches 2 devices" in out
    rc = main(["doctor", "--config", str(cfg), "--input-dir", str(input_dir), "--strict"])
    assert rc == 1
