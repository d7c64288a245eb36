"""Writing to the append-only audit log: one function, so every entry has the same shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hub.enums import ActorKind
from hub.models import AuditEntry


async def audit(
    action: str,
    *,
    at: dt.datetime,
    actor_kind: ActorKind = ActorKind.SYSTEM,
    actor_id: int | None = None,
    subject_type: str = "",
    subject_id: int | str = "",
    **details: Any,
) -> AuditEntry:
    """Record who did what to which thing. Details hold ids and counts, never personal data, so that a GDPR
    erasure never needs to touch the log."""
    return await AuditEntry.create(
        at=at,
        actor_kind=actor_kind,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=details,
    )
