from django.db import migrations

from backoffice.roles import grant_role_permissions


def grant(apps, schema_editor):
    """The roles that file delay reports may withdraw a pending one (``delete_delayreport``)."""
    grant_role_permissions(apps, ("delayreport",))


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0015_shop_time_zone")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
