from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_school_setup')]

    initial = False

    operations = [
        ops.CreateModel(
            name='CalendarFeed',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, description='SHA-256 of the secret in the address: the database never holds the secret itself.', max_length=64)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('pupil', fields.ForeignKeyField('models.Pupil', source_field='pupil_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'calendar_feed', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A private calendar feed (iCalendar): the secret of its address, for one guardian or one pupil. A new one'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JournalDigest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('week_start', fields.DateField(description='The Monday of the week the digest was sent in.')),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'journal_digest', 'app': 'models', 'unique_together': (('guardian', 'week_start'),), 'pk_attr': 'id', 'table_description': 'The weekly digest of coming homework and tests sent to one guardian for one week: at most one (the worker'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Register',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='registers', on_delete=OnDelete.CASCADE)),
                ('on_date', fields.DateField()),
                ('period', fields.SmallIntField(description="The lesson period of the day (1 is the first), as in the school's timetable.")),
                ('taken_by', fields.ForeignKeyField('models.Staff', source_field='taken_by_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('taken_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'register', 'app': 'models', 'unique_together': (('group', 'on_date', 'period'),), 'pk_attr': 'id', 'table_description': 'One call of the register: a class or course, a day, a lesson period, taken by a member of staff. The'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Absence',
            name='justified_at',
            field=fields.DatetimeField(null=True, description='When the justification was recorded, and how (a reply slip\'s channel, or "office" for a paper note).', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Absence',
            name='justified_via',
            field=fields.CharField(default='', db_default='', max_length=20),
        ),
        ops.AddField(
            model_name='Absence',
            name='late',
            field=fields.BooleanField(default=False, description='Arrived late: counted apart, never a half-day of absence, no notice to the family.', db_default=False),
        ),
        ops.AddField(
            model_name='Absence',
            name='register',
            field=fields.ForeignKeyField('models.Register', source_field='register_id', null=True, description='The register call that recorded it (none for an absence recorded otherwise, e.g. imported).', db_constraint=True, to_field='id', related_name='absences', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='School',
            name='absence_threshold_half_days',
            field=fields.IntField(default=9, description='Unjustified half-days of absence in a school year past which the principal sees the pupil flagged.', db_default=9),
        ),
    ]
