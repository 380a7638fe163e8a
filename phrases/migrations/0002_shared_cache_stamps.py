"""The phrase-index stamps move to the shared cache stamps (backoffice.CacheStamp, name "phrases"), kept, so
that no process reloads a shop it has cached and none caches a shop it should not."""

from typing import Any

from django.db import migrations


def copy_stamps(apps: Any, schema_editor: Any) -> None:
    old = apps.get_model("phrases", "PhraseIndexStamp")
    new = apps.get_model("backoffice", "CacheStamp")
    new.objects.bulk_create(
        [new(shop_id=row.shop_id, name="phrases", stamp=row.stamp) for row in old.objects.all()],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("phrases", "0001_initial"),
        ("backoffice", "0003_cache_stamps"),
    ]

    operations = [
        migrations.RunPython(copy_stamps, migrations.RunPython.noop),
        migrations.DeleteModel(name="PhraseIndexStamp"),
    ]
