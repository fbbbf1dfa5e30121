"""Printer profiles: python-escpos's capability database, and the code page kioskd prints in.

Rules:
- ``printer.profile`` names a profile of python-escpos's database (``escpos.capabilities``:
  "default", "TM-T20II", "ZJ-5870", ...). kioskd uses the profile's code-page table (which
  ``ESC t n`` selects which table), its printable width (``media.width.pixels``) and Font A
  column count for the layout's width (``layout.paper_for``), and, for warnings, its
  resolution; features
  (cutter, native QR) are not taken from it: a kiosk printer has both.
- The code page is chosen from the profile's table, never a fixed number: CP858 (CP850 + €)
  if the profile has it, else CP850, else the page that can print most of the Spanish
  repertoire below (ties: the lower table number). What the chosen page cannot print is
  replaced by the layout before printing (``layout.printable_text``), the preview shows the
  same replacement.
- Only pages with a Python codec are candidates: the layout encodes text with it, so the
  bytes on paper and the characters in the preview come from the same table.
- An unknown profile name is a ValueError naming the close matches (check-config shows it).
- The database is read as JSON from the file python-escpos itself loads (its package's
  ``capabilities.json``, or ``$ESCPOS_CAPABILITIES_FILE``), not through
  ``escpos.capabilities``: that import parses YAML and writes a pickle cache, which must not
  happen while the config is checked (before the daemon has pointed the cache at its state
  directory). ~10 ms, once per process.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kioskd.printer.layout import Paper

from kioskd.receipt import SPANISH_CHARS

DEFAULT_PROFILE = "default"
# What slips print beyond ASCII: Spanish letters and punctuation, the euro, the degree sign.
REPERTOIRE = SPANISH_CHARS
PREFERRED = ("CP858", "CP850")


@dataclass(frozen=True)
class CodePage:
    """The code page slips are printed in, on this profile."""

    name: str  # python-escpos's name, e.g. "CP858"
    index: int  # n of ESC t n on this profile
    codec: str  # Python codec, e.g. "cp858"
    missing: str  # characters of REPERTOIRE this page cannot print

    def __str__(self) -> str:
        return f"{self.name} (ESC t {self.index})"


@dataclass(frozen=True)
class PrinterProfile:
    """A python-escpos printer profile as the renderers use it."""

    name: str
    model: str
    codepage: CodePage
    dpi: int | None
    width_dots: int | None
    font_columns: int | None = None  # Font A columns the database gives for the model

    def paper(self, paper_mm: int, *, dots: int | None = None, columns: int | None = None) -> Paper:
        """Print area and columns of this printer on ``paper_mm`` paper (``dots`` /
        ``columns``: the ``printer.dots`` / ``printer.columns`` overrides)."""
        from kioskd.printer.layout import paper_for

        return paper_for(
            paper_mm,
            profile_dots=self.width_dots,
            profile_columns=self.font_columns,
            dpi=self.dpi,
            dots=dots,
            columns=columns,
        )

    def describe(self) -> str:
        """One line for print-test and logs: profile, model and code page."""
        missing = f", cannot print {self.codepage.missing}" if self.codepage.missing else ""
        return f"profile {self.name} ({self.model}), code page {self.codepage}{missing}"

    def mismatches(self, paper_mm: int) -> list[str]:
        """What the profile says that does not fit kioskd's 203 dpi layout of this paper."""
        from kioskd.printer.layout import PRINT_DOTS

        out = []
        if self.dpi is not None and self.dpi != 203:
            out.append(
                f"profile {self.name} is {self.dpi} dpi; kioskd spaces lines for 203 dpi"
                " (8 dots/mm): the paper will be shorter or taller than the preview"
            )
        if self.width_dots is not None and self.width_dots < PRINT_DOTS[paper_mm]:
            paper = self.paper(paper_mm)
            out.append(
                f"profile {self.name} prints {self.width_dots} dots wide, less than"
                f" {paper_mm} mm paper's {PRINT_DOTS[paper_mm]}: slips use {paper.columns}"
                " columns"
            )
        return out


@lru_cache(maxsize=1)
def _capabilities() -> dict[str, Any]:
    path = os.environ.get("ESCPOS_CAPABILITIES_FILE")
    if path:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    else:
        text = _escpos_file("capabilities.json")
    data: dict[str, Any] = json.loads(text)
    return data


def forget_database() -> None:
    """Let the parsed database go; the profiles loaded so far stay (`load_profile` keeps each
    one it made). The daemon needs the one profile its config names: the whole database
    held 215 KB of objects for the life of the process (issue 19, RSS). Another profile,
    after a reload, parses the file again (~10 ms)."""
    _capabilities.cache_clear()


def _escpos_file(name: str) -> str:
    """A data file of python-escpos, read from its folder without importing it or
    `importlib.resources` (~5 ms of CPU before READY=1 here: issue 19); through
    `importlib.resources` where the package is not a plain folder (a zip)."""
    import importlib.util

    spec = importlib.util.find_spec("escpos")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                return f.read()
    from importlib.resources import files

    return (files("escpos") / name).read_text(encoding="utf-8")


def profile_names() -> list[str]:
    return sorted(_capabilities()["profiles"])


def _codec(name: str) -> str | None:
    encoding = _capabilities()["encodings"].get(name, {})
    codec = encoding.get("python_encode")
    if not isinstance(codec, str) or not codec:
        return None
    try:
        "a".encode(codec)
    except LookupError:
        return None
    return codec


def _missing(codec: str) -> str:
    out = []
    for ch in REPERTOIRE:
        try:
            ch.encode(codec)
        except UnicodeEncodeError:
            out.append(ch)
    return "".join(out)


def choose_codepage(table: dict[str, str]) -> CodePage:
    """The code page for a profile's ``codePages`` table ({"19": "CP858", ...}).

    A preferred one the table has is taken without looking at the others (each look imports
    a codec: issue 19, start-up CPU); the result is the same as comparing them all."""
    first_index: dict[str, int] = {}
    for index, name in sorted(table.items(), key=lambda kv: int(kv[0])):
        first_index.setdefault(name, int(index))
    for name in PREFERRED:
        codec = _codec(name) if name in first_index else None
        if codec:
            return CodePage(name, first_index[name], codec, _missing(codec))
    candidates: dict[str, CodePage] = {}
    for index, name in sorted(table.items(), key=lambda kv: int(kv[0])):
        codec = _codec(name)
        if codec and name not in candidates:
            candidates[name] = CodePage(name, int(index), codec, _missing(codec))
    if not candidates:
        raise ValueError("the profile has no code page kioskd can encode text in")
    for name in PREFERRED:
        if name in candidates:
            return candidates[name]
    return min(candidates.values(), key=lambda cp: (len(cp.missing), cp.index))


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None


@lru_cache(maxsize=16)
def load_profile(name: str = DEFAULT_PROFILE, codepage: str | None = None) -> PrinterProfile:
    """The profile ``name`` with its chosen code page (or ``codepage``, which must be in its
    table: a python-escpos name such as "CP850" or a codec name such as "cp850")."""
    profiles = _capabilities()["profiles"]
    if name not in profiles:
        import difflib  # only for a wrong name

        close = difflib.get_close_matches(name, list(profiles), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown printer profile {name!r}{hint} (kioskd print-test --list)")
    data = profiles[name]
    table: dict[str, str] = data.get("codePages", {})
    if codepage is None:
        chosen = choose_codepage(table)
    else:
        wanted = codepage.upper().replace("-", "_")
        matches = {k: v for k, v in table.items() if v == wanted or _codec(v) == codepage.lower()}
        if not matches:
            have = sorted({v for v in table.values() if _codec(v)})
            raise ValueError(
                f"profile {name} has no code page {codepage!r}; it has {', '.join(have)}"
            )
        chosen = choose_codepage(matches)
    media = data.get("media", {})
    return PrinterProfile(
        name=name,
        model=f"{data.get('vendor', '?')} {data.get('name', name)}".strip(),
        codepage=chosen,
        dpi=_int_or_none(media.get("dpi")),
        width_dots=_int_or_none(media.get("width", {}).get("pixels")),
        font_columns=_int_or_none(data.get("fonts", {}).get("0", {}).get("columns")),
    )
