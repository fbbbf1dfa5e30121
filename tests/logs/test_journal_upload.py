"""Logs to the centre, with the real parts: a real systemd-journald (started by the test in a
private mount namespace, tests/logs/private_journal.py), the real `kioskd run` logging one sale
to it through the native protocol, `journalctl` reading the sale back; then the real
systemd-journal-upload sending that journal to a real systemd-journal-remote on loopback, and
`journalctl --file` on the receiving side, as ops search it (docs/LOGS.md).

Needs root (mount namespace, tmpfs mounts) and the systemd, systemd-journal-remote packages
(`./dev.sh setup` installs them).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kioskd.daemon import logs as klog
from tests.mountns import needs_mount_namespace

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = Path("/lib/systemd")
JOURNALD = SYSTEMD / "systemd-journald"
UPLOAD = SYSTEMD / "systemd-journal-upload"
REMOTE = SYSTEMD / "systemd-journal-remote"


def _missing(*paths: Path) -> list[str]:
    return [p.name for p in paths if not p.exists()] + [
        t for t in ("unshare", "journalctl", "mount") if shutil.which(t) is None
    ]


pytestmark = [
    needs_mount_namespace(),
    pytest.mark.skipif(
        bool(_missing(JOURNALD)),
        reason=f"missing {', '.join(_missing(JOURNALD))} (Debian package systemd)",
    ),
]
needs_remote = pytest.mark.skipif(
    bool(_missing(UPLOAD, REMOTE)),
    reason=f"missing {', '.join(_missing(UPLOAD, REMOTE))} "
    "(Debian package systemd-journal-remote; ./dev.sh setup installs it)",
)


@pytest.fixture(scope="module")
def sale(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One sale logged by the real daemon to a real journald; its journal files and facts."""
    work = tmp_path_factory.mktemp("private-journal")
    proc = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            sys.executable,
            "-m",
            "tests.logs.private_journal",
            str(work),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if proc.returncode != 0 and "unshare failed" in proc.stderr:
        pytest.skip(f"no private mount namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    facts: dict[str, Any] = json.loads((work / "facts.json").read_text())
    facts["journal"] = work / "journal"
    return facts


def entries(*args: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["journalctl", "--no-pager", "-o", "json", *args],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def the_sale(where: list[str], facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The sale's entries, searched as ops do: by terminal and operation."""
    return entries(*where, f"TERMINAL_ID={facts['terminal_id']}", f"OP_ID={facts['op_id']}")


def assert_sale_fields(found: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    done = [e for e in found if e.get("MESSAGE_ID") == klog.SALE_DONE]
    assert len(done) == 1, found
    entry = done[0]
    assert entry["TERMINAL_ID"] == facts["terminal_id"]
    assert entry["OP_ID"] == str(facts["op_id"])
    assert entry["TICKET_NUMBER"] == str(facts["ticket_number"])
    assert entry["SYSLOG_IDENTIFIER"] == "kioskd"
    assert all(e["TERMINAL_ID"] == facts["terminal_id"] for e in found)


def assert_no_secret(found: list[dict[str, Any]], facts: dict[str, Any]) -> None:
    """No PIN, password or token in any field kioskd wrote (journald's own `_` fields and
    cursors hold long numbers where a PIN's digits could appear by chance)."""
    assert found
    pin = re.compile(rf"(?<![0-9]){re.escape(facts['pin'])}(?![0-9])")
    for entry in found:
        for name, value in entry.items():
            if name.startswith("_"):
                continue
            assert not klog.is_secret_name(name), name
            text = str(value)
            assert not pin.search(text), (name, text)
            assert facts["password"] not in text, name
            for token in facts["tokens"]:
                assert token not in text, name


def test_journald_holds_the_sale_with_its_fields_and_no_secret(sale: dict[str, Any]) -> None:
    where = ["--directory", str(sale["journal"])]
    assert_sale_fields(the_sale(where, sale), sale)
    by_message = entries(
        *where, f"MESSAGE_ID={klog.SALE_DONE}", f"TICKET_NUMBER={sale['ticket_number']}"
    )
    assert len(by_message) == 1
    everything = entries(*where, f"TERMINAL_ID={sale['terminal_id']}")
    assert len(everything) > 5  # start-up, devices, login, the sale, the stop
    assert_no_secret(everything, sale)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_remote
def test_journal_upload_to_journal_remote_keeps_the_fields(
    sale: dict[str, Any], tmp_path: Path
) -> None:
    received = tmp_path / "remote" / "kiosks.journal"
    received.parent.mkdir()
    port = free_port()
    remote = subprocess.Popen(
        [
            str(REMOTE),
            f"--listen-http=127.0.0.1:{port}",
            f"--output={received}",
            "--split-mode=none",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "journal-remote did not listen"
            time.sleep(0.05)
        upload = subprocess.run(
            [
                str(UPLOAD),
                f"--url=http://127.0.0.1:{port}",
                f"--directory={sale['journal']}",
                "--follow=no",
                f"--save-state={tmp_path / 'upload.state'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert upload.returncode == 0, upload.stderr
        assert (tmp_path / "upload.state").read_text().count("LAST_CURSOR=") == 1
    finally:
        remote.terminate()
        out, _ = remote.communicate(timeout=10)
    assert received.exists(), out
    where = ["--file", str(received)]
    found = the_sale(where, sale)
    assert_sale_fields(found, sale)
    assert_no_secret(entries(*where, f"TERMINAL_ID={sale['terminal_id']}"), sale)
    # What journal-remote adds: the kiosk's own boot, machine and host stay on each entry.
    assert found[0]["_HOSTNAME"] and found[0]["_MACHINE_ID"]
