"""Mount, cut and unmount the power-cut filesystem (`powercut.fusefs`) from a test or campaign.

`PowerCutMount(backing, mountpoint).mount()` starts
`python -m kioskd.proving.campaigns.powercut.fusefs` and waits until the mount is live. `cut()`
is the power cut: SIGKILL to the filesystem process (its memory holds every unsynced write),
a lazy unmount (the kernel drops its page cache for the mount), and a fresh mount that loads
only what was synced. Kill the program under test first (or at the same
moment): a power cut takes both.

`fuse_unavailable()` says why FUSE cannot be used here (for skips), or None.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def fuse_unavailable() -> str | None:
    """Why this machine cannot mount the power-cut filesystem, or None when it can."""
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (FUSE kernel module not available)"
    if shutil.which("fusermount") is None and shutil.which("fusermount3") is None:
        return "no fusermount (apt-get install fuse)"
    try:
        import fuse  # noqa: F401  - fusepy loads libfuse2 at import
    except (ImportError, OSError) as exc:
        return f"fusepy/libfuse2 not usable: {exc}"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "no permission to open /dev/fuse"
    return None


def _fusermount() -> str:
    return shutil.which("fusermount") or shutil.which("fusermount3") or "fusermount"


def is_mounted(mountpoint: str | os.PathLike[str]) -> bool:
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[1] == target and parts[2].startswith("fuse"):
                return True
    return False


class PowerCutMount:
    """One mount of the power-cut filesystem over `backing` at `mountpoint`."""

    def __init__(self, backing: str | os.PathLike[str], mountpoint: str | os.PathLike[str]) -> None:
        self.backing = Path(backing)
        self.mountpoint = Path(mountpoint)
        self.proc: subprocess.Popen[bytes] | None = None
        self.cuts = 0
        self.log_path = self.backing.parent / (self.backing.name + ".fs.log")

    def mount(self, timeout_s: float = 10.0) -> PowerCutMount:
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "kioskd.proving.campaigns.powercut.fusefs",
                str(self.backing),
                str(self.mountpoint),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while not is_mounted(self.mountpoint):
            if self.proc.poll() is not None:
                raise RuntimeError(f"power-cut fs exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("power-cut fs did not mount in time")
            time.sleep(0.01)
        return self

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self.proc = None
        if is_mounted(self.mountpoint):
            subprocess.run([_fusermount(), "-u", "-z", str(self.mountpoint)], check=False)

    def cut(self, remount: bool = True) -> None:
        """Lose power: everything not synced is gone. Remount from what was durable."""
        self._kill()
        self.cuts += 1
        if remount:
            self.mount()

    def unmount(self) -> None:
        """A clean unmount. Unsynced data is still lost: only fsync makes anything durable."""
        if self.proc is not None and self.proc.poll() is None and is_mounted(self.mountpoint):
            subprocess.run([_fusermount(), "-u", str(self.mountpoint)], check=False)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)
        self._kill()

    def __enter__(self) -> PowerCutMount:
        return self.mount()

    def __exit__(self, *exc: object) -> None:
        self.unmount()
