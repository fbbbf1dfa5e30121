"""Shared helpers for the service tests: config files written into tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

MINIMAL = """
[api]
base_url = "https://api.example.test"
email = "kiosk@example.test"
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def cfg_path(tmp_path: Path) -> Path:
    """A minimal valid main config file (no drop-ins yet)."""
    return write(tmp_path / "kioskd.toml", MINIMAL)
