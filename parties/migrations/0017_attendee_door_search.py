from django.db import migrations, models

from parties.search import search_words

BATCH = 1000


def words_for_existing_rows(apps, schema_editor):
    """Every earlier signup becomes findable at the door (erased ones stay blank)."""
    Attendee = apps.get_model("parties", "Attendee")
    batch = []
    rows = Attendee.objects.filter(erased_at__isnull=True).only(
        "pk", "first_name", "last_name", "email"
    )
    for attendee in rows.iterator(chunk_size=BATCH):
        attendee.door_search = search_words(
            first_name=attendee.first_name, last_name=attendee.last_name, email=attendee.email
        )
        batch.append(attendee)
        if len(batch) == BATCH:
            Attendee.objects.bulk_update(batch, ["door_search"])
            batch = []
    Attendee.objects.bulk_update(batch, ["door_search"])


class Migration(migrations.Migration):

    dependencies = [
        ("parties", "0016_attendee_attribution"),
    ]

    operations = [
        migrations.AddField(
            model_name="attendee",
            name="door_search",
            field=models.TextField(blank=True, editable=False),
        ),
        migrations.RunPython(words_for_existing_rows, migrations.RunPython.noop),
    ]
