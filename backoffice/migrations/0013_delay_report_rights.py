from django.db import migrations

from backoffice.roles import grant_role_permissions


def grant(apps, schema_editor):
    """The roles whose defaults (backoffice/roles.py) name these models' permissions get them."""
    grant_role_permissions(apps, ("delayreport",))


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0012_delay_reports")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
