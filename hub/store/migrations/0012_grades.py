"""Grades (evaluations, grade notices), pupils' own accounts and their sessions.

ActorKind gained ``pupil``: the column descriptions of ``actor_kind`` change, which SQLite applies by rebuilding
the tables; the rebuilt ``audit_log`` gets its append-only triggers back (as 0002 made them) right after.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from hub.enums import ActorKind
from tortoise.fields.base import OnDelete
from tortoise import fields

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]


async def keep_audit_append_only(apps, schema_editor) -> None:
    if schema_editor.client.capabilities.dialect == "sqlite":
        for sql in SQLITE_TRIGGERS:
            await schema_editor.client.execute_query(sql)


async def nothing(apps, schema_editor) -> None:
    return None


class Migration(migrations.Migration):
    dependencies = [('models', '0011_opened_reads')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Evaluation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='evaluations', on_delete=OnDelete.CASCADE)),
                ('teacher', fields.ForeignKeyField('models.Staff', source_field='teacher_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('subject', fields.CharField(max_length=100)),
                ('title', fields.CharField(max_length=200)),
                ('term', fields.CharField(max_length=20)),
                ('assessed_on', fields.DateField()),
                ('max_score', fields.DecimalField(description='The scale: a score is out of this (10, 20, 100).', max_digits=6, decimal_places=2)),
                ('weight', fields.DecimalField(default=1, description='The weight in the average of the course for the term.', max_digits=5, decimal_places=2)),
                ('published_at', fields.DatetimeField(null=True, description='Nobody outside the staff sees its grades before it is published.', auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'evaluation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A test or a piece of work of one course (a class or a course group): its grades belong to it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PupilAccount',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pupil', fields.OneToOneField('models.Pupil', source_field='pupil_id', db_constraint=True, to_field='id', related_name='account', on_delete=OnDelete.CASCADE)),
                ('login', fields.CharField(unique=True, max_length=100)),
                ('password_hash', fields.CharField(default='', max_length=255)),
                ('link_hash', fields.CharField(null=True, unique=True, description='The SHA-256 of the token of the personal link (never the link itself), until used or replaced.', max_length=64)),
                ('link_expires_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'pupil_account', 'app': 'models', 'pk_attr': 'id', 'table_description': "A pupil's own sign-in (:mod:`hub.people.pupil_accounts`): a login and a password, or a personal link the"},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='AuditEntry',
            name='actor_kind',
            field=fields.CharEnumField(description='STAFF: staff\nGUARDIAN: guardian\nPUPIL: pupil\nSYSTEM: system', enum_type=ActorKind, max_length=8),
        ),
        ops.RunPython(keep_audit_append_only, nothing),
        ops.AddField(
            model_name='Grade',
            name='evaluation',
            field=fields.ForeignKeyField('models.Evaluation', source_field='evaluation_id', null=True, description='The evaluation this score belongs to (None for grades recorded before evaluations existed).', db_constraint=True, to_field='id', related_name='grades', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Grade',
            name='family_notified_at',
            field=fields.DatetimeField(null=True, description='When the weekly grades notice told the families of it (None: not yet, or the school sends none).', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='School',
            name='grade_notices',
            field=fields.BooleanField(default=False, description='Whether families hear of single grades: a weekly bundle, after the delay for families, off by default.', db_default=False),
        ),
        ops.AlterField(
            model_name='ThreadPost',
            name='author_kind',
            field=fields.CharEnumField(description='STAFF: staff\nGUARDIAN: guardian\nPUPIL: pupil\nSYSTEM: system', enum_type=ActorKind, max_length=8),
        ),
        ops.AlterField(
            model_name='WebSession',
            name='actor_kind',
            field=fields.CharEnumField(description='STAFF: staff\nGUARDIAN: guardian\nPUPIL: pupil\nSYSTEM: system', enum_type=ActorKind, max_length=8),
        ),
        ops.AddField(
            model_name='WebSession',
            name='pupil',
            field=fields.ForeignKeyField('models.Pupil', source_field='pupil_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
    ]
