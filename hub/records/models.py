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
    from hub.people.models import Group, Pupil, School, Staff


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
