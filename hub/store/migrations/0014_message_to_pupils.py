from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0013_gdpr_optouts_consent_retention')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Message',
            name='to_families',
            field=fields.BooleanField(default=True, db_default=True, description="Whether the guardians of the audience's pupils get notices (false for a message to the pupils only)."),
        ),
        ops.AddField(
            model_name='Message',
            name='to_pupils',
            field=fields.BooleanField(default=False, db_default=False, description="Whether the audience's pupils read it on their own page (the portal only: pupils have no contacts)."),
        ),
    ]
