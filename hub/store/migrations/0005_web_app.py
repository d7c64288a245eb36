from tortoise import migrations
from tortoise.migrations import operations as ops
from hub.enums import ActorKind, Channel, LinkPurpose
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0004_rate_window')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Attachment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('message', fields.ForeignKeyField('models.Message', source_field='message_id', db_constraint=True, to_field='id', related_name='attachments', on_delete=OnDelete.CASCADE)),
                ('filename', fields.CharField(max_length=255)),
                ('content_type', fields.CharField(max_length=100)),
                ('size', fields.IntField()),
                ('sha256', fields.CharField(max_length=64)),
                ('data', fields.BinaryField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'attachment', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A file joined to a message (a permission form, a menu), stored in the database with its checksum.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SignInLink',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', db_constraint=True, to_field='id', related_name='sign_in_links', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharEnumField(default=LinkPurpose.SIGN_IN, description='SIGN_IN: sign_in\nONBOARDING: onboarding', enum_type=LinkPurpose, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'sign_in_link', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A personal sign-in link for a guardian: random, expiring, single use, bound to that guardian. The link'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ThreadPost',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('notice', fields.ForeignKeyField('models.Notice', source_field='notice_id', db_constraint=True, to_field='id', related_name='posts', on_delete=OnDelete.CASCADE)),
                ('author_kind', fields.CharEnumField(description='STAFF: staff\nGUARDIAN: guardian\nSYSTEM: system', enum_type=ActorKind, max_length=8)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='posts', on_delete=OnDelete.SET_NULL)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', null=True, db_constraint=True, to_field='id', related_name='posts', on_delete=OnDelete.SET_NULL)),
                ('body', fields.TextField(unique=False)),
                ('channel', fields.CharEnumField(default=Channel.PORTAL, description='PORTAL: portal\nEMAIL: email\nSMS: sms\nWEBPUSH: webpush\nFCM: fcm\nTELEGRAM: telegram\nLETTER: letter', enum_type=Channel, max_length=8)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('read_at', fields.DatetimeField(null=True, description="When a member of staff first read a guardian's post.", auto_now=False, auto_now_add=False)),
                ('staff_notified_at', fields.DatetimeField(null=True, description="When staff were told of this guardian's post (only inside their charter hours).", auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'thread_post', 'app': 'models', 'indexes': [Index(fields=['notice_id', 'at'])], 'pk_attr': 'id', 'table_description': "One post in the reply thread of a notice: private to that guardian's household, read by the sender and"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Throttle',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(max_length=200)),
                ('window_start', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('count', fields.IntField(default=0)),
            ],
            options={'table': 'throttle', 'app': 'models', 'unique_together': (('key', 'window_start'),), 'pk_attr': 'id', 'table_description': 'Attempts per key (e.g. sign-in per address, link requests per email) in a fixed window, shared by every'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='VerificationCode',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', db_constraint=True, to_field='id', related_name='verification_codes', on_delete=OnDelete.CASCADE)),
                ('contact', fields.ForeignKeyField('models.Contact', source_field='contact_id', db_constraint=True, to_field='id', related_name='verification_codes', on_delete=OnDelete.CASCADE)),
                ('code_hash', fields.CharField(max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('attempts', fields.SmallIntField(default=0)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'verification_code', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A code sent to a new email or phone: the contact is verified when the guardian types it back.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='WebSession',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('actor_kind', fields.CharEnumField(description='STAFF: staff\nGUARDIAN: guardian\nSYSTEM: system', enum_type=ActorKind, max_length=8)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', null=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', null=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE)),
                ('csrf_token', fields.CharField(description='The token every form of this session carries (double-submit is not enough against a sibling subdomain).', max_length=64)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('last_seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('user_agent', fields.CharField(default='', max_length=300)),
            ],
            options={'table': 'web_session', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A signed-in browser. The cookie holds a random token, this row only its SHA-256 (a stolen table signs'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Guardian',
            name='quiet_from',
            field=fields.TimeField(null=True, description="The guardian's own quiet hours (local time, may cross midnight): non-urgent messages wait until they end.", auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Guardian',
            name='quiet_until',
            field=fields.TimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
