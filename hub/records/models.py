"""The school records messages report on: grades, report cards, absences, the class journal.

One Tortoise app (``models``) over every package's models, one migration history (``hub/store/migrations``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from hub.enums import (
    AbsenceReason,
    JournalKind,
)

if TYPE_CHECKING:
    from hub.messaging.models import Message
    from hub.people.models import Group, Guardian, Pupil, School, Staff


class Register(Model):
    """One call of the register: a class or course, a day, a lesson period, taken by a member of staff. The
    pupils marked absent or late are its absences; the others were present."""

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="registers", on_delete=fields.CASCADE
    )
    group_id: int
    on_date = fields.DateField()
    #: The lesson period of the day (1 is the first), as in the school's timetable.
    period = fields.SmallIntField()
    taken_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    taken_by_id: int | None
    taken_at = fields.DatetimeField()

    class Meta:
        table = "register"
        unique_together = (("group", "on_date", "period"),)


class Evaluation(Model):
    """A test or a piece of work of one course (a class or a course group): its grades belong to it."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField(
        "models.School", related_name=False, on_delete=fields.CASCADE
    )
    school_id: int
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="evaluations", on_delete=fields.CASCADE
    )
    group_id: int
    teacher: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    teacher_id: int | None
    subject = fields.CharField(max_length=100)
    title = fields.CharField(max_length=200)
    term = fields.CharField(max_length=20)
    assessed_on = fields.DateField()
    #: The scale: a score is out of this (10, 20, 100).
    max_score = fields.DecimalField(max_digits=6, decimal_places=2)
    #: The weight in the average of the course for the term.
    weight = fields.DecimalField(max_digits=5, decimal_places=2, default=1)
    #: Nobody outside the staff sees its grades before it is published.
    published_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    grades: fields.ReverseRelation[Grade]

    class Meta:
        table = "evaluation"


class Grade(Model):
    id = fields.IntField(primary_key=True)
    #: The evaluation this score belongs to (None for grades recorded before evaluations existed).
    evaluation: fields.ForeignKeyNullableRelation[Evaluation] = fields.ForeignKeyField(
        "models.Evaluation", related_name="grades", null=True, on_delete=fields.CASCADE
    )
    evaluation_id: int | None
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="grades", on_delete=fields.CASCADE
    )
    pupil_id: int
    teacher: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    teacher_id: int | None
    subject = fields.CharField(max_length=100)
    title = fields.CharField(max_length=200)
    term = fields.CharField(max_length=20)
    score = fields.DecimalField(max_digits=6, decimal_places=2, null=True)
    max_score = fields.DecimalField(max_digits=6, decimal_places=2)
    comment = fields.TextField(default="")
    assessed_on = fields.DateField()
    #: Families see a grade only once it is published.
    published_at = fields.DatetimeField(null=True)
    #: When the weekly grades notice told the families of it (None: not yet, or the school sends none).
    family_notified_at = fields.DatetimeField(null=True)

    class Meta:
        table = "grade"


class ReportCard(Model):
    id = fields.IntField(primary_key=True)
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="report_cards", on_delete=fields.CASCADE
    )
    pupil_id: int
    school_year = fields.CharField(max_length=9)
    term = fields.CharField(max_length=20)
    #: {subject: {"score": .., "max": .., "comment": ..}}
    results = fields.JSONField[dict[str, Any]](default=dict)
    general_comment = fields.TextField(default="")
    published_at = fields.DatetimeField(null=True)

    class Meta:
        table = "report_card"
        unique_together = (("pupil", "school_year", "term"),)


class Absence(Model):
    id = fields.IntField(primary_key=True)
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="absences", on_delete=fields.CASCADE
    )
    pupil_id: int
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    reason = fields.CharEnumField(AbsenceReason, default=AbsenceReason.UNKNOWN)
    justified = fields.BooleanField(default=False)
    note = fields.TextField(default="")
    recorded_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    recorded_by_id: int | None
    #: The message that told the family, if one was sent.
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    message_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)
    #: The register call that recorded it (none for an absence recorded otherwise, e.g. imported).
    register: fields.ForeignKeyNullableRelation[Register] = fields.ForeignKeyField(
        "models.Register", related_name="absences", null=True, on_delete=fields.CASCADE
    )
    register_id: int | None
    #: Arrived late: counted apart, never a half-day of absence, no notice to the family.
    late = fields.BooleanField(default=False, db_default=False)
    #: When the justification was recorded, and how (a reply slip's channel, or "office" for a paper note).
    justified_at = fields.DatetimeField(null=True)
    justified_via = fields.CharField(max_length=20, default="", db_default="")

    class Meta:
        table = "absence"


class JournalEntry(Model):
    """The class diary: what was done, homework, tests."""

    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="journal", on_delete=fields.CASCADE
    )
    group_id: int
    author: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    author_id: int | None
    kind = fields.CharEnumField(JournalKind)
    subject = fields.CharField(max_length=100)
    text = fields.TextField()
    on_date = fields.DateField()
    #: For homework and tests: the day it is due.
    due_on = fields.DateField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "journal_entry"


class JournalDigest(Model):
    """The weekly digest of coming homework and tests sent to one guardian for one week: at most one (the worker
    may pass many times, several workers at once)."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name=False, on_delete=fields.CASCADE
    )
    guardian_id: int
    #: The Monday of the week the digest was sent in.
    week_start = fields.DateField()
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    message_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "journal_digest"
        unique_together = (("guardian", "week_start"),)


class CalendarFeed(Model):
    """A private calendar feed (iCalendar): the secret of its address, for one guardian or one pupil. A new one
    replaces the old (revoked)."""

    id = fields.IntField(primary_key=True)
    #: SHA-256 of the secret in the address: the database never holds the secret itself.
    token_hash = fields.CharField(max_length=64, unique=True)
    guardian: fields.ForeignKeyNullableRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name=False, null=True, on_delete=fields.CASCADE
    )
    guardian_id: int | None
    pupil: fields.ForeignKeyNullableRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name=False, null=True, on_delete=fields.CASCADE
    )
    pupil_id: int | None
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "calendar_feed"
