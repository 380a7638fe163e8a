"""The console's admin site, in its own module so that the lazy default site never imports backoffice.admin
half-way (which would register the models on a throw-away instance).

- Shop models are registered with admins derived from ``backoffice.admin.ShopScopedAdmin`` (marked
  ``shop_scoped``). Every other registered model (logins and groups, Celery beat's schedules, the sign-in
  records of django-axes) is the platform's: only platform superusers see it, and to anyone else each of
  its URLs is a 404, so an existing id reads like a missing one (the stock admin answered 403 and 302).
- Sign-in throttling (django-axes, configured in settings): the sign-in page's answer while a login or an
  address is locked out, and the address sign-ins are counted against.
- The words of every admin in the current language where Django keeps English: permission names (stored in
  English in the database) and the field names of the history's change messages.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import translation
from django.utils.text import capfirst
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from backoffice import validation

if TYPE_CHECKING:
    from django.contrib.auth.models import Permission


class CleanLookups(admin.ModelAdmin[Any]):
    """Every admin's lists and searches (shop and platform models alike) take only text that can be stored."""

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # A search term or list filter that no stored text can hold (a NUL: PostgreSQL refuses it in a
        # query, a 500) is a wacky lookup: the stock admin answers it by showing the list without them.
        if not all(validation.is_clean_text(v) for k, values in request.GET.lists() for v in (k, *values)):
            raise IncorrectLookupParameters
        return super().get_changelist_instance(request)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[Any], search_term: str) -> Any:
        # The changelist is guarded above; this also covers the autocomplete views' ``term``.
        if not validation.is_clean_text(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        """Permission choices (a role group's, a login's) named in the current language."""
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.related_model._meta.label == "auth.Permission":
            field.label_from_instance = labelled_permission  # type: ignore[method-assign, assignment]
        return field

    def history_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> Any:
        """The history, with the changed fields named in the current language (``field_labels``)."""
        response = super().history_view(request, object_id, extra_context)
        context = getattr(response, "context_data", None) or {}
        if context.get("action_list"):
            labels = field_labels([self.model, *(inline.model for inline in self.inlines)])
            for entry in context["action_list"]:
                entry.change_message = relabelled(entry.change_message, labels)  # shown, never saved
        return response

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """What a deletion removes, as the stock admin lists it, without the rows that only link two objects
        (an auto-created many-to-many table, which Django names in English: "Phrase-product relationship:
        Phrase_products object (1)"): they go with the object, and the list names what they linked."""
        from django.apps import apps

        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        links = [m._meta for m in apps.get_models(include_auto_created=True) if m._meta.auto_created]
        prefixes = tuple(f"{capfirst(str(opts.verbose_name))}: " for opts in links)
        plurals = {str(opts.verbose_name_plural) for opts in links}
        counts = {name: count for name, count in counts.items() if str(name) not in plurals}
        return _without_links(deleted, prefixes), counts, perms_needed, protected


def _without_links(items: list[Any], prefixes: tuple[str, ...]) -> list[Any]:
    """A nested list of the delete page without the entries starting with one of ``prefixes``."""
    kept: list[Any] = []
    for item in items:
        if isinstance(item, list):
            if children := _without_links(item, prefixes):
                kept.append(children)
        elif not str(item).startswith(prefixes):
            kept.append(item)
    return kept


# --- words Django keeps in English ----------------------------------------------------------------------

# Django makes these four permissions of every model at migrate time and stores their names in English.
PERMISSION_ACTIONS = {
    "add": pgettext_lazy("permission", "Can add %(model)s"),
    "change": pgettext_lazy("permission", "Can change %(model)s"),
    "delete": pgettext_lazy("permission", "Can delete %(model)s"),
    "view": pgettext_lazy("permission", "Can view %(model)s"),
}


def permission_name(perm: Permission) -> str:
    """A permission's name in the current language, said from its model: a right of the model's
    ``Meta.permissions`` by its (translated) name there, a default permission by its action and the model's
    verbose name. The stored name (English, made at migrate time) only for a model that is gone."""
    from django.contrib.contenttypes.models import ContentType

    model = ContentType.objects.get_for_id(perm.content_type_id).model_class()
    if model is None:
        return perm.name
    opts = model._meta
    custom = dict(opts.permissions)
    if perm.codename in custom:
        return str(custom[perm.codename])
    action, _sep, model_name = perm.codename.partition("_")
    if model_name == opts.model_name and action in PERMISSION_ACTIONS:
        return PERMISSION_ACTIONS[action] % {"model": opts.verbose_name}
    return perm.name


def labelled_permission(perm: Permission) -> str:
    """A permission as Django's widget shows it ("app | model | name"), in the current language."""
    from django.contrib.contenttypes.models import ContentType

    return f"{ContentType.objects.get_for_id(perm.content_type_id)} | {permission_name(perm)}"


def field_labels(models: Iterable[type[Model]]) -> dict[str, str]:
    """The models' field names as a change message stores them (a form's English label, so the name of the
    model field's verbose name with its first letter capitalized), each to its name in the current language.
    Django looks the stored label up in the catalog without a context and capitalized, where the catalog has
    the verbose name in lower case and, for a word of two meanings, with a context: it stayed English."""
    fields = [f for model in models for f in model._meta.get_fields() if hasattr(f, "verbose_name")]
    with translation.override(None):
        stored = [str(f.verbose_name) for f in fields]
    labels: dict[str, str] = {}
    for english, field in zip(stored, fields, strict=True):
        labels.setdefault(capfirst(english), capfirst(str(field.verbose_name)))
        labels.setdefault(english, str(field.verbose_name))
    return labels


def relabelled(change_message: str, labels: dict[str, str]) -> str:
    """A LogEntry's change message (JSON, see ``LogEntry.get_change_message``) with the changed fields'
    labels replaced by ``labels``; anything else unchanged."""
    try:
        messages = json.loads(change_message) if change_message.startswith("[") else None
    except ValueError:
        return change_message
    if not isinstance(messages, list):
        return change_message
    for message in messages:
        changed = message.get("changed") if isinstance(message, dict) else None
        if isinstance(changed, dict) and isinstance(changed.get("fields"), list):
            changed["fields"] = [
                labels.get(name, name) if isinstance(name, str) else name for name in changed["fields"]
            ]
    return json.dumps(messages)


class PlatformOnlyAdmin(CleanLookups):
    """Mixed in front of the admin of a platform model: superusers only, a 404 for everyone else."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_view_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser) and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser) and super().has_delete_permission(request, obj)

    def get_urls(self) -> list[URLPattern]:
        urls: list[URLPattern] = super().get_urls()
        for pattern in urls:
            pattern.callback = _superusers_only(pattern.callback)
        return urls


def _superusers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def gated(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_superuser:
            raise Http404(gettext("The requested admin page does not exist."))
        return view(request, *args, **kwargs)

    return gated


class ConsoleAdminSite(admin.AdminSite):
    site_header = _("Shop customer-service console")
    site_title = _("CS console")
    index_title = _("Shop settings")

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return bool(user.is_superuser or getattr(request, "staff", None) is not None)

    def logout(self, request: HttpRequest, extra_context: Any = None) -> TemplateResponse:
        """Sign out, then close the person's chat sockets that this session opened: each socket of their
        accounts checks its session again (``services.revoke_sockets``) and the signed-out ones close."""
        from backoffice import services  # the admin site is built before the apps' models are ready
        from backoffice.models import StaffAccount

        user = request.user
        accounts = StaffAccount.objects.filter(user_id=user.pk) if user.is_authenticated else None
        staff_ids = list(accounts.values_list("pk", flat=True)) if accounts is not None else []
        response = super().logout(request, extra_context)
        services.revoke_sockets(staff_ids)
        return response

    def register(
        self,
        model_or_iterable: type[Model] | Iterable[type[Model]],
        admin_class: type[admin.ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        """Register as usual; an admin not marked ``shop_scoped`` becomes platform-only."""
        chosen: type[admin.ModelAdmin[Any]] = admin_class or admin.ModelAdmin
        if not getattr(chosen, "shop_scoped", False):
            chosen = type(chosen.__name__, (PlatformOnlyAdmin, chosen), {"__module__": chosen.__module__})
        super().register(model_or_iterable, chosen, **options)


# --- sign-in throttling (django-axes) ---------------------------------------------------------------------


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return gettext(
        "Too many failed sign-ins for this login or from this address. Try again in %(minutes)d minutes."
    ) % {"minutes": minutes}


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """django-axes' answer to a sign-in while its login or address is locked out: the sign-in page again, with
    the reason, as a 429. (Axes passes the view's response only when its middleware runs synchronously, so
    the page is built here.)"""
    from django.contrib.admin.forms import AdminAuthenticationForm

    # Passed on as given: the sign-in view checks it when the form is sent again.
    target = (
        request.POST.get(REDIRECT_FIELD_NAME)
        or request.GET.get(REDIRECT_FIELD_NAME)
        or reverse("admin:index")
    )
    context = {
        **admin.site.each_context(request),
        "title": gettext("Log in"),
        "app_path": request.get_full_path(),
        "form": AdminAuthenticationForm(request, initial={"username": request.POST.get("username", "")}),
        "lockout_message": lockout_message(),
        REDIRECT_FIELD_NAME: target,
    }
    return render(request, "admin/login.html", context, status=429)


def client_address(request: HttpRequest) -> str | None:
    """The address sign-ins are counted against: REMOTE_ADDR, or, behind TRUSTED_PROXY_HOPS proxies that each
    append to X-Forwarded-For, the entry the outermost proxy appended (the entries left of it are the
    client's own to write). A value that is no IP address falls back to REMOTE_ADDR."""
    remote: str | None = request.META.get("REMOTE_ADDR")
    hops = settings.TRUSTED_PROXY_HOPS
    if hops <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(forwarded) < hops:
        return remote
    try:
        return str(ipaddress.ip_address(forwarded[-hops]))
    except ValueError:
        return remote
