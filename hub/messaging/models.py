"""Messages as stored: what a sender writes (audience, reply slip), the notices (one per guardian), their
deliveries (the queue, the history and the report are that one table), acknowledgements, slip responses,
reply threads and attachments.

One Tortoise app (``models``) over every package's models, one migration history (``hub/store/migrations``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tortoise import fields
from tortoise.models import Model

from hub.enums import (
    ActorKind,
    AnswerMode,
    AudienceKind,
    Category,
    Channel,
    DeliveryPurpose,
    DeliveryState,
    ErrorKind,
    MessageState,
    QuestionKind,
    Urgency,
)

if TYPE_CHECKING:
    from hub.people.models import Contact, Group, Guardian, Pupil, School, Staff


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
    #: Whether the guardians of the audience's pupils get notices (false for a message to the pupils only).
    to_families = fields.BooleanField(default=True, db_default=True)
    #: Whether the audience's pupils read it on their own page (the portal only: pupils have no contacts).
    to_pupils = fields.BooleanField(default=False, db_default=False)

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
    # When a person first read it: the portal's page, or on the personal link an action or the page's signal
    # that it was displayed (hub.messaging.notice_page). The read counts come from this alone.
    first_read_at = fields.DatetimeField(null=True)
    # Shown apart from reading; it stops nothing that waits for a read (hub.messaging.notice_page).
    #: When the personal link was first fetched: by a person, or by a mail provider's link scanner.
    opened_at = fields.DatetimeField(null=True)
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
        indexes = (("pupil_id",),)  # the notices naming a pupil (the delivery report's notes)


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
    # How an answer on the web came, which ``channel`` (the portal's) does not tell: "link" (the personal link,
    # no sign-in), else "" (the portal, or the channel itself: SMS, Telegram, paper).
    via = fields.CharField(max_length=16, default="")
    #: A secretary who typed in a paper slip.
    recorded_by: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    recorded_by_id: int | None
    at = fields.DatetimeField()

    class Meta:
        table = "slip_response"
        unique_together = (("slip", "guardian", "pupil"),)


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


class MessageVersion(Model):
    """The message in another language than the school's (``Message`` holds the school's own text): what the
    guardians reading that language get on every channel. ``machine`` marks a machine translation's draft kept by
    the author, which the family is told of."""

    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="versions", on_delete=fields.CASCADE
    )
    message_id: int
    language = fields.CharField(max_length=2)
    subject = fields.CharField(max_length=200)
    body = fields.TextField()
    #: The slip's questions in this language, by position: ``[{"text": ..., "choices": [...]}, ...]``.
    questions = fields.JSONField[list[dict[str, Any]]](default=list)
    machine = fields.BooleanField(default=False)

    class Meta:
        table = "message_version"
        unique_together = (("message_id", "language"),)
