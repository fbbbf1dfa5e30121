"""The outbox: exactly-once sending of journaled money operations, and their reconciliation.

httpcore (under httpx) asks which async library runs by `import sniffio` inside
`current_async_library()`, four or five times for every request the outbox sends, and falls
back to asyncio when the import fails. sniffio is optional and not installed here
(requirements/run.txt), so each of those imports searched every folder of `sys.path` again:
about 0.1 ms each here, on the event loop, several times a sale (issue 19: CPU per sale; a
Pi 3 pays ~13x). When it is not installed it is marked absent once, so the import fails at
once and httpcore takes asyncio, as before; an installed sniffio is left alone.
"""

import importlib.util
import sys

if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]

from kioskd.outbox.outbox import Outbox, OutboxRefused, Outcome
from kioskd.outbox.policy import Policy

__all__ = ["Outbox", "OutboxRefused", "Outcome", "Policy"]
