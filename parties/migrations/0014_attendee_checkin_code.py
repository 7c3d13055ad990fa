import parties.models
from django.db import migrations, models


def codes_for_existing_rows(apps, schema_editor):
    """Every earlier signup gets its own check-in code (one random value each)."""
    Attendee = apps.get_model("parties", "Attendee")
    for attendee in Attendee.objects.only("pk").iterator():
        Attendee.objects.filter(pk=attendee.pk).update(
            checkin_code=parties.models.new_checkin_code()
        )


class Migration(migrations.Migration):

    dependencies = [
        ('parties', '0013_questions'),
    ]

    operations = [
        migrations.AddField(
            model_name='attendee',
            name='checkin_code',
            field=models.CharField(max_length=24, null=True),
        ),
        migrations.RunPython(codes_for_existing_rows, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='attendee',
            name='checkin_code',
            field=models.CharField(default=parties.models.new_checkin_code, max_length=24, unique=True),
        ),
    ]
