from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_audit_append_only')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Delivery',
            name='digest_key',
            field=fields.CharField(default='', db_index=True, description='Deliveries held by the daily limit share a key (guardian, channel, local day) and go as one message.', max_length=64),
        ),
        ops.AddField(
            model_name='Message',
            name='escalation_wait_minutes',
            field=fields.IntField(null=True, description="How long an unacknowledged step waits before the next one is tried, null means the urgency's default."),
        ),
    ]
