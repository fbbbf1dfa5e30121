"""The docs name the code as it is: every `kioskd/...` path and `kioskd.x.y` module they cite
exists, so a move that forgets the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = ["README.md", "CONTRIBUTING.md", "docs/ARCHITECTURE.md", "docs/MONITORING.md"]
PATH = re.compile(r"(?<![\w/.])kioskd/[\w/.]*[\w/]")
DOTTED = re.compile(r"(?<![\w/.])kioskd(?:\.\w+)+")
FILE_NAMES = {"toml", "service", "sysusers", "tmpfiles", "rules", "prom"}  # kioskd.toml: no module


def _module_file(parts: list[str]) -> Path | None:
    base = REPO.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@pytest.mark.parametrize("doc", DOCS)
def test_cited_paths_exist(doc: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    missing = sorted({p for p in PATH.findall(text) if not (REPO / p).exists()})
    assert not missing, f"{doc} cites paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS)
def test_cited_modules_and_their_names_exist(doc: str) -> None:
    text = (REPO / doc).read_text(encoding="utf-8")
    wrong = []
    for dotted in sorted(set(DOTTED.findall(text))):
        parts = dotted.split(".")
        if parts[1] in FILE_NAMES:
            continue
        # The longest prefix that is a module (`kioskd` itself at least); what follows must be
        # a name defined in it, and perhaps one attribute of that name.
        cut = next(c for c in range(len(parts), 0, -1) if _module_file(parts[:c]) is not None)
        source = _module_file(parts[:cut])
        rest = parts[cut:]
        if len(rest) > 2 or (
            rest and source and not re.search(rf"\b{rest[0]}\b", source.read_text())
        ):
            wrong.append(dotted)
    assert not wrong, f"{doc} cites modules or names that do not exist: {wrong}"


def test_every_module_is_on_the_map() -> None:
    """Each module of the package is named in docs/ARCHITECTURE.md (by path, file or module
    name in backticks): a new module gets its row, or its word in a package's row."""
    text = (REPO / "docs/ARCHITECTURE.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"`([^`]+)`", text))
    words = {w for c in cited for w in re.findall(r"[\w/.]+", c)}
    words |= {part for w in list(words) for part in w.split(".")}  # `inprocess.SimTransport`
    missing = []
    for path in sorted((REPO / "kioskd").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if path.name in ("__init__.py", "__main__.py"):
            continue
        names = {rel, path.name, path.stem, rel.removeprefix("kioskd/")}
        if not names & words and not any(rel.startswith(c) and c.endswith(".py") for c in cited):
            missing.append(rel)
    assert not missing, f"modules missing from the Map of docs/ARCHITECTURE.md: {missing}"
