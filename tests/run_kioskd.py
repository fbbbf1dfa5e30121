"""Run `python -m kioskd ...` as a real process, the way a shell or systemd would; run a
snippet in a fresh interpreter (what importing a module pulls in is only seen there)."""

from __future__ import annotations

import subprocess
import sys


def run_kioskd(*args: str, timeout: float, env: dict[str, str] | None = None):
    """The finished process (text output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "kioskd", *args], capture_output=True, text=True, timeout=timeout,
        env=env,
    )  # fmt: skip


def python_lines(code: str) -> list[str]:
    """The lines `code` prints, run by a fresh interpreter (it must exit 0)."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
