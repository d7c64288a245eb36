"""What a real school's setting up stores beside the people: its data-protection officer, the enrolment software's
ids of its staff, the staff's one-time sign-in links, and which administrator has seen which access recovery.

Kept apart from :mod:`hub.people.models` (the rows every page reads) so the school's setting up has its own room.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class SchoolProfile(Model):
    """What the school declares once, at ``carnet school init``, that the pages and letters do not need each day:
    the data-protection officer families write to (GDPR art. 37-39)."""

    id = fields.IntField(primary_key=True)
    school: fields.OneToOneRelation[Model] = fields.OneToOneField(
        "models.School", related_name="profile", on_delete=fields.CASCADE
    )
    school_id: int
    dpo_name = fields.CharField(max_length=200)
    dpo_email = fields.CharField(max_length=254)

    class Meta:
        table = "school_profile"


class StaffExternalId(Model):
    """A member of staff as the enrolment software names them: the key the staff import matches on. A member
    created by hand (the first administrators) has none until a staff file names them by their email."""

    id = fields.IntField(primary_key=True)
    staff: fields.OneToOneRelation[Model] = fields.OneToOneField(
        "models.Staff", related_name="external", on_delete=fields.CASCADE
    )
    staff_id: int
    school: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.School", related_name="staff_external_ids", on_delete=fields.CASCADE
    )
    school_id: int
    external_id = fields.CharField(max_length=64)

    class Meta:
        table = "staff_external_id"
        unique_together = (("school", "external_id"),)


class StaffSignInLink(Model):
    """A one-time sign-in link for a member of staff (the first administrators', a recovery's, or one asked for on
    the sign-in page): random, expiring, single use. The link holds the token, this row its SHA-256."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    staff: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Staff", related_name="sign_in_links", on_delete=fields.CASCADE
    )
    staff_id: int
    #: setup, recovery or sign_in: what made it (and how long it lives).
    purpose = fields.CharField(max_length=16)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff_sign_in_link"


class AdminNoticeSeen(Model):
    """An administrator saw the banner of one access recovery (an audit entry): it is no longer shown to them."""

    id = fields.BigIntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.Staff", related_name="notices_seen", on_delete=fields.CASCADE
    )
    staff_id: int
    entry: fields.ForeignKeyRelation[Model] = fields.ForeignKeyField(
        "models.AuditEntry", related_name="seen_by", on_delete=fields.CASCADE
    )
    entry_id: int
    seen_at = fields.DatetimeField()

    class Meta:
        table = "admin_notice_seen"
        unique_together = (("staff", "entry"),)
