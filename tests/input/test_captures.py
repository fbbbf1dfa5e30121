"""Every capture in tests/captures replays through the real `kioskd decode` exactly as expected."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from kioskd.cli import main as kioskd

CAPTURES = Path(__file__).resolve().parent.parent / "captures"
MANIFEST = json.loads((CAPTURES / "manifest.json").read_text(encoding="utf-8"))


def decode(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = kioskd(["decode", *argv])
    return status, out.getvalue()


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_decode_reproduces_expected_output(name: str) -> None:
    case = MANIFEST[name]
    captures = [str(CAPTURES / file) for file in case["captures"]]
    status, output = decode(*case["args"], *captures)
    assert status == 0
    assert output == (CAPTURES / case["expected"]).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_expected_output_says_what_was_typed(name: str) -> None:
    """The expected files are checked against the meaning written next to the key codes."""
    case = MANIFEST[name]
    lines = (CAPTURES / case["expected"]).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    if "keys" in case:
        assert [r["key"] for r in records] == case["keys"]
    else:
        assert [r["text"] for r in records] == case["texts"]


def test_flood_and_drop_are_reported_as_errors() -> None:
    flood = [json.loads(x) for x in (CAPTURES / "flood.jsonl").read_text().splitlines()]
    assert [r.get("error") for r in flood] == ["too_long", None]
    dropped = [json.loads(x) for x in (CAPTURES / "syn_dropped.jsonl").read_text().splitlines()]
    assert [r.get("error") for r in dropped] == ["dropped", None]


def test_two_devices_are_decoded_apart() -> None:
    lines = (CAPTURES / "two_devices.jsonl").read_text().splitlines()
    assert [json.loads(x)["device"] for x in lines] == ["two_devices_a", "two_devices_b"]


def test_decode_as_a_subprocess_keeps_control_characters_escaped() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "kioskd", "decode", str(CAPTURES / "us_scanner.evtest")],
        capture_output=True,
        check=True,
        env={"PYTHONIOENCODING": "utf-8", "PATH": ""},
        cwd=CAPTURES.parent.parent,
    )
    assert proc.stdout.decode() == (CAPTURES / "us_scanner.jsonl").read_text(encoding="utf-8")
    assert b"\\u001d" in proc.stdout and b"\x1d" not in proc.stdout


def test_unknown_layout_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, output = decode("--layout", "no-such-layout", str(CAPTURES / "us_scanner.evtest"))
    assert status == 2 and output == ""
    assert "unknown XKB layout" in capsys.readouterr().err


def test_malformed_event_line_is_reported_with_its_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.evtest"
    bad.write_text("Testing ...\nEvent: time 1.0, type 1 (EV_KEY), code x, value 1\n")
    status, _ = decode(str(bad))
    assert status == 1
    assert "line 2" in capsys.readouterr().err
