"""The delivery report's tallies refreshed per notice (hub.reports.models, hub.reports.tally): each notice keeps its
part of its message's tally lines (``report_notice_line``), and the triggers note the NOTICE whose rows changed, so
that a report takes away the old part of the notices that changed and adds their new one.

What a row notes: a delivery, an acknowledgement or a pupil of a notice, that notice; an answer to a reply slip, its
notice and the other notices of the message naming the same pupil (one answer per pupil: their "answered" moved
too); a notice updated or deleted, itself; a notice created, its whole message (a publish writes thousands at once,
and a note per row would cost the publish); a reply slip or the message itself (its acknowledgement, its times),
the whole message (``notice_id`` NULL); a membership, its pupil (the report notes the notices naming them). An
update notes only when a column the report reads changed, and notes the old row too when what it belongs to
changed. The tally's key gets a unique index (no NULL in it: 0 for "no group", "no quarter") for the upserts.
Every message is noted whole at the upgrade: the first report computes every notice's lines.
"""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from tortoise.migrations.constraints import UniqueConstraint


#: What a row notes, per table: ``notice`` (the notice of ``notice_id``), ``answer`` (that notice and the notices
#: of the slip's message naming the pupil), ``self_notice`` (the notice itself; created: its whole message),
#: ``whole`` (the message of ``message_id``, every notice), ``self`` (the message itself, every notice), ``pupil``
#: (a pupil whose classes changed); the columns whose change moves a figure; the columns that say what the row
#: belongs to (changed: the old row is noted too).
WATCHED = [
    ("delivery", "notice", ("notice_id", "channel", "state", "purpose", "error_kind", "error", "cost", "segments",
                            "sent_at", "due_at"), ("notice_id",)),
    ("acknowledgement", "notice", ("notice_id",), ("notice_id",)),
    ("slip_response", "answer", ("notice_id", "slip_id", "pupil_id"), ("notice_id", "slip_id", "pupil_id")),
    ("notice_pupil", "notice", ("notice_id", "pupil_id"), ("notice_id",)),
    ("notice", "self_notice", ("message_id", "first_read_at", "opened_at"), ("message_id",)),
    ("reply_slip", "whole", ("message_id", "answer_mode"), ("message_id",)),
    ("membership", "pupil", ("pupil_id", "group_id"), ("pupil_id",)),
]
MESSAGE_COLUMNS = ("school_id", "published_at", "needs_acknowledgement", "scheduled_at")
EVENTS = ("INSERT", "UPDATE", "DELETE")


def _triggers():
    """(name, table, event, function, row, condition as (columns, compared)): every trigger."""
    for table, through, columns, keys in WATCHED:
        for event in EVENTS:
            row = "OLD" if event == "DELETE" else "NEW"
            kind = "whole" if (through, event) == ("self_notice", "INSERT") else through
            yield f"report_mark_{table}_{event.lower()}", table, event, kind, row, columns if event == "UPDATE" else ()
        # What the row belonged to changed: the old one's figures moved too.
        yield f"report_mark_{table}_moved", table, "UPDATE", through, "OLD", keys
    yield "report_mark_message_update", "message", "UPDATE", "self", "NEW", MESSAGE_COLUMNS


def _changed(columns, distinct):
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in columns)


#: PostgreSQL: a plain insert (no unique key: no writer waits for another or for a report), skipped when this
#: transaction already noted the same notice last or its whole message (transaction-local settings; a report takes
#: only the notes it sees committed, so a transaction's changes are all committed before its note is taken).
_PG_BODY = {
    "notice": """DECLARE m integer; BEGIN
IF {row}.notice_id::text IS DISTINCT FROM current_setting('carnet.report_notice', true) THEN
    SELECT message_id INTO m FROM notice WHERE id = {row}.notice_id;
    IF m IS NOT NULL AND m::text IS DISTINCT FROM current_setting('carnet.report_whole', true) THEN
        INSERT INTO report_dirty (message_id, notice_id) VALUES (m, {row}.notice_id);
    END IF;
    PERFORM set_config('carnet.report_notice', {row}.notice_id::text, true);
END IF; RETURN NULL; END;""",
    "answer": """DECLARE m integer; BEGIN
SELECT message_id INTO m FROM reply_slip WHERE id = {row}.slip_id;
IF m IS NOT NULL AND m::text IS DISTINCT FROM current_setting('carnet.report_whole', true) THEN
    INSERT INTO report_dirty (message_id, notice_id) VALUES (m, {row}.notice_id);
    INSERT INTO report_dirty (message_id, notice_id)
    SELECT m, n.id FROM notice_pupil np JOIN notice n ON n.id = np.notice_id
    WHERE np.pupil_id = {row}.pupil_id AND n.message_id = m AND n.id <> {row}.notice_id;
END IF; RETURN NULL; END;""",
    "self_notice": """BEGIN
IF {row}.message_id::text IS DISTINCT FROM current_setting('carnet.report_whole', true) THEN
    INSERT INTO report_dirty (message_id, notice_id) VALUES ({row}.message_id, {row}.id);
END IF; RETURN NULL; END;""",
    "whole": """DECLARE m integer := {row}.{column}; BEGIN
IF m IS NOT NULL AND m::text IS DISTINCT FROM current_setting('carnet.report_whole', true) THEN
    INSERT INTO report_dirty (message_id) VALUES (m);
    PERFORM set_config('carnet.report_whole', m::text, true);
END IF; RETURN NULL; END;""",
    "pupil": """BEGIN
IF {row}.pupil_id::text IS DISTINCT FROM current_setting('carnet.report_roster', true) THEN
    INSERT INTO report_roster (pupil_id) VALUES ({row}.pupil_id);
    PERFORM set_config('carnet.report_roster', {row}.pupil_id::text, true);
END IF; RETURN NULL; END;""",
}
#: The function of each kind (``self``: the whole message of the message row itself).
_PG_FUNCTIONS = {"notice": "notice", "answer": "answer", "self_notice": "self_notice", "whole": "whole",
                 "self": "whole", "pupil": "pupil"}


def _postgres():
    statements = []
    for kind in ("notice", "answer", "self_notice", "whole", "self", "pupil"):
        for row in ("NEW", "OLD"):
            body = _PG_BODY[_PG_FUNCTIONS[kind]].format(row=row, column="id" if kind == "self" else "message_id")
            statements.append(
                f"CREATE FUNCTION report_mark_{kind}_{row.lower()}() RETURNS trigger AS $$ {body} $$ "
                "LANGUAGE plpgsql"
            )
    for name, table, event, kind, row, columns in _triggers():
        when = f" WHEN ({_changed(columns, 'IS DISTINCT FROM')})" if columns else ""
        statements.append(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} "
            f"EXECUTE FUNCTION report_mark_{kind}_{row.lower()}()"
        )
    return statements


def _postgres_reverse():
    drops = [f"DROP TRIGGER {name} ON {table}" for name, table, *_ in _triggers()]
    kinds = ("notice", "answer", "self_notice", "whole", "self", "pupil")
    return drops + [f"DROP FUNCTION report_mark_{kind}_{row}()" for kind in kinds for row in ("new", "old")]


#: SQLite: one writer at a time, so a note not already there (or its whole message's) is enough.
_NOT_NOTED = (
    "NOT EXISTS (SELECT 1 FROM report_dirty d WHERE d.message_id = {message} "
    "AND (d.notice_id IS NULL OR d.notice_id = {notice}))"
)
_SQLITE_BODY = {
    "notice": "INSERT INTO report_dirty (message_id, notice_id) SELECT n.message_id, n.id FROM notice n "
    "WHERE n.id = {row}.notice_id AND " + _NOT_NOTED.format(message="n.message_id", notice="n.id") + ";",
    "answer": "INSERT INTO report_dirty (message_id, notice_id) SELECT s.message_id, {row}.notice_id "
    "FROM reply_slip s WHERE s.id = {row}.slip_id AND "
    + _NOT_NOTED.format(message="s.message_id", notice="{row}.notice_id") + "; "
    "INSERT INTO report_dirty (message_id, notice_id) SELECT n.message_id, n.id FROM notice_pupil np "
    "JOIN notice n ON n.id = np.notice_id JOIN reply_slip s ON s.message_id = n.message_id "
    "WHERE np.pupil_id = {row}.pupil_id AND s.id = {row}.slip_id AND "
    + _NOT_NOTED.format(message="n.message_id", notice="n.id") + ";",
    "self_notice": "INSERT INTO report_dirty (message_id, notice_id) SELECT {row}.message_id, {row}.id WHERE "
    + _NOT_NOTED.format(message="{row}.message_id", notice="{row}.id") + ";",
    "whole": "INSERT INTO report_dirty (message_id) SELECT {row}.{column} WHERE {row}.{column} IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM report_dirty d WHERE d.message_id = {row}.{column} AND d.notice_id IS NULL);",
    "pupil": "INSERT INTO report_roster (pupil_id) SELECT {row}.pupil_id "
    "WHERE NOT EXISTS (SELECT 1 FROM report_roster WHERE pupil_id = {row}.pupil_id);",
}


def _sqlite():
    statements = []
    for name, table, event, kind, row, columns in _triggers():
        when = f" WHEN {_changed(columns, 'IS NOT')}" if columns else ""
        body = _SQLITE_BODY[_PG_FUNCTIONS[kind]].format(row=row, column="id" if kind == "self" else "message_id")
        statements.append(f"CREATE TRIGGER {name} AFTER {event} ON {table} FOR EACH ROW{when} BEGIN {body} END")
    return statements


def _sqlite_reverse():
    return [f"DROP TRIGGER {name}" for name, *_ in _triggers()]


def _previous():
    return importlib.import_module("hub.store.migrations.0016_report_counters")


async def _run(client, statements) -> None:
    for sql in statements:
        await client.execute_query(sql)


async def replace_the_message_notes(apps, schema_editor) -> None:
    """0016's triggers go; its tallies too (every message is recomputed whole once the new ones are in)."""
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    previous = _previous()
    await _run(client, previous._postgres_reverse() if postgres else previous._sqlite_reverse())
    await _run(client, ["DELETE FROM report_tally", "DELETE FROM report_pending", "DELETE FROM report_dirty"])


async def restore_the_message_notes(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    previous = _previous()
    await _run(client, previous._postgres() if postgres else previous._sqlite())
    await _run(client, ["DELETE FROM report_dirty", "INSERT INTO report_dirty (message_id) SELECT id FROM message"])


async def note_the_notices(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await _run(client, _postgres() if postgres else _sqlite())
    # The history so far: the first report computes every notice's lines.
    await _run(client, ["INSERT INTO report_dirty (message_id) SELECT id FROM message"])


async def unnote_the_notices(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    await _run(client, _postgres_reverse() if postgres else _sqlite_reverse())
    await _run(client, ["DELETE FROM report_tally", "DELETE FROM report_pending"])


class Migration(migrations.Migration):
    dependencies = [('models', '0016_report_counters')]

    initial = False

    operations = [
        ops.RunPython(replace_the_message_notes, restore_the_message_notes),
        ops.CreateModel(
            name='ReportNoticeLine',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice_id', fields.IntField(db_index=True)),
                ('message_id', fields.IntField(description='Not a foreign key (checking one costs a third of writing a message\'s lines): the lines of a deleted message')),
                ('part', fields.CharField(max_length=16)),
                ('channel', fields.CharField(default='', max_length=16)),
                ('state', fields.CharField(default='', max_length=16)),
                ('label', fields.TextField(default='', unique=False)),
                ('group_id', fields.IntField(default=0)),
                ('bucket', fields.IntField(default=0)),
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
            options={'table': 'report_notice_line', 'app': 'models', 'indexes': [Index(fields=['message_id'])], 'pk_attr': 'id', 'table_description': "One notice's part of one line of its message's tally (same key and figures as :class:`ReportTally`): the"},
            bases=['Model'],
        ),
        ops.AddIndex(
            model_name='NoticePupil',
            index=Index(fields=['pupil_id']),
        ),
        ops.AlterModelOptions(
            name='ReportDirty',
            options={'table': 'report_dirty', 'app': 'models', 'indexes': [Index(fields=['message_id', 'notice_id'])], 'pk_attr': 'id', 'table_description': 'A notice whose tally lines are out of date, or a whole message (noted by the triggers, taken by the next'},
        ),
        ops.AlterField(
            model_name='ReportDirty',
            name='message_id',
            field=fields.IntField(),
        ),
        ops.AddField(
            model_name='ReportDirty',
            name='notice_id',
            field=fields.IntField(null=True, description='The notice whose lines moved, or none: every notice of the message (its slip, acknowledgement or times moved).'),
        ),
        ops.AddIndex(
            model_name='ReportDirty',
            index=Index(fields=['message_id', 'notice_id']),
        ),
        ops.RemoveIndex(
            model_name='ReportTally',
            name=None,
            fields=['message_id', 'part'],
        ),
        ops.AlterField(
            model_name='ReportTally',
            name='bucket',
            field=fields.IntField(default=0, description="An SMS line's quarter of an hour since 1970, UTC (every time zone's midnight is one), 0 on the others.", db_default=0),
        ),
        ops.AlterField(
            model_name='ReportTally',
            name='group_id',
            field=fields.IntField(default=0, description='The group of a class line, 0 on the others (any kind: the report keeps the classes when it reads).', db_default=0),
        ),
        ops.AddConstraint(
            model_name='ReportTally',
            constraint=UniqueConstraint(fields=('message', 'part', 'channel', 'state', 'label', 'group_id', 'bucket'), name=None),
        ),
        ops.RunPython(note_the_notices, unnote_the_notices),
    ]
