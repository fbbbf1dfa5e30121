"""Run `python -m kioskd ...` as a real process, the way a shell or systemd would."""

from __future__ import annotations

import subprocess
import sys


def run_kioskd(*args: str, timeout: float, env: dict[str, str] | None = None):
    """The finished process (text output captured)."""
    return subprocess.run(
        [sys.executable, "-m", "kioskd", *args], capture_output=True, text=True, timeout=timeout,
        env=env,
    )  # fmt: skip
