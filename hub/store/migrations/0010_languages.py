from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_records_register_journal_calendar')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MessageVersion',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', db_constraint=True, to_field='id', related_name='versions', on_delete=OnDelete.CASCADE)),
                ('language', fields.CharField(max_length=2)),
                ('subject', fields.CharField(max_length=200)),
                ('body', fields.TextField(unique=False)),
                ('questions', fields.JSONField(default=list, description='The slip\'s questions in this language, by position: ``[{"text": ..., "choices": [...]}, ...]``.', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('machine', fields.BooleanField(default=False)),
            ],
            options={'table': 'message_version', 'app': 'models', 'unique_together': (('message_id', 'language'),), 'pk_attr': 'id', 'table_description': "The message in another language than the school's (``Message`` holds the school's own text): what the"},
            bases=['Model'],
        ),
    ]
