"""Can this machine give a test a private mount namespace? Skip marks for the tests that need one.

Tests that mount a tmpfs (a full disk, a private journald) or an overlay of `/` (a throwaway root
for installing the Debian package) do it in a private mount namespace
(`unshare --mount --propagation private`), so nothing they mount is seen outside. Some machines
cannot give one: not root, no util-linux, or a container whose root is not a mount point (unshare
then fails with "cannot change root filesystem propagation"), or whose kernel refuses an overlay of
`/`. There the tests skip and say which of these it was, rather than fail for a reason that is
not kioskd's. The probe runs once per test process and mounts only inside its own namespace.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess

import pytest

_TMPFS = 'd=$(mktemp -d) && mount -t tmpfs kioskd-probe "$d"; rc=$?; umount "$d" 2>/dev/null'
_OVERLAY = (
    'mkdir "$d/u" "$d/w" "$d/r" && '
    'mount -t overlay overlay -o "lowerdir=/,upperdir=$d/u,workdir=$d/w" "$d/r"; rc=$?'
)


@functools.cache
def missing(overlay: bool = False) -> str | None:
    """Why a private mount namespace (with a tmpfs, and an overlay of `/` when `overlay`) cannot
    be had here; None when it can."""
    if os.geteuid() != 0:
        return "needs root: mounts in a private mount namespace"
    tools = [t for t in ("unshare", "mount", "umount") if shutil.which(t) is None]
    if tools:
        return f"missing {', '.join(tools)} (Debian packages util-linux, mount)"
    if overlay:
        script = (
            'd=$(mktemp -d) && mount -t tmpfs kioskd-probe "$d" && '
            + _OVERLAY
            + '; umount "$d/r" 2>/dev/null; umount "$d" 2>/dev/null; rmdir "$d"; exit $rc'
        )
        what = "a tmpfs and an overlay of /"
    else:
        script = _TMPFS + '; rmdir "$d"; exit $rc'
        what = "a tmpfs"
    try:
        proc = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"no private mount namespace here: {e}"
    if proc.returncode != 0:
        why = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        return (
            "no private mount namespace with "
            + what
            + f" here (`unshare --mount --propagation private`: {why[0]})"
        )
    return None


def needs_mount_namespace(overlay: bool = False) -> pytest.MarkDecorator:
    """Skip mark: the test mounts in a private namespace (and an overlay of `/` when `overlay`)."""
    why = missing(overlay)
    return pytest.mark.skipif(why is not None, reason=why or "")
