"""The append-only audit log: its table, and one function to write to it, so every entry has the same shape."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tortoise import fields
from tortoise.models import Model

from hub.enums import ActorKind


class AuditEntry(Model):
    """The append-only audit log: rows are written once and never changed or removed."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField()
    actor_kind = fields.CharEnumField(ActorKind)
    actor_id = fields.IntField(null=True)
    action = fields.CharField(max_length=64)
    subject_type = fields.CharField(max_length=64, default="")
    subject_id = fields.CharField(max_length=64, default="")
    details = fields.JSONField[dict[str, Any]](default=dict)

    class Meta:
        table = "audit_log"
        indexes = (("subject_type", "subject_id"), ("action", "at"))

    async def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._saved_in_db:
            await super().save(*args, **kwargs)
            return
        raise PermissionError("the audit log is append-only: an entry cannot be changed")

    async def delete(self, *args: Any, **kwargs: Any) -> None:
        raise PermissionError("the audit log is append-only: an entry cannot be removed")


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
