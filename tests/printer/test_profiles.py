"""Printer profiles: the code page comes from python-escpos's profile table, not ``ESC t 19``.

"Accents print right" is checked the way a printer would print them: the job's ``ESC t n`` is
looked up in the profile's own table (python-escpos's database, read through
``escpos.capabilities``, not through kioskd), and the text bytes are decoded with that page.
"""

from __future__ import annotations

import re

import pytest

from kioskd.printer import render_escpos
from kioskd.printer.profiles import choose_codepage, load_profile
from kioskd.receipt import Receipt, Text, Title
from tests.run_kioskd import python_lines

ACCENTS = "LOTERÍA DEL ZULIA"
LINE = "ZODÍACO ¿Año? ¡Sí! ñÑ áéíóú ÁÉÍÓÚ ü"  # 35 characters: one line from 42 columns up


def slip() -> Receipt:
    return Receipt("test", (Title("PRUEBA"), Text(ACCENTS, bold=True), Text(LINE), Text("5 €")))


def as_printed(job: bytes, profile: str) -> str:
    """The job's text as the printer shows it: bytes decoded with the table that the job's
    ESC t selects on this profile (python-escpos's own table and codec)."""
    from escpos.capabilities import CAPABILITIES

    (n,) = re.findall(rb"\x1bt(.)", job, flags=re.S)
    name = CAPABILITIES["profiles"][profile]["codePages"][str(n[0])]
    codec = CAPABILITIES["encodings"][name]["python_encode"]
    return job.decode(codec, errors="replace")


def test_default_profile_selects_cp858_by_its_table():
    job = render_escpos(slip(), 80)
    assert job.count(b"\x1bt") == 1 and b"\x1bt\x13" in job
    text = as_printed(job, "default")
    assert ACCENTS in text and LINE in text and "5 €" in text


@pytest.mark.parametrize(
    ("profile", "page", "index"),
    [
        ("ZJ-5870", "CP850", 2),  # Zijiang/Xprinter-type clone: no CP858, nothing at 19
        ("TM-T88II", "CP850", 2),  # 19 is "Unknown" in its table
        ("KR-306", "CP858", 14),  # CP858 under another number
        ("TH230", "CP858", 6),
    ],
)
def test_accents_print_right_on_a_profile_without_page_19(profile, page, index):
    chosen = load_profile(profile).codepage
    assert (chosen.name, chosen.index) == (page, index)
    paper = 58 if profile == "ZJ-5870" else 80  # a 58 mm printer
    job = render_escpos(slip(), paper, profile=profile)
    assert b"\x1bt\x13" not in job
    assert job.count(b"\x1bt") == 1 and b"\x1bt" + bytes([index]) in job
    text = as_printed(job, profile)
    assert ACCENTS in text
    if paper == 80:
        assert LINE in text
    else:  # wrapped at 32 columns: the ZJ-5870 is 384 dots wide
        first, rest = LINE[:27], LINE[28:]  # "...áéíóú" (27 characters), "ÁÉÍÓÚ ü"
        assert first + "\n" in text and rest + "\n" in text
    assert ("5 €" if page == "CP858" else "5 EUR") in text


def test_a_profile_with_only_cp437_prints_the_closest():
    job = render_escpos(slip(), 80, profile="TM-U220")
    assert b"\x1bt\x00" in job
    text = as_printed(job, "TM-U220")
    assert "LOTERIA DEL ZULIA" in text  # Í is not in CP437: unaccented, not a box
    # TM-U220: 400 dots, 33 columns: the line breaks before the "ü"
    assert "ZODIACO ¿Año? ¡Sí! ñÑ áéíóú AÉIOU\n" in text and "ü\n" in text
    assert "?" not in text.replace("¿Año?", "")


def test_choice_order_cp858_then_cp850_then_closest():
    assert choose_codepage({"0": "CP437", "2": "CP850", "19": "CP858"}).name == "CP858"
    assert choose_codepage({"0": "CP437", "2": "CP850", "16": "CP1252"}).name == "CP850"
    assert choose_codepage({"0": "CP437", "16": "CP1252"}).name == "CP1252"  # all of Spanish + €
    assert choose_codepage({"0": "CP437", "9": "Unknown"}).name == "CP437"
    with pytest.raises(ValueError, match="no code page"):
        choose_codepage({"1": "KATAKANA"})


def test_codepage_override_must_be_in_the_profile():
    assert load_profile("default", "cp850").codepage.index == 2
    assert b"\x1bt\x02" in render_escpos(slip(), 80, codepage="cp850")
    with pytest.raises(ValueError, match="has no code page 'cp858'"):
        load_profile("ZJ-5870", "cp858")


def test_unknown_profile_names_close_matches():
    with pytest.raises(ValueError, match="unknown printer profile 'ZJ5870'; did you mean ZJ-5870"):
        load_profile("ZJ5870")


def test_every_database_profile_with_a_text_page_renders():
    from escpos.capabilities import CAPABILITIES

    for name in CAPABILITIES["profiles"]:
        try:
            load_profile(name)
        except ValueError:
            assert name == "AF-240"  # a customer display with a private table only
            continue
        assert b"\x1bt" in render_escpos(slip(), 58, profile=name)


def test_check_config_refuses_an_unknown_profile(tmp_path):
    from kioskd import config as c
    from tests.service.conftest import MINIMAL, write

    write(tmp_path / "kioskd.toml", MINIMAL + '\n[printer]\nprofile = "TM-T20"\n')
    with pytest.raises(c.ConfigInvalid) as err:
        c.load_config(tmp_path / "kioskd.toml")
    assert "printer.profile: unknown printer profile 'TM-T20'; did you mean TM-T20II" in str(
        err.value
    )
    write(tmp_path / "kioskd.toml", MINIMAL + '\n[printer]\nprofile = "ZJ-5870"\n')
    assert c.load_config(tmp_path / "kioskd.toml").printer.profile == "ZJ-5870"


def test_doctor_names_the_profile_and_what_does_not_fit():
    from kioskd.doctor.checks import FAIL, OK, WARN, judge_printer_profile

    ok = judge_printer_profile("default", 80)
    assert (ok.status, ok.detail) == (
        OK,
        "profile default (Generic Default), code page CP858 (ESC t 19)",
    )
    clone = judge_printer_profile("ZJ-5870", 80)
    assert clone.status == WARN
    assert "prints 384 dots wide, less than 80 mm paper's 576: slips use 32 columns" in (
        clone.detail
    )
    assert "cannot print €" in clone.detail
    assert judge_printer_profile("ZJ-5870", 58).detail.endswith("its code page cannot print €")
    assert judge_printer_profile("TM-T20", 80).status == FAIL


def test_a_profile_loads_without_importing_python_escpos():
    """Issue 19 (CPU to READY): the daemon loads its printer profile before READY=1; the
    capability database is read from python-escpos's folder, neither importing escpos (its
    renderer loads after READY=1) nor `importlib.resources`."""
    code = (
        "import sys\n"
        "from kioskd.printer.profiles import load_profile\n"
        "p = load_profile('default', None)\n"
        "print(p.codepage.name, 'escpos' in sys.modules, 'importlib.resources' in sys.modules)\n"
    )
    out = python_lines(code)
    assert out[0].split() == [load_profile("default", None).codepage.name, "False", "False"]
