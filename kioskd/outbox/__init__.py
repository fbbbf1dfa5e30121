"""The outbox: exactly-once sending of journaled money operations, and their reconciliation."""

from kioskd.outbox.outbox import Outbox, OutboxRefused, Outcome
from kioskd.outbox.policy import Policy

__all__ = ["Outbox", "OutboxRefused", "Outcome", "Policy"]
