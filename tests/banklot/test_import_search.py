"""Issue 19 (CPU per sale): httpcore's `import sniffio` in every request must not search
`sys.path` again each time when sniffio is not installed (it is not: requirements/run.txt)."""

from __future__ import annotations

import asyncio
import sys

import pytest


class _Counting:
    """A meta-path finder that only counts the lookups of one module."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lookups = 0

    def find_spec(self, fullname, path=None, target=None):  # type: ignore[no-untyped-def]
        if fullname == self.name:
            self.lookups += 1
        return None


def test_httpcore_requests_search_no_path_for_an_absent_sniffio() -> None:
    import kioskd.banklot  # noqa: F401 - what the client imports before its first request

    if sys.modules.get("sniffio") is not None:
        pytest.skip("sniffio is installed in this environment: its import is a cache hit")
    from httpcore._synchronization import current_async_library

    counting = _Counting("sniffio")
    sys.meta_path.insert(0, counting)
    try:

        async def ask() -> str:
            return current_async_library()

        assert asyncio.run(ask()) == "asyncio"  # what httpcore took before: asyncio
    finally:
        sys.meta_path.remove(counting)
    assert counting.lookups == 0
