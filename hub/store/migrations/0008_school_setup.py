from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_records_right')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AdminNoticeSeen',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='notices_seen', on_delete=OnDelete.CASCADE)),
                ('entry', fields.ForeignKeyField('models.AuditEntry', source_field='entry_id', db_constraint=True, to_field='id', related_name='seen_by', on_delete=OnDelete.CASCADE)),
                ('seen_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'admin_notice_seen', 'app': 'models', 'unique_together': (('staff', 'entry'),), 'pk_attr': 'id', 'table_description': 'An administrator saw the banner of one access recovery (an audit entry): it is no longer shown to them.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SchoolProfile',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('school', fields.OneToOneField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='profile', on_delete=OnDelete.CASCADE)),
                ('dpo_name', fields.CharField(max_length=200)),
                ('dpo_email', fields.CharField(max_length=254)),
            ],
            options={'table': 'school_profile', 'app': 'models', 'pk_attr': 'id', 'table_description': 'What the school declares once, at ``carnet school init``, that the pages and letters do not need each day:'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffExternalId',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('staff', fields.OneToOneField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='external', on_delete=OnDelete.CASCADE)),
                ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name='staff_external_ids', on_delete=OnDelete.CASCADE)),
                ('external_id', fields.CharField(max_length=64)),
            ],
            options={'table': 'staff_external_id', 'app': 'models', 'unique_together': (('school', 'external_id'),), 'pk_attr': 'id', 'table_description': 'A member of staff as the enrolment software names them: the key the staff import matches on. A member'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffSignInLink',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('staff', fields.ForeignKeyField('models.Staff', source_field='staff_id', db_constraint=True, to_field='id', related_name='sign_in_links', on_delete=OnDelete.CASCADE)),
                ('purpose', fields.CharField(description='setup, recovery or sign_in: what made it (and how long it lives).', max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'staff_sign_in_link', 'app': 'models', 'pk_attr': 'id', 'table_description': "A one-time sign-in link for a member of staff (the first administrators', a recovery's, or one asked for on"},
            bases=['Model'],
        ),
    ]
