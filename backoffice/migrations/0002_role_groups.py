from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

from backoffice.roles import ROLE_PERMISSIONS


def create_role_groups(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so the groups can hold them.
    create_permissions(global_apps.get_app_config("backoffice"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="backoffice", codename__in=codenames)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
