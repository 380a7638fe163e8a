from django.db import migrations

from backoffice.roles import grant_role_permissions


def grant(apps, schema_editor):
    """The roles whose defaults (backoffice/roles.py) name these models' permissions get them."""
    grant_role_permissions(apps, ("aftersalerequest",))


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0010_after_sale_requests")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
