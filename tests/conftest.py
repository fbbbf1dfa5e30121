"""Suite-wide scheduling for parallel workers (`./dev.sh test` runs pytest-xdist with
`--dist loadfile`).

Two rules, read from the tests themselves, so nothing here needs updating when tests are added
(there is no list of test names):

- A file's tests run on one worker, one after the other, as without xdist: its module fixtures
  (a package build, a private journald) are made once, and tests of one file that share a path
  or a name never race each other.
- Except a test marked `slow` that uses no fixture wider than a function: a campaign on its own,
  it goes to whichever worker is free. And files holding a slow test are collected first (a
  slow file kept whole, e.g. the package build, ahead of stand-alone campaigns), so the long
  runs start at once and no worker is left alone with one at the end.

How: each worker writes the ids of its stand-alone tests to a file the controller named (workers
and controller share no memory, and only workers collect); the controller's scheduler, xdist's
own file scheduler with that one exception, reads it once all workers have collected.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

_WIDE = {"class", "module", "package"}
_ALONE_ENV = "KIOSKD_TESTS_ALONE_FILE"


def _slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


def _runs_alone(item: pytest.Item) -> bool:
    """A slow test with only function- (or worker-wide session-) scoped fixtures."""
    if not _slow(item):
        return False
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return not any(d.scope in _WIDE for defs in info.name2fixturedefs.values() for d in defs)


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.getvalue("dist") != "loadfile":
        return
    fd, path = tempfile.mkstemp(prefix="kioskd-tests-alone-", suffix=".txt")
    os.close(fd)
    os.environ[_ALONE_ENV] = path  # the workers, started after this, inherit it
    config.add_cleanup(lambda: Path(path).unlink(missing_ok=True))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow_files = {item.path for item in items if _slow(item)}
    # Slow files first, and in them the tests that must stay with their file (a module fixture
    # such as the package build) ahead of the stand-alone ones: the longest unit starts at once.
    # Stable: the order is kept within each.
    items.sort(key=lambda item: (item.path not in slow_files, _runs_alone(item)))
    path = os.environ.get(_ALONE_ENV)
    if path and hasattr(config, "workerinput"):
        alone = "".join(f"{item.nodeid}\n" for item in items if _runs_alone(item))
        Path(path).write_text(alone)  # every worker collects the same tests: same content


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    path = os.environ.get(_ALONE_ENV)
    if not path:
        return None
    from xdist.scheduler import LoadFileScheduling

    class FileOrAlone(LoadFileScheduling):  # type: ignore[misc]
        """Work units are files, except the stand-alone slow tests, one unit each."""

        alone: set[str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.alone is None:
                self.alone = set(Path(path).read_text().split("\n")) - {""}
            return nodeid if nodeid in self.alone else nodeid.split("::", 1)[0]

    return FileOrAlone(config, log)
