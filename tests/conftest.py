"""Suite-wide scheduling for parallel workers (`./dev.sh test` runs pytest-xdist with
`--dist loadfile`).

Rules, read from the tests themselves, so nothing here needs updating when tests are added
(there is no list of test names):

- A file's tests run on one worker, one after the other, as without xdist: its module fixtures
  are made once, and tests of one file that share a path or a name never race each other.
- Except a test marked `slow` that uses no fixture wider than a function (a session fixture is
  fine): a campaign on its own, it is a unit of its own and goes to whichever worker is free.
- Longest first: the units are handed out in the order of their expected time, so the long runs
  start at once and no worker is left alone with one at the end. Expected time: what the test
  took in the last run on this checkout (pytest's cache, `.pytest_cache`), else a guess from
  its marks (a `slow` test a couple of minutes, any other a fraction of a second).
- A test marked `late` goes after all the others: it waits for something a slow test builds
  first (the Debian package), which is done by then.
- A worker still busy with a long test gets, as the one unit xdist must queue behind it (a worker
  starts a test only once it knows the next one), the shortest unit left rather than the next
  long one, which a free worker takes instead.

How: each worker writes its plan (the units, their expected times, which are late) to a file the
controller named (workers and controller share no memory, and only workers collect); the
controller's scheduler, xdist's own file scheduler with the exceptions above, reads it once all
workers have collected. The controller records the times of this run in the cache at the end.

`run_dir` (below) is a folder shared by every worker of one run, for what is built once per run.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

_WIDE = {"class", "module", "package"}
_PLAN_ENV = "KIOSKD_TESTS_PLAN_FILE"
_RUN_DIR_ENV = "KIOSKD_TESTS_RUN_DIR"
_TIMES_KEY = "kioskd/test-seconds"
_CPU_KEY = "kioskd/test-cpu-seconds"
# Guesses for a test this checkout has not timed yet.
_GUESS_SLOW_S = 120.0
_GUESS_S = 0.5
# A worker with more than this left to run gets the shortest unit queued behind it.
_BUSY_S = 20.0


def _slow(item: pytest.Item) -> bool:
    return item.get_closest_marker("slow") is not None


def _late(item: pytest.Item) -> bool:
    return item.get_closest_marker("late") is not None


def _runs_alone(item: pytest.Item) -> bool:
    """A slow test with only function- (or worker-wide session-) scoped fixtures."""
    if not _slow(item):
        return False
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return not any(d.scope in _WIDE for defs in info.name2fixturedefs.values() for d in defs)


def _unit(item: pytest.Item) -> str:
    return item.nodeid if _runs_alone(item) else item.nodeid.split("::", 1)[0]


def _is_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.hasplugin("xdist") and not hasattr(config, "workerinput")


def _tmpfs(path: str) -> bool:
    """Is `path` a writable tmpfs mount point (per /proc/self/mounts)?"""
    try:
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return False
    return any(m.split()[1:3] == [path, "tmpfs"] for m in mounts) and os.access(path, os.W_OK)


def _temp_in_ram() -> None:
    """The run's temporary files (pytest's tmp_path, every mkdtemp, the package build) in RAM.

    Most tests run a real SQLite journal, which syncs every operation: on this machine's disk an
    fsync is milliseconds (the seeded campaign spent three quarters of its time in them), on a
    tmpfs nothing. No test proves durability by the disk: a kill -9 keeps what was written
    (the page cache survives the process), and the power-cut campaign's own filesystem drops
    every write not synced, whatever lies below it. A TMPDIR the caller set is kept."""
    if "TMPDIR" in os.environ or not _tmpfs("/dev/shm"):
        return
    os.environ["TMPDIR"] = "/dev/shm"  # short: AF_UNIX socket paths under it must stay short
    tempfile.tempdir = None  # read again, by this process too (pytest's base temp folder)


def _bytecode_kept() -> None:
    """Let the workers and every `kioskd` they start keep compiled byte-code (`__pycache__`,
    ignored by git) where the environment says not to write it (PYTHONDONTWRITEBYTECODE, as
    some images set): else each of them compiles every module it imports, and pytest rewrites
    every test module, at each start (seconds per worker, a few tenths per daemon start)."""
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # a worker inherits what its controller set
    _temp_in_ram()
    _bytecode_kept()
    if not _is_controller(config):
        return
    if config.getvalue("dist") != "loadfile":
        return
    # The workers, started after this, inherit both.
    fd, plan = tempfile.mkstemp(prefix="kioskd-tests-plan-", suffix=".json")
    os.close(fd)
    os.environ[_PLAN_ENV] = plan
    run_dir = tempfile.mkdtemp(prefix="kioskd-tests-run-")
    os.environ[_RUN_DIR_ENV] = run_dir
    config.add_cleanup(lambda: Path(plan).unlink(missing_ok=True))
    config.add_cleanup(lambda: shutil.rmtree(run_dir, ignore_errors=True))
    # Our order (longest first) is the one handed out: xdist's own reorder (by number of tests
    # per file) would put a single long campaign last.
    config.option.loadscopereorder = False


def _times(config: pytest.Config) -> dict[str, float]:
    cache = getattr(config, "cache", None)
    if cache is None:
        return {}
    times = cache.get(_TIMES_KEY, {})
    return times if isinstance(times, dict) else {}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    times = _times(config)

    def expected(item: pytest.Item) -> float:
        known = times.get(item.nodeid)
        if isinstance(known, int | float):
            return float(known)
        return _GUESS_SLOW_S if _slow(item) else _GUESS_S

    per_test = {item.nodeid: expected(item) for item in items}
    per_unit: dict[str, float] = defaultdict(float)
    late: set[str] = set()
    for item in items:
        unit = _unit(item)
        per_unit[unit] += per_test[item.nodeid]
        if _late(item):
            late.add(unit)
    # Late units last; otherwise the longest unit first, its tests kept together in their order.
    # Stable: equal expectations keep the collection order.
    items.sort(key=lambda item: (_unit(item) in late, -per_unit[_unit(item)]))
    path = os.environ.get(_PLAN_ENV)
    if path and hasattr(config, "workerinput"):
        plan = {
            "alone": sorted(item.nodeid for item in items if _runs_alone(item)),
            "late": sorted(late),
            "seconds": per_test,
        }
        Path(path).write_text(json.dumps(plan))  # every worker collects the same tests


_CPU_START = pytest.StashKey[float]()


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the daemons a test started
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Any:
    """What each test cost in CPU (its process and the processes it started and waited for),
    sent with its report: the cache keeps it beside the wall time (`kioskd/test-cpu-seconds`),
    for whoever makes the suite cheaper."""
    item.stash[_CPU_START] = _cpu_s()
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Any:
    outcome = yield
    report = outcome.get_result()
    if report.when == "teardown":
        start = item.stash.get(_CPU_START, None)
        if start is not None:  # a new list: the report shares the item's otherwise
            cpu = round(_cpu_s() - start, 3)
            report.user_properties = [*report.user_properties, ("cpu_s", cpu)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """On the controller (and a run without workers): the time each test took, all phases."""
    _RUN_TIMES[report.nodeid] = _RUN_TIMES.get(report.nodeid, 0.0) + report.duration
    for name, value in report.user_properties:
        if name == "cpu_s" and isinstance(value, int | float):
            _RUN_CPU[report.nodeid] = float(value)


_RUN_TIMES: dict[str, float] = {}
_RUN_CPU: dict[str, float] = {}


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    cache = getattr(config, "cache", None)
    if cache is None or hasattr(config, "workerinput") or not _RUN_TIMES:
        return
    times = _times(config)
    times.update({k: round(v, 2) for k, v in _RUN_TIMES.items()})
    cache.set(_TIMES_KEY, times)
    cpu = cache.get(_CPU_KEY, {})
    cpu = cpu if isinstance(cpu, dict) else {}
    cpu.update(_RUN_CPU)
    cache.set(_CPU_KEY, cpu)


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every worker of this run shares (for what is built once per run, under a lock);
    a run without workers gets a temporary folder of its own."""
    shared = os.environ.get(_RUN_DIR_ENV)
    return Path(shared) if shared else tmp_path_factory.mktemp("run")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    path = os.environ.get(_PLAN_ENV)
    if not path:
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirst(LoadFileScheduling):  # type: ignore[misc]
        """Work units are files, except the stand-alone slow tests, one unit each; a busy
        worker's queued unit is the shortest left."""

        plan: dict[str, Any] | None = None

        def _plan(self) -> dict[str, Any]:
            if self.plan is None:
                text = Path(path).read_text()
                self.plan = json.loads(text) if text.strip() else {}
                self.plan["alone"] = set(self.plan.get("alone", ()))
                self.plan["late"] = set(self.plan.get("late", ()))
            return self.plan

        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid in self._plan()["alone"] else nodeid.split("::", 1)[0]

        def _left_s(self, node: Any) -> float:
            seconds = self._plan().get("seconds", {})
            return sum(
                seconds.get(nodeid, _GUESS_S)
                for unit in self.assigned_work.get(node, {}).values()
                for nodeid, done in unit.items()
                if not done
            )

        def _assign_work_unit(self, node: Any) -> None:
            if self._left_s(node) > _BUSY_S:
                late = self._plan()["late"]
                early = [scope for scope in self.workqueue if scope not in late]
                if early:  # the shortest one not late: the queue is longest first
                    self.workqueue.move_to_end(early[-1], last=False)
            super()._assign_work_unit(node)

    return LongestFirst(config, log)
