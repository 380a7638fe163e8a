"""Data: the shops created before the knowledge base get the built-in intent set (new shops get it at
creation, ``robot.knowledge.set_up_shop``). No index stamp is written: a shop without one is loaded
afresh at every match until its first write through the services."""

from django.db import migrations


def seed(apps, schema_editor):
    from robot.builtin import entry_rows

    Shop = apps.get_model("backoffice", "Shop")
    KnowledgeEntry = apps.get_model("robot", "KnowledgeEntry")
    for shop_id in Shop.objects.values_list("pk", flat=True):
        have = set(
            KnowledgeEntry.objects.filter(shop_id=shop_id).exclude(builtin_key="").values_list("builtin_key", flat=True)
        )
        KnowledgeEntry.objects.bulk_create(entry_rows(KnowledgeEntry, shop_id=shop_id, have=have))


class Migration(migrations.Migration):
    dependencies = [("robot", "0002_knowledge_base")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
