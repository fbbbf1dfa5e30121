"""Grupo Banklot back-office API: typed async client (client.py), models, error taxonomy.

httpx's `__init__` imports its command-line tool (`httpx._main`: click, pygments, rich)
whenever those are installed, and falls back to a stub when that import fails. kioskd never
runs that tool, so the module is marked absent before httpx is first imported: about 90 ms of
CPU and 6 MB less at every start here (issue 19, bench/RESULTS.md; a Pi 3 pays ~13x).
A process that imported httpx before this package keeps its tool.
"""

import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
