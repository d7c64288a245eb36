from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0014_message_to_pupils')]

    initial = False

    operations = [
        ops.AddField(
            model_name='School',
            name='journal_digest_weekday',
            field=fields.SmallIntField(default=4, db_default=4, description="The weekday (0 Monday .. 6 Sunday) families get the journal's weekly digest of coming homework and tests."),
        ),
    ]
