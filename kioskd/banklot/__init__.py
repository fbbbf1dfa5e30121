"""Grupo Banklot back-office API: typed async client (client.py), models, error taxonomy.

httpx's `__init__` imports its command-line tool (`httpx._main`: click, pygments, rich)
whenever those are installed, and falls back to a stub when that import fails. kioskd never
runs that tool, so the module is marked absent before httpx is first imported: about 90 ms of
CPU and 6 MB less at every start here (issue 19, bench/RESULTS.md; a Pi 3 pays ~13x).
A process that imported httpx before this package keeps its tool.

httpcore (under httpx) asks which async library runs by `import sniffio` inside
`current_async_library()`, four or five times for every request, and falls back to asyncio
when the import fails. sniffio is optional and not installed on a kiosk (requirements/run.txt),
so each of those imports searched every folder of `sys.path` again: about 0.1 ms each here, on
the event loop, several times a sale (issue 19: CPU per sale; a Pi 3 pays ~13x). When it is not
installed it is marked absent once, so the import fails at once and httpcore takes asyncio, as
before; an installed sniffio is left alone.
"""

import importlib.util
import sys

if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]
