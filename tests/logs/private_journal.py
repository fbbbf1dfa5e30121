"""Run inside a private mount namespace (`unshare -m`): a real systemd-journald on tmpfs, and
the real `kioskd run` (the virtual kiosk harness) logging one sale to it.

    unshare --mount --propagation private python -m tests.logs.private_journal WORKDIR

tmpfs goes over /run/systemd/journal (journald's sockets), /run/log (its volatile files) and
/var/log/journal when it exists, so neither a journald the machine may run nor its files are
touched: the daemon finds our journald at the standard socket path, exactly as under systemd.
After the sale the journal files are copied to WORKDIR/journal, and what the test must look
for (ticket number, operation id, PIN, password, tokens) to WORKDIR/facts.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kioskd.proving.harness import VirtualKiosk

JOURNALD = "/lib/systemd/systemd-journald"
SOCKET = Path("/run/systemd/journal/socket")


def private_mounts() -> list[Path]:
    """tmpfs over journald's run-time and storage folders; returns where its files may be."""
    storage = [Path("/run/log")]
    for folder in (Path("/run/systemd/journal"), Path("/run/log")):
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(folder)], check=True)
    if Path("/var/log/journal").is_dir():
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/var/log/journal"], check=True)
        storage.append(Path("/var/log/journal"))
    return storage


def wait_for(predicate, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(what)


def main(workdir: Path) -> int:
    workdir.mkdir(parents=True, exist_ok=True)
    storage = private_mounts()
    with open(workdir / "journald.log", "wb") as out:
        journald = subprocess.Popen([JOURNALD], stdout=out, stderr=out)
    try:
        wait_for(SOCKET.exists, 10, "journald socket")
        with VirtualKiosk(workdir / "vk", seed=3, log_target="journald") as vk:
            vk.start_daemon()
            vk.wait_catalog()
            vk.type("+1.341.20\n\n")
            ticket = vk.wait_for(lambda: vk.sim.ledger()["tickets"])[0]
            vk.wait_for(lambda: [s for s in vk.slips() if s.endswith("-ticket.png")])
            ops = vk.journal_operations()
            facts = {
                "terminal_id": "virtual-1",
                "ticket_number": ticket["ticket_number"],
                "pin": str(ticket["pin_number"]),
                "password": vk.password,
                "tokens": list(vk.sim._tokens),
                "op_id": next(op["id"] for op in ops if op["kind"] == "create"),
            }
            vk.stop_daemon()
        subprocess.run(["journalctl", "--sync"], check=False, capture_output=True)
    finally:
        journald.terminate()
        journald.wait(timeout=10)
    # Flat in one folder (`journalctl --directory` reads the files there).
    target = workdir / "journal"
    target.mkdir()
    for folder in storage:
        for n, journal_file in enumerate(sorted(folder.glob("**/*.journal"))):
            shutil.copy2(journal_file, target / f"{folder.name}-{n}-{journal_file.name}")
    (workdir / "facts.json").write_text(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
