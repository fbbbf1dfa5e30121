"""A throwaway root for installing packages: an overlay of this machine's own `/`.

Why not install on the CI machine itself: the package creates a user, writes /etc/kioskd,
/opt/kioskd, a unit and udev rules, and would start a service where a real systemd runs; other
tests (and other checkouts on the same machine) must not see any of that. Why not debootstrap:
a fresh Debian needs ~300 MB from the mirror and minutes before the first `dpkg -i`. An overlay
(`/` read-only below, a tmpfs above) in a private mount namespace (`unshare -m`) has every
dependency the host has, costs seconds and vanishes with the namespace: every write lands in
the tmpfs. Inside, /run is an empty tmpfs, so maintainer scripts see no running systemd or udev
(`deb-systemd-helper` still enables the unit by its symlinks), which is what an image build or
a first boot sees too.

Needs root, `unshare`, `nsenter`, `chroot` and overlayfs with `/` as a lower layer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

_SETUP = r"""
set -eu
T=$1 LOWER=$2 SHARE_TMP=$3
mount -t tmpfs -o mode=0755 tmpfs "$T"
mkdir "$T/upper" "$T/work" "$T/root"
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$T/upper,workdir=$T/work" "$T/root"
mount -t proc proc "$T/root/proc"
mount --rbind /dev "$T/root/dev"
mount -t tmpfs -o mode=0755 tmpfs "$T/root/run"
if [ "$SHARE_TMP" = 1 ]; then
    mount --bind /tmp "$T/root/tmp"
else
    mount -t tmpfs -o mode=1777 tmpfs "$T/root/tmp"
fi
[ -f /etc/resolv.conf ] && [ -f "$T/root/etc/resolv.conf" ] && cp /etc/resolv.conf "$T/root/etc/"
echo "$T/root"
exec sleep infinity
"""


def missing_tools() -> list[str]:
    return [t for t in ("unshare", "nsenter", "chroot", "mount") if shutil.which(t) is None]


class ThrowawayRoot:
    """`with ThrowawayRoot(tmp_path / "root") as root: root.run("dpkg -i /tmp/x.deb")`; `where`
    is an empty folder the tmpfs is mounted on (inside the namespace only)."""

    def __init__(self, where: Path, lower: str = "/", share_tmp: bool = False) -> None:
        """`lower`: the root below the overlay (this machine's `/`, or e.g. an emulated Debian
        root of another architecture); `share_tmp`: the root sees this machine's /tmp (so that a
        process inside reaches sockets and FIFOs a test made there) instead of an empty one."""
        self.where = where
        self.lower = lower
        self.share_tmp = share_tmp
        self.proc: subprocess.Popen[str] | None = None
        self.root = ""

    def __enter__(self) -> ThrowawayRoot:
        self.where.mkdir(parents=True, exist_ok=True)
        where = str(self.where)
        self.proc = subprocess.Popen(
            [
                *("unshare", "--mount", "--propagation", "private", "sh", "-c", _SETUP, "-"),
                *(where, self.lower, "1" if self.share_tmp else "0"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.root = self.proc.stdout.readline().strip()
        if not self.root:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.close()
            raise OSError(f"could not set up the overlay root: {err.strip()}")
        return self

    def run(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run a shell script as root inside the throwaway root."""
        assert self.proc is not None
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "DEBIAN_FRONTEND": "noninteractive",
            "LC_ALL": "C.UTF-8",
            "HOME": "/root",
        }
        return subprocess.run(
            [
                "nsenter",
                f"--target={self.proc.pid}",
                "--mount",
                # Entering a mount namespace resets the root to that namespace's `/`; --root keeps
                # the holder's root, so the suite also runs inside a chroot (e.g. a CI build root).
                "--root",
                "chroot",
                self.root,
                "sh",
                "-c",
                script,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )

    def path(self, inside: str) -> Path:
        """A path inside the root, as this process can read it (through the holder's root)."""
        assert self.proc is not None
        return Path(f"/proc/{self.proc.pid}/root{self.root}") / inside.lstrip("/")

    def close(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
            self.proc = None

    def __exit__(self, *exc: object) -> None:
        self.close()
