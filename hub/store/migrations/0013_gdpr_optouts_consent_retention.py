from tortoise import migrations
from tortoise.migrations import operations as ops
from hub.enums import ConsentPurpose, ConsentSource, Topic
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0012_grades')]

    initial = False

    operations = [
        ops.CreateModel(
            name='OptOut',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', db_constraint=True, to_field='id', related_name='opt_outs', on_delete=OnDelete.CASCADE)),
                ('topic', fields.CharEnumField(description='SCHOOL_LIFE: school_life\nEVENTS: events\nRECORDS: records\nHOMEWORK: homework\nABSENCES: absences\nEMERGENCIES: emergencies', enum_type=Topic, max_length=16)),
                ('channel', fields.CharField(default='', description='A ``Channel`` value, or "" for every channel (SQL\'s NULL would not keep the pair unique).', max_length=16)),
                ('source', fields.CharField(description='Where the guardian asked: "portal", "sms", "email" (the one-click unsubscribe) or "office".', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'opt_out', 'app': 'models', 'unique_together': (('guardian', 'topic', 'channel'),), 'pk_attr': 'id', 'table_description': 'A guardian stopped a topic on one channel, or on every channel (``channel`` empty). Resuming deletes the'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PupilConsent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('pupil', fields.ForeignKeyField('models.Pupil', source_field='pupil_id', db_constraint=True, to_field='id', related_name='consents', on_delete=OnDelete.CASCADE)),
                ('guardian', fields.ForeignKeyField('models.Guardian', source_field='guardian_id', db_constraint=True, to_field='id', related_name='pupil_consents', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharEnumField(description='SCHOOL_MESSAGES: school_messages\nEMAIL: channel_email\nSMS: channel_sms\nWEBPUSH: channel_webpush\nFCM: channel_fcm\nTELEGRAM: channel_telegram\nPHOTOS: photos\nRECORDS_ONLINE: records_online', enum_type=ConsentPurpose, max_length=16)),
                ('granted', fields.BooleanField()),
                ('source', fields.CharEnumField(description='PORTAL: portal\nPAPER: paper\nIMPORT: import\nADMIN: admin', enum_type=ConsentSource, max_length=16)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'pupil_consent', 'app': 'models', 'unique_together': (('pupil', 'guardian', 'purpose'),), 'pk_attr': 'id', 'table_description': "One guardian's current answer, yes or no, for one purpose about one pupil. Each guardian with the right"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RetentionPolicy',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('school', fields.OneToOneField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='retention', on_delete=OnDelete.CASCADE)),
                ('deliveries_days', fields.IntField()),
                ('notices_days', fields.IntField()),
                ('threads_days', fields.IntField()),
                ('attachments_days', fields.IntField()),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'retention_policy', 'app': 'models', 'pk_attr': 'id', 'table_description': 'How long the school keeps what it sent, in days: the retention job (``hub.privacy.retention``) removes'},
            bases=['Model'],
        ),
        ops.AlterField(
            model_name='Consent',
            name='purpose',
            field=fields.CharEnumField(description='SCHOOL_MESSAGES: school_messages\nEMAIL: channel_email\nSMS: channel_sms\nWEBPUSH: channel_webpush\nFCM: channel_fcm\nTELEGRAM: channel_telegram\nPHOTOS: photos\nRECORDS_ONLINE: records_online', enum_type=ConsentPurpose, max_length=16),
        ),
    ]
