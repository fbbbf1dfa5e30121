"""The durable journal: operations, their history, print jobs and the catalog cache (SQLite)."""

from kioskd.journal.states import IllegalTransition
from kioskd.journal.store import (
    CANCEL,
    CREATE,
    PAY,
    HistoryEntry,
    Journal,
    JournalError,
    Operation,
    PrintJob,
)

__all__ = [
    "CANCEL",
    "CREATE",
    "PAY",
    "HistoryEntry",
    "IllegalTransition",
    "Journal",
    "JournalError",
    "Operation",
    "PrintJob",
]
