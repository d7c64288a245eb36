from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_web_app')]

    initial = False

    operations = [
        ops.AddField(
            model_name='ThreadPost',
            name='family_notified_at',
            field=fields.DatetimeField(null=True, description="When the family was emailed of this staff answer (held to the charter's hours and their quiet hours).", auto_now=False, auto_now_add=False),
        ),
    ]
