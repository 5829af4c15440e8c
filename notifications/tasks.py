"""django-q2 tasks: safe to run twice (a notice is claimed before it is sent)."""

from __future__ import annotations

from . import services


def deliver_due() -> str:
    counts = services.notifications_deliver_due()
    return ", ".join(f"{name}: {count}" for name, count in counts.items())
