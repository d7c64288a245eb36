"""What the GDPR adds to the school's people as stored: the topics a guardian stopped, each guardian's answer for
a purpose about a pupil (photos, records online), and the school's retention periods.

Kept apart from ``hub.people.models`` so the school's core tables stay readable; same Tortoise app, same migration
history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from hub.enums import ConsentPurpose, ConsentSource, Topic

if TYPE_CHECKING:
    from hub.people.models import Guardian, Pupil, School


class OptOut(Model):
    """A guardian stopped a topic on one channel, or on every channel (``channel`` empty). Resuming deletes the
    row; both are written to the audit log."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="opt_outs", on_delete=fields.CASCADE
    )
    guardian_id: int
    topic = fields.CharEnumField(Topic, max_length=16)
    #: A ``Channel`` value, or "" for every channel (SQL's NULL would not keep the pair unique).
    channel = fields.CharField(max_length=16, default="")
    #: Where the guardian asked: "portal", "sms", "email" (the one-click unsubscribe) or "office".
    source = fields.CharField(max_length=16)
    created_at = fields.DatetimeField()

    class Meta:
        table = "opt_out"
        unique_together = (("guardian", "topic", "channel"),)


class PupilConsent(Model):
    """One guardian's current answer, yes or no, for one purpose about one pupil. Each guardian with the right
    answers for themselves; the pupil's consent is read from all their answers (``hub.people.pupil_consent``).
    Every answer is audited, so the history stays in the log."""

    id = fields.IntField(primary_key=True)
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="consents", on_delete=fields.CASCADE
    )
    pupil_id: int
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="pupil_consents", on_delete=fields.CASCADE
    )
    guardian_id: int
    purpose = fields.CharEnumField(ConsentPurpose, max_length=16)
    granted = fields.BooleanField()
    source = fields.CharEnumField(ConsentSource, max_length=16)
    at = fields.DatetimeField()

    class Meta:
        table = "pupil_consent"
        unique_together = (("pupil", "guardian", "purpose"),)


class RetentionPolicy(Model):
    """How long the school keeps what it sent, in days: the retention job (``hub.privacy.retention``) removes
    what is older. A school without a row keeps the defaults of ``hub.privacy.retention``."""

    id = fields.IntField(primary_key=True)
    school: fields.OneToOneRelation[School] = fields.OneToOneField(
        "models.School", related_name="retention", on_delete=fields.CASCADE
    )
    school_id: int
    deliveries_days = fields.IntField()
    notices_days = fields.IntField()
    threads_days = fields.IntField()
    attachments_days = fields.IntField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "retention_policy"
