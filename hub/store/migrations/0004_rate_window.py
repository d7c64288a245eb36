from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_delivery_digest_and_escalation_wait')]

    initial = False

    operations = [
        ops.CreateModel(
            name='RateWindow',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('channel', fields.CharField(max_length=16)),
                ('window_start', fields.DatetimeField(description='The start of the one-second window (truncated to the second, database time).', auto_now=False, auto_now_add=False)),
                ('count', fields.IntField(default=0, description='Slots taken in that window, counted past the limit too (those senders wait for the next second).')),
            ],
            options={'table': 'rate_window', 'app': 'models', 'unique_together': (('channel', 'window_start'),), 'pk_attr': 'id', 'table_description': "A provider's sending limit shared by every worker (PostgreSQL): messages taken in one second per channel."},
            bases=['Model'],
        ),
    ]
