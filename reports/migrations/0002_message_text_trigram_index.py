"""The history search's words-in-the-transcript filter on PostgreSQL: a trigram index (``pg_trgm``, GIN) on
the messages' text, which serves ``icontains`` (ILIKE) for words of 3 characters or more. Chinese needs no
word boundaries, so a substring index fits. Nothing on SQLite (the search scans there: same results)."""

from django.db import migrations

INDEX = "reports_msg_text_trgm"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("routing", "Message")._meta.db_table
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON {table} USING gin (text gin_trgm_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0001_rollups_and_reviews"),
        ("routing", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop)]
