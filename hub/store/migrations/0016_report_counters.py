"""The delivery report's summary (hub.reports.models, hub.reports.tally): its tables, and the triggers that note
what changed, so that a report recomputes only the messages whose figures moved since the last one.

The triggers watch every table a figure of the report comes from, whatever writes to it (the ORM, raw SQL, a bulk
insert): a delivery, an acknowledgement, an answer or a pupil of a notice notes the notice's message; a notice or a
reply slip its message; a message itself (published, rescheduled); a membership its pupil (class lines). They run
per row, and an update notes only when a column the report reads changed (a lease renewed notes nothing). Every
message is noted at the upgrade: the first report computes the tallies of the history.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


#: The tables the report's figures come from: what a row notes (``notice``: its notice's message; ``message``: its
#: message; ``self``: the message itself; ``pupil``: the pupil, whose class lines moved), and the columns whose
#: change moves a figure (an update of any other column, a lease renewed, an attempt counted, notes nothing).
WATCHED = [
    ("delivery", "notice", ("notice_id", "channel", "state", "purpose", "error_kind", "error", "cost", "segments",
                            "sent_at", "due_at")),
    ("acknowledgement", "notice", ("notice_id",)),
    ("slip_response", "notice", ("notice_id", "slip_id", "pupil_id")),
    ("notice_pupil", "notice", ("notice_id", "pupil_id")),
    ("notice", "message", ("message_id", "first_read_at", "opened_at")),
    ("reply_slip", "message", ("message_id", "answer_mode")),
    ("membership", "pupil", ("pupil_id", "group_id")),
]
#: The message itself: its school, its period, whether it asks for an acknowledgement, the sender's time.
MESSAGE_COLUMNS = ("school_id", "published_at", "needs_acknowledgement", "scheduled_at")
EVENTS = ("INSERT", "UPDATE", "DELETE")

_NOTE = {
    # What a row notes, ``{row}`` being NEW or OLD: (the message or pupil, the table of notes).
    "notice": ("(SELECT message_id FROM notice WHERE id = {row}.notice_id)", "report_dirty", "message_id"),
    "message": ("{row}.message_id", "report_dirty", "message_id"),
    "self": ("{row}.id", "report_dirty", "message_id"),
    "pupil": ("{row}.pupil_id", "report_roster", "pupil_id"),
}


def _watched():
    for table, through, columns in WATCHED:
        for event in EVENTS:
            yield table, through, event, columns
    yield "message", "self", "UPDATE", MESSAGE_COLUMNS


def _changed(columns, distinct):
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


def _postgres():
    # A plain insert (no unique key, so no writer waits for another or for a report), once per transaction and
    # message: the transaction's last note is remembered in a transaction-local setting. A report takes only the
    # notes it sees committed, so a transaction's changes are all committed before its note is taken.
    statements = []
    for through, (value, table, column) in _NOTE.items():
        for row in ("NEW", "OLD"):
            statements.append(
                f"CREATE FUNCTION report_note_{through}_{row.lower()}() RETURNS trigger AS $$ "
                f"DECLARE noted integer := {value.format(row=row)}; BEGIN "
                f"IF noted IS NOT NULL AND noted::text IS DISTINCT FROM "
                f"current_setting('carnet.{table}', true) THEN "
                f"INSERT INTO {table} ({column}) VALUES (noted); "
                f"PERFORM set_config('carnet.{table}', noted::text, true); "
                f"END IF; RETURN NULL; END; $$ LANGUAGE plpgsql"
            )
    for table, through, event, columns in _watched():
        row = "OLD" if event == "DELETE" else "NEW"
        when = f" WHEN ({_changed(columns, 'IS DISTINCT FROM')})" if event == "UPDATE" else ""
        statements.append(
            f"CREATE TRIGGER report_note_{table}_{event.lower()} AFTER {event} ON {table} FOR EACH ROW{when} "
            f"EXECUTE FUNCTION report_note_{through}_{row.lower()}()"
        )
    return statements


def _postgres_reverse():
    drops = [f"DROP TRIGGER report_note_{t}_{e.lower()} ON {t}" for t, _, e, _ in _watched()]
    return drops + [f"DROP FUNCTION report_note_{through}_{row}()" for through in _NOTE for row in ("new", "old")]


def _sqlite():
    # One writer at a time: a note not already there is enough.
    statements = []
    for table, through, event, columns in _watched():
        row = "OLD" if event == "DELETE" else "NEW"
        when = f" WHEN {_changed(columns, 'IS NOT')}" if event == "UPDATE" else ""
        value, notes, column = _NOTE[through]
        value = value.format(row=row)
        statements.append(
            f"CREATE TRIGGER report_note_{table}_{event.lower()} AFTER {event} ON {table} FOR EACH ROW{when} "
            f"BEGIN INSERT INTO {notes} ({column}) SELECT {value} WHERE {value} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {notes} WHERE {column} = {value}); END"
        )
    return statements


def _sqlite_reverse():
    return [f"DROP TRIGGER report_note_{t}_{e.lower()}" for t, _, e, _ in _watched()]


async def forward(apps, schema_editor) -> None:
    postgres = schema_editor.client.capabilities.dialect == "postgres"
    for sql in _postgres() if postgres else _sqlite():
        await schema_editor.client.execute_query(sql)
    # The history so far: the first report computes it.
    await schema_editor.client.execute_query("INSERT INTO report_dirty (message_id) SELECT id FROM message")


async def backward(apps, schema_editor) -> None:
    postgres = schema_editor.client.capabilities.dialect == "postgres"
    for sql in _postgres_reverse() if postgres else _sqlite_reverse():
        await schema_editor.client.execute_query(sql)


class Migration(migrations.Migration):
    dependencies = [('models', '0015_journal_digest_weekday')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReportDirty',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message_id', fields.IntField(db_index=True)),
            ],
            options={'table': 'report_dirty', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A message whose tallies are out of date (noted by the triggers, taken by the next report).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportPending',
            fields=[
                ('notice_id', fields.IntField(primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('published_at', fields.DatetimeField(null=True, description="The message's, so that the families are listed in its order from an index (keyset pagination).", auto_now=False, auto_now_add=False)),
                ('steps', fields.IntField(default=0, description='Its deliveries other than the inbox and the reminders.')),
                ('letter_always', fields.BooleanField(default=False, description='A letter for the print queue whatever the time (due, or held with no time chosen by the sender).')),
                ('letter_at', fields.DatetimeField(null=True, description='From when a letter is for the print queue (held or planned ones).', auto_now=False, auto_now_add=False)),
                ('due_always', fields.BooleanField(default=False, description='A delivery due now whatever the time (due or being sent).')),
                ('due_at', fields.DatetimeField(null=True, description='The first time one of its held or planned deliveries goes out.', auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'report_pending', 'app': 'models', 'indexes': [Index(fields=['published_at', 'notice_id'])], 'pk_attr': 'notice_id', 'table_description': 'A notice no channel reached yet, with what decides, at any moment, why (:data:`WAITING_REASONS`).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportRoster',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pupil_id', fields.IntField()),
            ],
            options={'table': 'report_roster', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A pupil whose memberships changed: the class lines of the messages naming them are out of date.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReportTally',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('part', fields.CharField(max_length=16)),
                ('channel', fields.CharField(default='', max_length=16)),
                ('state', fields.CharField(default='', max_length=16)),
                ('label', fields.TextField(default='', description="The error kind of a channel line, the error's first words of a failure line.", unique=False)),
                ('group_id', fields.IntField(null=True, description='The group of a class line (any kind: the report keeps the classes when it reads).')),
                ('bucket', fields.IntField(null=True, description="The quarter of an hour of an SMS line, in quarters since 1970 (UTC): every time zone's midnight is one.")),
                ('n', fields.IntField(default=0)),
                ('sent', fields.IntField(default=0)),
                ('delivered', fields.IntField(default=0)),
                ('is_read', fields.IntField(default=0)),
                ('ack_asked', fields.IntField(default=0)),
                ('acked', fields.IntField(default=0)),
                ('slip_asked', fields.IntField(default=0)),
                ('answered', fields.IntField(default=0)),
                ('portal_first', fields.IntField(default=0)),
                ('opened_only', fields.IntField(default=0)),
                ('segments', fields.IntField(default=0)),
                ('cost', fields.DecimalField(default=0, max_digits=14, decimal_places=4)),
            ],
            options={'table': 'report_tally', 'app': 'models', 'indexes': [Index(fields=['message_id', 'part'])], 'pk_attr': 'id', 'table_description': "One line of one message's figures. ``part`` says which: ``notices`` (the funnel), ``channel`` (a channel,"},
            bases=['Model'],
        ),
        ops.RunPython(forward, backward),
    ]
