from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_languages')]

    initial = False

    operations = [
        ops.AddField(
            model_name='SlipResponse',
            name='via',
            field=fields.CharField(default='', max_length=16),
        ),
        ops.AddField(
            model_name='Notice',
            name='opened_at',
            field=fields.DatetimeField(null=True, description="When the personal link was first fetched: by a person, or by a mail provider's link scanner.", auto_now=False, auto_now_add=False),
        ),
    ]
