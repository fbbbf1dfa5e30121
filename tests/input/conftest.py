"""Fixtures for the input tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from .fakes import FakeTree


@pytest.fixture
def tree(tmp_path: Path):
    fake = FakeTree(tmp_path / "input")
    yield fake
    fake.close()
