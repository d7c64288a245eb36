"""The delivery report's summary: per-message tallies kept beside the queue, each the sum of its notices' lines,
refreshed from what changed.

Triggers in the database (migrations ``0016_report_counters``, ``0017_report_notice_lines``) note in
``report_dirty`` every notice whose deliveries, acknowledgement, answers (and the answers for the same pupil, when
one answer per pupil counts for every notice naming them) or pupils changed, and every whole message whose notices
were created or whose slip, acknowledgement or times changed, by any path (the ORM, raw SQL, a bulk insert), and
in ``report_roster`` every pupil whose classes changed. Before it reads, the report recomputes the lines of the
notices noted since its last reading and moves the tallies by the difference (:mod:`hub.reports.tally`), so what
it shows is what the tables hold at that moment, while a reading costs the notices that changed, not the size of
their messages nor the deliveries of the year.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from hub.messaging.models import Message


class ReportDirty(Model):
    """A notice whose tally lines are out of date, or a whole message (noted by the triggers, taken by the next
    report).

    Not unique: on PostgreSQL each transaction adds its own note, so that a report only takes the notes of
    transactions committed when it starts, and a writer never waits for another writer or for a report."""

    id = fields.BigIntField(primary_key=True)
    message_id = fields.IntField()
    #: The notice whose lines moved, or none: every notice of the message (its slip, acknowledgement or times moved).
    notice_id = fields.IntField(null=True)

    class Meta:
        table = "report_dirty"
        indexes = (("message_id", "notice_id"),)


class ReportRoster(Model):
    """A pupil whose memberships changed: the class lines of the messages naming them are out of date."""

    id = fields.BigIntField(primary_key=True)
    pupil_id = fields.IntField()

    class Meta:
        table = "report_roster"


class ReportTally(Model):
    """One line of one message's figures. ``part`` says which: ``notices`` (the funnel), ``channel`` (a channel,
    state and error kind), ``first`` (notices a channel reached first), ``failure`` (an error's first words),
    ``class`` (the notices naming a pupil of a group) or ``sms`` (the SMS handed over in a quarter of an hour)."""

    id = fields.BigIntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name=False, on_delete=fields.CASCADE
    )
    message_id: int
    part = fields.CharField(max_length=16)
    channel = fields.CharField(max_length=16, default="")
    state = fields.CharField(max_length=16, default="")
    #: The error kind of a channel line, the error's first words of a failure line.
    label = fields.TextField(default="")
    #: The group of a class line, 0 on the others (any kind: the report keeps the classes when it reads).
    group_id = fields.IntField(default=0, db_default=0)
    #: An SMS line's quarter of an hour since 1970, UTC (every time zone's midnight is one), 0 on the others.
    bucket = fields.IntField(default=0, db_default=0)
    n = fields.IntField(default=0)
    sent = fields.IntField(default=0)
    delivered = fields.IntField(default=0)
    is_read = fields.IntField(default=0)
    ack_asked = fields.IntField(default=0)
    acked = fields.IntField(default=0)
    slip_asked = fields.IntField(default=0)
    answered = fields.IntField(default=0)
    portal_first = fields.IntField(default=0)
    opened_only = fields.IntField(default=0)
    segments = fields.IntField(default=0)
    cost = fields.DecimalField(max_digits=14, decimal_places=4, default=0)

    class Meta:
        table = "report_tally"
        #: A line's key: the lines of the notices that changed are added to it (an upsert), on both databases.
        unique_together = (("message", "part", "channel", "state", "label", "group_id", "bucket"),)


class ReportNoticeLine(Model):
    """One notice's part of one line of its message's tally (same key and figures as :class:`ReportTally`): the
    tally line is the sum of its notices' lines, so a notice that changed takes its old lines away and adds its
    new ones. Not tied to the notice: a deleted notice's lines are taken away by the refresh its deletion noted."""

    id = fields.BigIntField(primary_key=True)
    notice_id = fields.IntField(db_index=True)
    #: Not a foreign key (checking one costs a third of writing a message's lines): the lines of a deleted message
    #: go at the next refresh, which its notices' deletion noted.
    message_id = fields.IntField()
    part = fields.CharField(max_length=16)
    channel = fields.CharField(max_length=16, default="")
    state = fields.CharField(max_length=16, default="")
    label = fields.TextField(default="")
    group_id = fields.IntField(default=0)
    bucket = fields.IntField(default=0)
    n = fields.IntField(default=0)
    sent = fields.IntField(default=0)
    delivered = fields.IntField(default=0)
    is_read = fields.IntField(default=0)
    ack_asked = fields.IntField(default=0)
    acked = fields.IntField(default=0)
    slip_asked = fields.IntField(default=0)
    answered = fields.IntField(default=0)
    portal_first = fields.IntField(default=0)
    opened_only = fields.IntField(default=0)
    segments = fields.IntField(default=0)
    cost = fields.DecimalField(max_digits=14, decimal_places=4, default=0)

    class Meta:
        table = "report_notice_line"
        indexes = (("message_id",),)


class ReportPending(Model):
    """A notice no channel reached yet, with what decides, at any moment, why (:data:`WAITING_REASONS`)."""

    notice_id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name=False, on_delete=fields.CASCADE
    )
    message_id: int
    #: The message's, so that the families are listed in its order from an index (keyset pagination).
    published_at = fields.DatetimeField(null=True)
    #: Its deliveries other than the inbox and the reminders.
    steps = fields.IntField(default=0)
    #: A letter for the print queue whatever the time (due, or held with no time chosen by the sender).
    letter_always = fields.BooleanField(default=False)
    #: From when a letter is for the print queue (held or planned ones).
    letter_at = fields.DatetimeField(null=True)
    #: A delivery due now whatever the time (due or being sent).
    due_always = fields.BooleanField(default=False)
    #: The first time one of its held or planned deliveries goes out.
    due_at = fields.DatetimeField(null=True)

    class Meta:
        table = "report_pending"
        indexes = (("published_at", "notice_id"),)
