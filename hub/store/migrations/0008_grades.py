from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_records_right')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Evaluation',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('school', fields.ForeignKeyField('models.School', source_field='school_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('group', fields.ForeignKeyField('models.Group', source_field='group_id', db_constraint=True, to_field='id', related_name='evaluations', on_delete=OnDelete.CASCADE)),
                ('teacher', fields.ForeignKeyField('models.Staff', source_field='teacher_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('subject', fields.CharField(max_length=100)),
                ('title', fields.CharField(max_length=200)),
                ('term', fields.CharField(max_length=20)),
                ('assessed_on', fields.DateField()),
                ('max_score', fields.DecimalField(description='The scale: a score is out of this (10, 20, 100).', max_digits=6, decimal_places=2)),
                ('weight', fields.DecimalField(default=1, description='The weight in the average of the course for the term.', max_digits=5, decimal_places=2)),
                ('published_at', fields.DatetimeField(null=True, description='Nobody outside the staff sees its grades before it is published.', auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'evaluation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A test or a piece of work of one course (a class or a course group): its grades belong to it.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Grade',
            name='evaluation',
            field=fields.ForeignKeyField('models.Evaluation', source_field='evaluation_id', null=True, description='The evaluation this score belongs to (None for grades recorded before evaluations existed).', db_constraint=True, to_field='id', related_name='grades', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Grade',
            name='family_notified_at',
            field=fields.DatetimeField(null=True, description='When the weekly grades notice told the families of it (None: not yet, or the school sends none).', auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='School',
            name='grade_notices',
            field=fields.BooleanField(default=False, description="Whether families hear of single grades: a weekly bundle, after the delay for families, off by default.", db_default=False),
        ),
    ]
