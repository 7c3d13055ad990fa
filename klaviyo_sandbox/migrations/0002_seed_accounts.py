from django.db import migrations

from klaviyo_sandbox.seed import seed_accounts


def seed(apps, schema_editor):
    seed_accounts(
        apps.get_model("klaviyo_sandbox", "Account"),
        apps.get_model("klaviyo_sandbox", "KlaviyoList"),
        using=schema_editor.connection.alias,
    )


class Migration(migrations.Migration):
    dependencies = [("klaviyo_sandbox", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
