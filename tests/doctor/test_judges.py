"""The pure verdicts: thresholds and wording, without any part attached."""

from __future__ import annotations

import pytest

from kioskd.doctor.checks import (
    FAIL,
    OK,
    WARN,
    Finding,
    InputNodeRow,
    JournalFacts,
    exit_code,
    format_text,
    judge_clock,
    judge_disk,
    judge_input,
    judge_journal,
    judge_printer,
)
from kioskd.printer.status import parse_status, reply_byte

MB = 1024 * 1024


@pytest.mark.parametrize(
    ("skew", "status"),
    [(0.0, OK), (29.9, OK), (-30.5, OK), (299.0, OK), (301.0, WARN), (-3600.0, WARN)],
)
def test_clock_thresholds(skew, status):
    """One threshold, the daemon's (issue 18): beyond it a WARN (money does not depend on the
    kiosk's clock any more, so never a FAIL)."""
    found = judge_clock(server_unix=1_700_000_000.0, local_unix=1_700_000_000.0 + skew)
    assert found.status == status
    assert found.data["skew_s"] == pytest.approx(skew)


@pytest.mark.parametrize(
    ("free", "status"), [(5 * 1024 * MB, OK), (199 * MB, WARN), (19 * MB, FAIL), (0, FAIL)]
)
def test_disk_thresholds(free, status):
    found = judge_disk("/var/lib/kioskd", 16 * 1024 * MB, free)
    assert found.status == status
    assert "free of 16.0 GiB" in found.detail and "%" in found.detail
    assert (found.hint == "") == (status == OK)


def test_printer_unknown_stays_unknown():
    partial = parse_status({1: reply_byte(), 2: reply_byte(), 3: None, 4: None})
    found = judge_printer("tcp://p:9100", partial)
    assert found.status == WARN and "paper" in found.detail and "error" in found.detail
    assert found.data["paper"] == "unknown"


def test_printer_faults_are_fails_with_each_hint():
    status = parse_status(
        {
            1: reply_byte(offline=True),
            2: reply_byte(cover_open=True),
            3: reply_byte(),
            4: reply_byte(paper_out=True),
        }
    )
    found = judge_printer("usb:04b8:0202", status)
    assert found.status == FAIL
    assert "paper out" in found.detail and "cover open" in found.detail
    assert "load a paper roll" in found.hint and "close the printer cover" in found.hint


def test_journal_verdicts():
    base = dict(path="/j", exists=True, quick_check="ok", schema_version=2, latest_version=2)
    assert judge_journal(JournalFacts(**base, counts={"done": 5})).status == OK
    conflict = judge_journal(JournalFacts(**base, counts={"conflict": 1}))
    assert conflict.status == WARN and "kioskctl resolve" in conflict.hint
    assert judge_journal(JournalFacts(**{**base, "quick_check": "page 3 bad"})).status == FAIL
    assert judge_journal(JournalFacts(**{**base, "schema_version": 3})).status == FAIL
    assert judge_journal(JournalFacts(**base, writable=False)).status == FAIL
    missing = judge_journal(JournalFacts("/j", exists=False, dir_writable=True))
    assert missing.status == OK and "will be created" in missing.detail


def test_input_roles_without_config_still_list_nodes():
    rows = [InputNodeRow("/dev/input/event0", "Keypad", 0x05E0, 0x1200, by_id=("/x/by-id/k",))]
    found = judge_input(rows, None)
    assert [(f.check, f.status) for f in found] == [("input", OK)]
    assert "(no role)" in found[0].detail


def test_input_unreadable_node_is_named_in_the_role_hint():
    rows = [InputNodeRow("/dev/input/event4", error="Permission denied")]
    found = judge_input(rows, {"scanner": "05e0:1200", "keypad": ""})
    statuses = {(f.check, f.status) for f in found}
    assert statuses == {("input", WARN), ("scanner", FAIL), ("keypad", OK)}
    scanner = next(f for f in found if f.check == "scanner")
    assert "could not be read" in scanner.hint


def test_same_node_for_both_roles_warns():
    rows = [InputNodeRow("/dev/input/event0", "Combo", 0x05E0, 0x1200)]
    found = judge_input(rows, {"scanner": "05e0:1200", "keypad": "name:combo"})
    assert any(f.status == WARN and "matches both" in f.detail for f in found)


def test_exit_codes_and_text():
    ok, warn, fail = Finding("a", OK, "x"), Finding("b", WARN, "y", "do y"), Finding("c", FAIL, "z")
    assert exit_code([ok]) == 0 and exit_code([ok, warn]) == 0 and exit_code([warn, fail]) == 1
    assert exit_code([ok, warn], strict=True) == 1 and exit_code([ok], strict=True) == 0
    text = format_text([ok, warn])
    assert "WARN  b        y" in text and "-> do y" in text and "1 ok, 1 warning(s)" in text
    with pytest.raises(ValueError):
        Finding("d", "MAYBE", "?")


def test_judge_daemon_reports_the_running_daemons_journal_fault_and_pending_restarts():
    from kioskd.doctor.checks import judge_daemon

    assert judge_daemon("not running")[0].status == "OK"
    assert judge_daemon("permission denied")[0].status == "WARN"
    assert judge_daemon({"state": "ready", "journal": "ok"})[0].status == "OK"
    (fault, restart) = judge_daemon(
        {"journal": "full: database or disk is full", "needs_restart": ["api.base_url"]}
    )
    assert fault.status == "FAIL" and "disk is full" in fault.detail
    assert restart.status == "WARN" and "api.base_url" in restart.detail


def test_doctor_and_daemon_share_the_clock_threshold():
    from kioskd.doctor import checks
    from kioskd.servertime import WARN_SKEW_S

    assert checks.CLOCK_WARN_S == WARN_SKEW_S
