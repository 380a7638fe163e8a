"""Default permissions of each role's Django group (glossary: owner, admin, cs_supervisor, operations, agent).

Created by migration ``0002_role_groups``; afterwards a platform superuser may edit a group's permissions in
admin, and an owner grants extra rights per account.
"""

from typing import Any

from django.apps.registry import Apps

VIEW_COMMERCE = [
    "view_buyer",
    "view_product",
    "view_order",
    "view_orderitem",
    "view_addresschange",
]
RIGHTS = [
    "configure_robot",
    "manage_routing",
    "configure_faq",
    "configure_self_service",
    "configure_service_window",
    "manage_team_phrases",
    "view_reports",
    "view_full_phone",
]
# After-sale requests: seen and acted on from the chat (every agent) and the operations page.
AFTER_SALE = ["view_aftersalerequest", "add_aftersalerequest", "change_aftersalerequest"]
# Shop operations (backoffice/operations/): the supervisor's pages and their one-click actions.
OPERATIONS = [
    "view_lateshipment",
    "view_servicerequest",
    "change_servicerequest",
    "view_packagealert",
    "view_delayreport",
    "add_delayreport",
    "delete_delayreport",  # withdraw a pending report (backoffice/operations/delays.py)
    *AFTER_SALE,
]
SHOP_ADMIN = [
    "view_shop",
    "change_shop",
    "view_staffaccount",
    "add_staffaccount",
    "change_staffaccount",
    "view_apikey",
    "add_apikey",
    "delete_apikey",
    *VIEW_COMMERCE,
    *RIGHTS,
    *OPERATIONS,
    "view_opssettings",
    "change_opssettings",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    "owner": SHOP_ADMIN,
    "admin": SHOP_ADMIN,
    "cs_supervisor": [
        "view_staffaccount",
        *VIEW_COMMERCE,
        "manage_routing",
        "manage_team_phrases",
        "view_reports",
        *OPERATIONS,
    ],
    "operations": [
        *VIEW_COMMERCE,
        *OPERATIONS,
        "configure_robot",
        "configure_faq",
        "configure_self_service",
        "configure_service_window",
        "view_reports",
    ],
    "agent": [*VIEW_COMMERCE, "view_lateshipment", *AFTER_SALE],
}


def grant_role_permissions(apps: Apps, models: tuple[str, ...]) -> None:
    """For a data migration: each role's group gets the permissions of ``models`` (backoffice model names)
    that its defaults above name. Permissions are normally created after migrate; created here first."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    create_permissions(global_apps.get_app_config("backoffice"), apps=apps, verbosity=0)
    group_model: Any = apps.get_model("auth", "Group")
    permission_model: Any = apps.get_model("auth", "Permission")
    perms = {
        p.codename: p
        for p in permission_model.objects.filter(
            content_type__app_label="backoffice", content_type__model__in=models
        )
    }
    for role, codenames in ROLE_PERMISSIONS.items():
        group = group_model.objects.get_or_create(name=role)[0]
        group.permissions.add(*[perms[c] for c in codenames if c in perms])
