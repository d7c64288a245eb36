"""The whole domain of Carnet as Tortoise ORM models.

Later features add behaviour in ``hub/`` modules over these rows, never a second model. The rules themselves
(who may receive, what a plan is) live in plain functions over plain values (``hub/rules.py``) so they test
without a database; these classes only store.

Conventions: every table is named explicitly (migrations and raw SQL name them); times are stored aware, in UTC;
``external_id`` is the identifier from the school's own enrolment software, the key a roster import matches on.
"""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from hub.enums import (
    AbsenceReason,
    ActorKind,
    AnswerMode,
    AudienceKind,
    Category,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryPurpose,
    DeliveryState,
    ErrorKind,
    GroupKind,
    JournalKind,
    Language,
    LinkPurpose,
    MessageState,
    QuestionKind,
    Relation,
    StaffRole,
    Urgency,
)


class School(Model):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    #: The IANA zone every local time of the school (quiet hours, deadlines) is read in.
    timezone = fields.CharField(max_length=64, default="Europe/Brussels")
    default_language = fields.CharEnumField(Language, default=Language.FR)
    address = fields.TextField(default="")
    #: The school year the roster describes, e.g. "2026-2027".
    school_year = fields.CharField(max_length=9, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "school"

    def __str__(self) -> str:
        return self.name


class Staff(Model):
    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="staff")
    school_id: int
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    email = fields.CharField(max_length=254, unique=True)
    language = fields.CharEnumField(Language, default=Language.FR)
    #: argon2 hash, empty until the member sets a password.
    password_hash = fields.CharField(max_length=255, default="")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    roles: fields.ReverseRelation[StaffRoleGrant]
    teachings: fields.ReverseRelation[Teaching]

    class Meta:
        table = "staff"

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class StaffRoleGrant(Model):
    """One role of one staff member: a member may be teacher and principal."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="roles", on_delete=fields.CASCADE
    )
    staff_id: int
    role = fields.CharEnumField(StaffRole)
    granted_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "staff_role"
        unique_together = (("staff", "role"),)


class Group(Model):
    """A class, a course, a level or the whole school: whatever a message can be addressed to."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="groups")
    school_id: int
    kind = fields.CharEnumField(GroupKind)
    #: Short, unique per school and kind: "3B", "LAT3", "3".
    code = fields.CharField(max_length=50)
    name = fields.CharField(max_length=200)
    #: A class belongs to its level, a level to the school group.
    parent: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="children", null=True, on_delete=fields.SET_NULL
    )
    parent_id: int | None

    memberships: fields.ReverseRelation[Membership]

    class Meta:
        table = "pupil_group"
        unique_together = (("school", "kind", "code"),)

    def __str__(self) -> str:
        return self.name


class Pupil(Model):
    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="pupils")
    school_id: int
    external_id = fields.CharField(max_length=64)
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    birth_date = fields.DateField(null=True)
    #: A pupil who left keeps their history but receives nothing.
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    memberships: fields.ReverseRelation[Membership]
    guardianships: fields.ReverseRelation[Guardianship]

    class Meta:
        table = "pupil"
        unique_together = (("school", "external_id"),)

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Membership(Model):
    id = fields.IntField(primary_key=True)
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="memberships", on_delete=fields.CASCADE
    )
    group_id: int
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="memberships", on_delete=fields.CASCADE
    )
    pupil_id: int

    class Meta:
        table = "membership"
        unique_together = (("group", "pupil"),)


class Teaching(Model):
    """A staff member teaches a class or a course: what they may write to and read about."""

    id = fields.IntField(primary_key=True)
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="teachings", on_delete=fields.CASCADE
    )
    staff_id: int
    group: fields.ForeignKeyRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name="teachings", on_delete=fields.CASCADE
    )
    group_id: int
    subject = fields.CharField(max_length=100, default="")
    #: The class teacher (titulaire) of a class.
    is_titular = fields.BooleanField(default=False)

    class Meta:
        table = "teaching"
        unique_together = (("staff", "group", "subject"),)


class Household(Model):
    """The guardians living together. Separated parents are two households, each with its own copy of a letter."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="households")
    school_id: int
    external_id = fields.CharField(max_length=64)
    #: The postal address a printed letter goes to.
    street = fields.CharField(max_length=200, default="")
    postal_code = fields.CharField(max_length=16, default="")
    city = fields.CharField(max_length=100, default="")
    country = fields.CharField(max_length=2, default="BE")

    class Meta:
        table = "household"
        unique_together = (("school", "external_id"),)


class Guardian(Model):
    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="guardians")
    school_id: int
    external_id = fields.CharField(max_length=64)
    first_name = fields.CharField(max_length=100)
    last_name = fields.CharField(max_length=100)
    language = fields.CharEnumField(Language, default=Language.FR)
    household: fields.ForeignKeyNullableRelation[Household] = fields.ForeignKeyField(
        "models.Household", related_name="guardians", null=True, on_delete=fields.SET_NULL
    )
    household_id: int | None
    #: The guardian's own postal address (falls back to the household's).
    street = fields.CharField(max_length=200, default="")
    postal_code = fields.CharField(max_length=16, default="")
    city = fields.CharField(max_length=100, default="")
    country = fields.CharField(max_length=2, default="BE")
    password_hash = fields.CharField(max_length=255, default="")
    #: When the guardian confirmed their contacts through the welcome letter.
    onboarded_at = fields.DatetimeField(null=True)
    #: The guardian's own quiet hours (local time, may cross midnight): non-urgent messages wait until they end.
    quiet_from = fields.TimeField(null=True)
    quiet_until = fields.TimeField(null=True)
    #: Set by a GDPR erasure: the row stays for the history's integrity, the personal data is gone.
    erased_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    contacts: fields.ReverseRelation[Contact]
    guardianships: fields.ReverseRelation[Guardianship]
    consents: fields.ReverseRelation[Consent]
    preferences: fields.ReverseRelation[ChannelPreference]

    class Meta:
        table = "guardian"
        unique_together = (("school", "external_id"),)

    def __str__(self) -> str:
        return f"{self.first_name} {self.last_name}"


class Contact(Model):
    """One way to reach a guardian. Unverified contacts are kept but the router does not use them."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="contacts", on_delete=fields.CASCADE
    )
    guardian_id: int
    kind = fields.CharEnumField(ContactKind)
    #: An email, an E.164 phone number, a Telegram chat id, an FCM token, or a push subscription as JSON.
    value = fields.CharField(max_length=2048)
    verified = fields.BooleanField(default=False)
    verified_at = fields.DatetimeField(null=True)
    #: A channel reported this contact dead (bounce, unknown number, 410 Gone): the router skips it.
    dead_at = fields.DatetimeField(null=True)
    dead_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contact"
        unique_together = (("guardian", "kind", "value"),)


class Guardianship(Model):
    """Pupil <-> guardian, with the relation and the rights a court or the family decided."""

    id = fields.IntField(primary_key=True)
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="guardianships", on_delete=fields.CASCADE
    )
    pupil_id: int
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="guardianships", on_delete=fields.CASCADE
    )
    guardian_id: int
    relation = fields.CharEnumField(Relation)
    #: The household this link belongs to: a step-parent lives in one parent's household.
    household: fields.ForeignKeyNullableRelation[Household] = fields.ForeignKeyField(
        "models.Household", related_name="guardianships", null=True, on_delete=fields.SET_NULL
    )
    household_id: int | None
    receives = fields.BooleanField(default=True)  #: receives the school's messages about this pupil
    may_answer = fields.BooleanField(default=True)  #: may answer reply slips and sign for this pupil
    #: A court order bars this guardian: nothing about this pupil reaches them, whatever else says.
    barred = fields.BooleanField(default=False)
    barred_reason = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "guardianship"
        unique_together = (("pupil", "guardian"),)


class Consent(Model):
    """A guardian's yes to one purpose. Withdrawal sets ``withdrawn_at``, a new yes is a new row: the history stays."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="consents", on_delete=fields.CASCADE
    )
    guardian_id: int
    purpose = fields.CharEnumField(ConsentPurpose)
    #: The version of the text the guardian agreed to (the charter's or the privacy notice's).
    version = fields.CharField(max_length=32)
    given_at = fields.DatetimeField()
    source = fields.CharEnumField(ConsentSource)
    withdrawn_at = fields.DatetimeField(null=True)
    withdrawn_source = fields.CharField(max_length=16, default="")

    class Meta:
        table = "consent"
        indexes = (("guardian_id", "purpose"),)


class ChannelPreference(Model):
    """The guardian's order of channels: rank 1 is tried first."""

    id = fields.IntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="preferences", on_delete=fields.CASCADE
    )
    guardian_id: int
    channel = fields.CharEnumField(Channel)
    rank = fields.SmallIntField()
    enabled = fields.BooleanField(default=True)

    class Meta:
        table = "channel_preference"
        unique_together = (("guardian", "channel"),)


class Message(Model):
    """What a sender writes once. Publishing turns it into notices (one per guardian) and deliveries."""

    id = fields.IntField(primary_key=True)
    school: fields.ForeignKeyRelation[School] = fields.ForeignKeyField("models.School", related_name="messages")
    school_id: int
    author: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField("models.Staff", related_name="messages")
    author_id: int
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    urgency = fields.CharEnumField(Urgency, default=Urgency.NORMAL)
    #: Why an emergency bypassed the charter, required when urgency is emergency (written to the audit log).
    urgency_reason = fields.TextField(default="")
    category = fields.CharEnumField(Category, default=Category.INFORMATION)
    needs_acknowledgement = fields.BooleanField(default=False)
    #: When the sender wants it to go out, null means as soon as the charter allows.
    scheduled_at = fields.DatetimeField(null=True)
    state = fields.CharEnumField(MessageState, default=MessageState.DRAFT)
    published_at = fields.DatetimeField(null=True)
    #: How long an unacknowledged step waits before the next one is tried, null means the urgency's default.
    escalation_wait_minutes = fields.IntField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    audience: fields.ReverseRelation[MessageAudience]
    notices: fields.ReverseRelation[Notice]

    class Meta:
        table = "message"


class MessageAudience(Model):
    """One term of a message's audience, the audience is the union of its terms."""

    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="audience", on_delete=fields.CASCADE
    )
    message_id: int
    kind = fields.CharEnumField(AudienceKind)
    pupil: fields.ForeignKeyNullableRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name=False, null=True, on_delete=fields.CASCADE
    )
    pupil_id: int | None
    group: fields.ForeignKeyNullableRelation[Group] = fields.ForeignKeyField(
        "models.Group", related_name=False, null=True, on_delete=fields.CASCADE
    )
    group_id: int | None

    class Meta:
        table = "message_audience"


class ReplySlip(Model):
    """The paper *talon*: questions to answer by a deadline, with reminders."""

    id = fields.IntField(primary_key=True)
    message: fields.OneToOneRelation[Message] = fields.OneToOneField(
        "models.Message", related_name="slip", on_delete=fields.CASCADE
    )
    message_id: int
    deadline = fields.DatetimeField()
    answer_mode = fields.CharEnumField(AnswerMode, default=AnswerMode.ONE_PER_PUPIL)
    needs_signature = fields.BooleanField(default=False)
    #: Hours before the deadline at which unanswered guardians are reminded, e.g. [72, 24].
    reminder_hours = fields.JSONField[list[int]](default=list)

    questions: fields.ReverseRelation[SlipQuestion]

    class Meta:
        table = "reply_slip"


class SlipQuestion(Model):
    id = fields.IntField(primary_key=True)
    slip: fields.ForeignKeyRelation[ReplySlip] = fields.ForeignKeyField(
        "models.ReplySlip", related_name="questions", on_delete=fields.CASCADE
    )
    slip_id: int
    position = fields.SmallIntField()
    kind = fields.CharEnumField(QuestionKind)
    text = fields.TextField()
    #: The options of a one-choice or several-choices question.
    choices = fields.JSONField[list[str]](default=list)
    required = fields.BooleanField(default=True)
    #: For an amount: the unit price in euro cents (e.g. a ticket), if the answer is a count times a price.
    unit_price_cents = fields.IntField(null=True)

    class Meta:
        table = "slip_question"
        unique_together = (("slip", "position"),)


class Notice(Model):
    """One message for one guardian, naming the pupils it concerns (three children: one notice)."""

    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="notices", on_delete=fields.CASCADE
    )
    message_id: int
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="notices", on_delete=fields.CASCADE
    )
    guardian_id: int
    #: The secret of the guardian's personal link to this notice.
    token = fields.CharField(max_length=64, unique=True)
    #: The ordered channel plan chosen by the router, e.g. ["telegram", "email", "letter"].
    plan = fields.JSONField[list[str]](default=list)
    first_read_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    pupils: fields.ReverseRelation[NoticePupil]
    deliveries: fields.ReverseRelation[Delivery]

    class Meta:
        table = "notice"
        unique_together = (("message", "guardian"),)


class NoticePupil(Model):
    id = fields.IntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="pupils", on_delete=fields.CASCADE
    )
    notice_id: int
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="notice_links", on_delete=fields.CASCADE
    )
    pupil_id: int

    class Meta:
        table = "notice_pupil"
        unique_together = (("notice", "pupil"),)


class Delivery(Model):
    """One notice on one channel: the queue, the history and the report are this one table."""

    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="deliveries", on_delete=fields.CASCADE
    )
    notice_id: int
    channel = fields.CharEnumField(Channel)
    #: Index in the notice's plan: 0 is the first channel tried.
    step = fields.SmallIntField(default=0)
    purpose = fields.CharEnumField(DeliveryPurpose, default=DeliveryPurpose.INITIAL)
    state = fields.CharEnumField(DeliveryState, default=DeliveryState.PLANNED)
    #: The contact used (null for the portal and the letter).
    contact: fields.ForeignKeyNullableRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="deliveries", null=True, on_delete=fields.SET_NULL
    )
    contact_id: int | None
    due_at = fields.DatetimeField()
    attempts = fields.SmallIntField(default=0)
    #: The worker holding the delivery and until when, an expired lease may be reclaimed.
    claimed_by = fields.CharField(max_length=100, default="")
    lease_until = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    delivered_at = fields.DatetimeField(null=True)
    provider_id = fields.CharField(max_length=200, default="")
    #: What the provider charged, in euro (SMS segments times the price), and the segments it took.
    cost = fields.DecimalField(max_digits=10, decimal_places=4, default=0)
    segments = fields.SmallIntField(default=0)
    error = fields.TextField(default="")
    error_kind = fields.CharEnumField(ErrorKind, null=True)
    #: Deliveries held by the daily limit share a key (guardian, channel, local day) and go as one message.
    digest_key = fields.CharField(max_length=64, default="", db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "delivery"
        indexes = (("state", "due_at"), ("notice_id", "step"))


class RateWindow(Model):
    """A provider's sending limit shared by every worker (PostgreSQL): messages taken in one second per channel."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=16)
    #: The start of the one-second window (truncated to the second, database time).
    window_start = fields.DatetimeField()
    #: Slots taken in that window, counted past the limit too (those senders wait for the next second).
    count = fields.IntField(default=0)

    class Meta:
        table = "rate_window"
        unique_together = (("channel", "window_start"),)


class Acknowledgement(Model):
    """The guardian says "I have read" (from any channel)."""

    id = fields.IntField(primary_key=True)
    notice: fields.OneToOneRelation[Notice] = fields.OneToOneField(
        "models.Notice", related_name="acknowledgement", on_delete=fields.CASCADE
    )
    notice_id: int
    at = fields.DatetimeField()
    channel = fields.CharEnumField(Channel)

    class Meta:
        table = "acknowledgement"


class SlipResponse(Model):
    """One guardian's answers to a reply slip for one pupil."""

    id = fields.IntField(primary_key=True)
    slip: fields.ForeignKeyRelation[ReplySlip] = fields.ForeignKeyField(
        "models.ReplySlip", related_name="responses", on_delete=fields.CASCADE
    )
    slip_id: int
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="responses", on_delete=fields.CASCADE
    )
    notice_id: int
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="responses", on_delete=fields.CASCADE
    )
    guardian_id: int
    pupil: fields.ForeignKeyRelation[Pupil] = fields.ForeignKeyField(
        "models.Pupil", related_name="responses", on_delete=fields.CASCADE
    )
    pupil_id: int
    #: {question position: answer}
    answers = fields.JSONField[dict[str, Any]](default=dict)
    signed_name = fields.CharField(max_length=200, default="")
    channel = fields.CharEnumField(Channel)
    #: A secretary who typed in a paper slip.
    recorded_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    recorded_by_id: int | None
    at = fields.DatetimeField()

    class Meta:
        table = "slip_response"
        unique_together = (("slip", "guardian", "pupil"),)


class Grade(Model):
    id = fields.IntField(primary_key=True)
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


# --------------------------------------------------------------------------------------------- the web app


class WebSession(Model):
    """A signed-in browser. The cookie holds a random token, this row only its SHA-256 (a stolen table signs
    nobody in). A session ends at ``expires_at``, when idle too long, or when revoked (sign-out)."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    actor_kind = fields.CharEnumField(ActorKind)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    staff_id: int | None
    guardian: fields.ForeignKeyNullableRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="sessions", null=True, on_delete=fields.CASCADE
    )
    guardian_id: int | None
    #: The token every form of this session carries (double-submit is not enough against a sibling subdomain).
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    last_seen_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    user_agent = fields.CharField(max_length=300, default="")

    class Meta:
        table = "web_session"


class SignInLink(Model):
    """A personal sign-in link for a guardian: random, expiring, single use, bound to that guardian. The link
    holds the token, this row its SHA-256. Welcome letters carry an onboarding link that lives longer."""

    id = fields.BigIntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="sign_in_links", on_delete=fields.CASCADE
    )
    guardian_id: int
    purpose = fields.CharEnumField(LinkPurpose, default=LinkPurpose.SIGN_IN)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_in_link"


class Throttle(Model):
    """Attempts per key (e.g. sign-in per address, link requests per email) in a fixed window, shared by every
    process: the rate limit of sign-in and of personal-link requests."""

    id = fields.BigIntField(primary_key=True)
    key = fields.CharField(max_length=200)
    window_start = fields.DatetimeField()
    count = fields.IntField(default=0)

    class Meta:
        table = "throttle"
        unique_together = (("key", "window_start"),)


class VerificationCode(Model):
    """A code sent to a new email or phone: the contact is verified when the guardian types it back."""

    id = fields.BigIntField(primary_key=True)
    guardian: fields.ForeignKeyRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="verification_codes", on_delete=fields.CASCADE
    )
    guardian_id: int
    contact: fields.ForeignKeyRelation[Contact] = fields.ForeignKeyField(
        "models.Contact", related_name="verification_codes", on_delete=fields.CASCADE
    )
    contact_id: int
    code_hash = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    attempts = fields.SmallIntField(default=0)
    used_at = fields.DatetimeField(null=True)

    class Meta:
        table = "verification_code"


class ThreadPost(Model):
    """One post in the reply thread of a notice: private to that guardian's household, read by the sender and
    the class's teachers. A free-text SMS or Telegram reply lands here too, with its channel."""

    id = fields.BigIntField(primary_key=True)
    notice: fields.ForeignKeyRelation[Notice] = fields.ForeignKeyField(
        "models.Notice", related_name="posts", on_delete=fields.CASCADE
    )
    notice_id: int
    author_kind = fields.CharEnumField(ActorKind)
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="posts", null=True, on_delete=fields.SET_NULL
    )
    staff_id: int | None
    guardian: fields.ForeignKeyNullableRelation[Guardian] = fields.ForeignKeyField(
        "models.Guardian", related_name="posts", null=True, on_delete=fields.SET_NULL
    )
    guardian_id: int | None
    body = fields.TextField()
    channel = fields.CharEnumField(Channel, default=Channel.PORTAL)
    at = fields.DatetimeField()
    #: When a member of staff first read a guardian's post.
    read_at = fields.DatetimeField(null=True)
    #: When staff were told of this guardian's post (only inside their charter hours).
    staff_notified_at = fields.DatetimeField(null=True)
    #: When the family was emailed of this staff answer (held to the charter's hours and their quiet hours).
    family_notified_at = fields.DatetimeField(null=True)

    class Meta:
        table = "thread_post"
        indexes = (("notice_id", "at"),)


class Attachment(Model):
    """A file joined to a message (a permission form, a menu), stored in the database with its checksum."""

    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="attachments", on_delete=fields.CASCADE
    )
    message_id: int
    filename = fields.CharField(max_length=255)
    content_type = fields.CharField(max_length=100)
    size = fields.IntField()
    sha256 = fields.CharField(max_length=64)
    data = fields.BinaryField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "attachment"
