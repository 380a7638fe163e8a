from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

from backoffice.roles import ROLE_PERMISSIONS

MODELS = ("delayreport",)


def grant(apps, schema_editor):
    """The roles whose defaults (backoffice/roles.py) name the delay-report permissions get them."""
    create_permissions(global_apps.get_app_config("backoffice"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    perms = {
        p.codename: p
        for p in Permission.objects.filter(content_type__app_label="backoffice", content_type__model__in=MODELS)
    }
    for role, codenames in ROLE_PERMISSIONS.items():
        group = Group.objects.get_or_create(name=role)[0]
        group.permissions.add(*[perms[c] for c in codenames if c in perms])


class Migration(migrations.Migration):
    dependencies = [("backoffice", "0011_delay_reports")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
