"""`kioskd printer-status` and `kioskd print-test` against the loopback fake printer."""

from __future__ import annotations

import json

import pytest

from kioskd.cli import main
from kioskd.proving.fakes.escpos_printer import FakeTcpPrinter


@pytest.fixture
def tcp():
    with FakeTcpPrinter() as server:
        yield server


@pytest.mark.parametrize(
    ("script", "rc", "fields"),
    [
        ({}, 0, {"online": True, "paper": "ok", "cover": "closed", "error": "none"}),
        ({"paper": "out"}, 1, {"online": False, "paper": "out"}),
        ({"cover_open": True}, 1, {"cover": "open"}),
        (
            {"silent": True},
            3,
            {"online": "unknown", "paper": "unknown", "cover": "unknown", "error": "unknown"},
        ),
    ],
)
def test_printer_status_json_and_exit_code(tcp, capsys, script, rc, fields):
    tcp.core.set_state(**script)
    assert main(["printer-status", "--printer", tcp.uri, "--reply-timeout", "0.2"]) == rc
    data = json.loads(capsys.readouterr().out)
    assert fields.items() <= data.items()


def test_printer_status_unreachable(tcp, capsys):
    tcp.vanish()
    assert main(["printer-status", "--printer", tcp.uri, "--timeout", "1"]) == 1
    assert json.loads(capsys.readouterr().out)["state"] == "disconnected"


@pytest.mark.parametrize("paper", [58, 80])
def test_print_test_slip(tcp, tmp_path, capsys, paper):
    png = tmp_path / "test.png"
    args = ["print-test", "--printer", tcp.uri, "--paper", str(paper), "--png", str(png)]
    assert main(args) == 0
    printed = bytes(tcp.core.printed)
    assert "LOTERÍA DEL ZULIA".encode("cp858") in printed
    assert "10 líneas = 37,5 mm".encode("cp858") in printed
    assert b"\x1dkI" in printed and b"\x1d(k" in printed and tcp.core.cuts == 1
    assert png.stat().st_size > 1000
    out = capsys.readouterr().out
    assert "profile default (Generic Default), code page CP858 (ESC t 19)" in out
    dots = {58: 384, 80: 576}[paper]
    assert f"width: {dots} dots, {dots // 12} columns on {paper} mm paper" in out
    assert f"default: CP858, {dots} dots".encode() in printed  # the slip names them too
    # the chart: the page, then each accent with its byte in that page and an ASCII name
    assert b"CP858 (ESC t 19)\n" in printed
    assert "B5 Á A'".encode("cp858") in printed and "D5 € EUR".encode("cp858") in printed
    assert "A4 ñ n~".encode("cp858") in printed


def test_print_test_on_a_clone_profile(tcp, tmp_path, capsys):
    args = ["print-test", "--printer", tcp.uri, "--paper", "58", "--profile", "ZJ-5870"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "profile ZJ-5870 (ZiJiang ZJ-5870 Thermal Receipt Printer)" in out
    assert "code page CP850 (ESC t 2), cannot print €" in out
    printed = bytes(tcp.core.printed)
    assert b"\x1bt\x02" in printed and b"\x1bt\x13" not in printed
    assert "LOTERÍA DEL ZULIA".encode("cp850") in printed
    assert b"CP850 (ESC t 2)\n" in printed
    assert "--   EUR".encode("cp850") in printed  # no € in CP850: the chart says so
    assert "D6 Í I'".encode("cp850") in printed


def test_print_test_takes_the_width_overrides(tcp, capsys):
    args = ["print-test", "--printer", tcp.uri, "--profile", "TM-T88V", "--columns", "40"]
    assert main(args) == 0
    assert "width: 512 dots, 40 columns on 80 mm paper" in capsys.readouterr().out
    printed = bytes(tcp.core.printed)
    assert b"40 columnas / 80 mm" in printed and b"=" * 40 + b"\n" in printed
    assert b"=" * 41 not in printed
    args = ["print-test", "--printer", tcp.uri, "--profile", "TM-T88V", "--columns", "48"]
    assert main(args) == 2
    assert "48 columns of 12 dots do not fit 512 dots" in capsys.readouterr().out


def test_the_daemons_test_slip_carries_the_chart_on_the_printers_page():
    """`kioskctl print-test` prints slips.test_slip: the chart shows the page the profile
    selects, so the same slip tells a technician which setting to change."""
    from kioskd.counter import slips
    from kioskd.printer import render_escpos

    receipt = slips.test_slip(slips.SlipContext(), 1_700_000_000.0)
    job = render_escpos(receipt, 58, profile="ZJ-5870")
    assert b"CP850 (ESC t 2)\n" in job and "B5 Á A'".encode("cp850") in job
    job = render_escpos(receipt, 80, profile="KR-306")
    assert b"CP858 (ESC t 14)\n" in job and "D5 € EUR".encode("cp858") in job


def test_preview_takes_the_profile_width(tmp_path, capsys):
    from PIL import Image

    args = ["preview", "--out", str(tmp_path), "--profile", "TM-T88V"]
    assert main(args) == 0
    with Image.open(tmp_path / "ticket.png") as im:
        assert im.width == 512 + 2 * 25  # 180 dpi: 79.5 mm roll = 563 dots
    assert main([*args, "--columns", "48"]) == 2
    assert "48 columns of 12 dots do not fit 512 dots" in capsys.readouterr().err


def test_print_test_refuses_an_unknown_profile_and_lists_them(capsys, tmp_path):
    assert main(["print-test", "--png", str(tmp_path / "x.png"), "--profile", "XP-58"]) == 2
    assert "unknown printer profile 'XP-58'" in capsys.readouterr().out
    assert main(["print-test", "--list"]) == 0
    listing = capsys.readouterr().out
    assert "ZJ-5870: profile ZJ-5870" in listing and "default: profile default" in listing


def test_print_test_gives_up_while_paper_out(tcp, capsys):
    tcp.core.set_state(paper="out")
    assert main(["print-test", "--printer", tcp.uri, "--wait", "0.3"]) == 1
    assert "paper_out" in capsys.readouterr().out
    assert tcp.core.printed == b""
