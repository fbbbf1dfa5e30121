"""`kioskd demo` (the README's main job) plays its whole shift and balances the books."""

from __future__ import annotations

from tests.run_kioskd import run_kioskd


def test_demo_shift_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = run_kioskd("demo", "--out", str(out), timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    for step in ("Sales", "Cancellation", "Network outage", "in doubt", "kill -9", "winner"):
        assert step in text
    assert "ledger equals journal" in text
    assert "lost: 0; unknown to the server: 0; duplicated: 0" in text
    kinds = sorted(p.name.split("-", 1)[1] for p in (out / "slips").glob("*.png"))
    for kind in (
        "ticket.png",
        "cancel.png",
        "payout.png",
        "not_winner.png",
        "results.png",
        "report.png",
        "status.png",
        "rejected.png",
    ):
        assert kind in kinds, kinds
    # Six sales reached the server; each printed exactly once (no reprint was needed).
    assert kinds.count("ticket.png") == 6


def test_demo_never_deletes_a_folder_it_did_not_write(tmp_path):
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    proc = run_kioskd("demo", "--out", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert "not an earlier demo's output" in proc.stdout
    assert precious.read_text() == "keep me"
