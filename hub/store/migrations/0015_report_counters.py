"""The delivery report's summary (hub.reports.models, hub.reports.tally): its tables, and the triggers that note
what changed, so that a report recomputes only the messages whose figures moved since the last one.

The triggers watch every table a figure of the report comes from, whatever writes to it (the ORM, raw SQL, a bulk
insert): a delivery, an acknowledgement, an answer or a pupil of a notice notes the notice's message; a notice or a
reply slip its message; a message itself (published, rescheduled); a membership its pupil (class lines). On
PostgreSQL they run once per statement over its rows (a fan-out of 50,000 deliveries notes its message once), on
SQLite once per row. Every message is noted at the upgrade: the first report computes the tallies of the history.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


#: (table, column giving the message through, events): ``notice`` = through the notice's message.
WATCHED = [
    ("delivery", "notice"),
    ("acknowledgement", "notice"),
    ("slip_response", "notice"),
    ("notice_pupil", "notice"),
    ("notice", "message"),
    ("reply_slip", "message"),
    ("membership", "pupil"),
]
EVENTS = ("INSERT", "UPDATE", "DELETE")

_NOTE = {
    # What each kind of row notes, from the rows of a statement (PostgreSQL) or one row (SQLite, ``{row}``).
    "notice": "INSERT INTO report_dirty (message_id) SELECT DISTINCT n.message_id FROM {rows} r "
    "JOIN notice n ON n.id = r.notice_id",
    "message": "INSERT INTO report_dirty (message_id) SELECT DISTINCT r.message_id FROM {rows} r",
    "self": "INSERT INTO report_dirty (message_id) SELECT DISTINCT r.id FROM {rows} r",
    "pupil": "INSERT INTO report_roster (pupil_id) SELECT DISTINCT r.pupil_id FROM {rows} r",
}
_SQLITE_NOTE = {
    "notice": "INSERT OR IGNORE INTO report_dirty (message_id) SELECT message_id FROM notice WHERE id = {row}.notice_id",
    "message": "INSERT OR IGNORE INTO report_dirty (message_id) VALUES ({row}.message_id)",
    "self": "INSERT OR IGNORE INTO report_dirty (message_id) VALUES ({row}.id)",
    "pupil": "INSERT OR IGNORE INTO report_roster (pupil_id) VALUES ({row}.pupil_id)",
}


def _watched():
    for table, through in WATCHED:
        for event in EVENTS:
            yield table, through, event
    yield "message", "self", "UPDATE"


def _postgres():
    statements = []
    for through, sql in _NOTE.items():
        for side in ("new", "old"):
            statements.append(
                f"CREATE FUNCTION report_note_{through}_{side}() RETURNS trigger AS $$ BEGIN "
                f"{sql.format(rows=side + '_rows')} ON CONFLICT DO NOTHING; RETURN NULL; END; $$ LANGUAGE plpgsql"
            )
    for table, through, event in _watched():
        side = "old" if event == "DELETE" else "new"
        statements.append(
            f"CREATE TRIGGER report_note_{table}_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {side.upper()} TABLE AS {side}_rows FOR EACH STATEMENT "
            f"EXECUTE FUNCTION report_note_{through}_{side}()"
        )
    return statements


def _postgres_reverse():
    drops = [f"DROP TRIGGER report_note_{t}_{e.lower()} ON {t}" for t, _, e in _watched()]
    return drops + [f"DROP FUNCTION report_note_{through}_{side}()" for through in _NOTE for side in ("new", "old")]


def _sqlite():
    statements = []
    for table, through, event in _watched():
        row = "OLD" if event == "DELETE" else "NEW"
        statements.append(
            f"CREATE TRIGGER report_note_{table}_{event.lower()} AFTER {event} ON {table} "
            f"BEGIN {_SQLITE_NOTE[through].format(row=row)}; END"
        )
    return statements


def _sqlite_reverse():
    return [f"DROP TRIGGER report_note_{t}_{e.lower()}" for t, _, e in _watched()]


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
    dependencies = [('models', '0014_message_to_pupils')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ReportDirty',
            fields=[
                ('message_id', fields.IntField(primary_key=True, unique=True, db_index=True)),
            ],
            options={'table': 'report_dirty', 'app': 'models', 'pk_attr': 'message_id', 'table_description': 'A message whose tallies are out of date (noted by the triggers, taken by the next report).'},
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
                ('pupil_id', fields.IntField(primary_key=True, unique=True, db_index=True)),
            ],
            options={'table': 'report_roster', 'app': 'models', 'pk_attr': 'pupil_id', 'table_description': 'A pupil whose memberships changed: the class lines of the messages naming them are out of date.'},
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
