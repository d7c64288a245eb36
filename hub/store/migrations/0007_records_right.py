from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_thread_family_notified')]

    initial = False

    operations = [
        ops.AddField(
            model_name='School',
            name='family_records_delay_hours',
            field=fields.IntField(default=0, db_default=0, description="Hours after a grade's or report card's publication before families see it (the pupil sees it at once)."),
        ),
        ops.AddField(
            model_name='Guardianship',
            name='sees_records',
            field=fields.BooleanField(default=True, db_default=True, description="May see the pupil's records (grades, report cards, absences, the class journal): a school can record that a"),
        ),
    ]
