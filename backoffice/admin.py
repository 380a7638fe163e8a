"""Django admin for shop owners: every list, form, dropdown and URL is scoped to the current shop.

``ShopScopedAdmin`` applies the tenant scope in one place: the changelist queryset, foreign-key and
many-to-many choices, and object URLs (another shop's id is a 404, not the stock admin redirect).
Writes go through the services: ``ServiceWritesMixin`` (used by every app's admin that writes) makes
``save_form`` the one write and gives the forms the request's account, for the services' checks.
``SpreadsheetAdminMixin`` is the spreadsheet export actions and import page of the knowledge base's and the
team phrases' admins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from axes.handlers.proxy import AxesProxyHandler  # type: ignore[import-untyped]  # ships no types
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import models
from django.db.models import BooleanField, QuerySet, Value
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from backoffice import privacy, services, spreadsheet, validation
from backoffice.access import Right, request_has_right
from backoffice.admin_site import CleanLookups, lockout_message, permission_name
from backoffice.errors import Conflict, DomainError, Invalid
from backoffice.models import (
    AddressChange,
    AfterSaleRequest,
    AfterSaleStep,
    ApiKey,
    Buyer,
    ContactView,
    ContactViewPlace,
    DelayReport,
    DelayReportStatus,
    LateShipment,
    Order,
    OrderItem,
    PackageAlert,
    Product,
    Role,
    ServiceRequest,
    Shop,
    StaffAccount,
)
from backoffice.operations import delays


def current_shop(request: HttpRequest) -> Shop | None:
    return getattr(request, "shop", None)


def request_staff(request: HttpRequest) -> StaffAccount | None:
    """The request's account in its current shop (None for a platform superuser without one)."""
    return getattr(request, "staff", None)


def form_error(
    form: forms.BaseForm, exc: DomainError, aliases: Mapping[str, str] | None = None
) -> ValidationError:
    """Put a service's field errors on the form's fields (``aliases``: a service field name to the form's,
    such as group_id to group); return what is left for the form as a whole."""
    for error in exc.errors:
        name = str(error.get("field"))
        name = (aliases or {}).get(name, name)
        if name in form.fields:
            form.add_error(name, error["message"])
    return ValidationError(exc.message)


def file_download(data: bytes, *, fmt: str, stem: str) -> HttpResponse:
    """An export file (``backoffice.spreadsheet``'s csv or xlsx) as a download named ``stem-YYYYMMDD.fmt``."""
    response = HttpResponse(data, content_type=spreadsheet.CONTENT_TYPES[fmt])
    name = f"{stem}-{timezone.localdate():%Y%m%d}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class ShopScopedAdmin(CleanLookups):
    """Tenant scope for a shop-owned model: superusers see all shops, everyone else their current shop."""

    shop_scoped = True  # the console site makes every other admin platform-only (backoffice/admin_site.py)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        scoped: QuerySet[Any] = qs.for_shop(current_shop(request))  # type: ignore[attr-defined]
        return scoped

    def _scope_choices(self, request: HttpRequest, model: type[models.Model], kwargs: dict[str, Any]) -> None:
        if request.user.is_superuser or not hasattr(model._default_manager, "for_shop"):
            return
        kwargs["queryset"] = model._default_manager.for_shop(current_shop(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scope_choices(request, db_field.related_model, kwargs)
        if _by_integer_id(db_field):
            kwargs.setdefault("form_class", validation.IdChoiceField)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        self._scope_choices(request, db_field.related_model, kwargs)
        if _by_integer_id(db_field):
            kwargs.setdefault("form_class", validation.IdMultipleChoiceField)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request: HttpRequest, opts: Any, object_id: str) -> Any:
        # The stock admin redirects to the index; an id of another shop must look exactly like a missing one.
        raise Http404(_("No such object in this shop."))

    def get_list_filter(self, request: HttpRequest) -> Any:
        """The list filters, with every filter on a related object offering only the objects of this list's
        own (shop-scoped) rows: a plain related-field filter lists every shop's (their names leaked)."""
        relations = {f.name for f in self.opts.fields if f.is_relation}
        filters: list[Any] = [
            (f, admin.RelatedOnlyFieldListFilter) if isinstance(f, str) and f in relations else f
            for f in super().get_list_filter(request)
        ]
        if request.user.is_superuser and self.model is not Shop and "shop" in relations:
            filters.insert(0, "shop")
        return filters


def _by_integer_id(db_field: Any) -> bool:
    """Whether a relation's form field chooses rows by an integer primary key (every model's here)."""
    target = db_field.target_field if db_field.many_to_one else db_field.related_model._meta.pk
    return bool(target.primary_key and isinstance(target, models.AutoField | models.BigAutoField))


class ServiceWritesMixin:
    """An admin whose writes are service calls: the subclass's ``save_form`` calls the service and returns
    what it saved, and Django's own ``save_model`` / ``save_related`` write nothing. Its forms know the
    request (``form.request``), the request's account (``form.actor``) and the shop the object belongs to
    (``form.shop``: the object's, or the current one for a new object), so that their ``clean`` can run the
    services' checks and a refused write shows on the form."""

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        shop = getattr(obj, "shop", None) if obj is not None else current_shop(request)
        bound = {"request": request, "actor": getattr(request, "staff", None), "shop": shop}
        return type(form_class.__name__, (form_class,), bound)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Saved by ``save_form`` through the services."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Related rows are written by the services."""


class ReadOnlyAdmin(ShopScopedAdmin):
    """Commerce data arrives through the integration API; in admin it is visible, never edited."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- spreadsheet import and export (the knowledge base's and the team phrases' admins) ---------------------


class ImportCounts(Protocol):
    """What an app's spreadsheet import reports (``robot.spreadsheet``'s and ``phrases.services``'
    ``ImportResult``)."""

    @property
    def created(self) -> int: ...
    @property
    def updated(self) -> int: ...
    @property
    def unchanged(self) -> int: ...


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV or Excel file"), required=True)


def named_columns(errors: list[dict[str, Any]], names: Mapping[str, StrOrPromise]) -> list[dict[str, Any]]:
    """The row errors with each column named as the page names it: the errors carry the file's column keys
    (``names``: a key to the page's name; "file" is the file as a whole)."""
    names = {**names, "file": _("file")}
    return [{**error, "field": names.get(error.get("field", ""), error.get("field"))} for error in errors]


def export_action(fmt: str, description: StrOrPromise) -> Callable[..., HttpResponse]:
    """The admin action that downloads the selected rows as a ``fmt`` file (csv or xlsx), for an admin with
    ``SpreadsheetAdminMixin``; the description is the admin's, so that each list words it for its rows."""

    @admin.action(description=description)
    def export(
        modeladmin: SpreadsheetAdminMixin, request: HttpRequest, queryset: QuerySet[Any]
    ) -> HttpResponse:
        return file_download(modeladmin.export_file(queryset, fmt), fmt=fmt, stem=modeladmin.export_stem)

    return export


class SpreadsheetAdminMixin(admin.ModelAdmin[Any]):
    """An admin whose rows go out and come in as spreadsheets, so that every such list trades files the same
    way: export actions (``export_action``) and an import page at ``import/``, named
    ``<app_label>_<model_name>_import``, for those who may add. The page takes an upload (a refused file
    lists its bad rows by the page's column names), says what it created, updated and left alone, and
    returns to the list. The subclass gives its template and title, and says how its rows are written out
    (``export_file``), read in (``import_upload``) and named (``import_columns``)."""

    export_stem: str  # the download's name, before the date
    import_template: str
    import_title: StrOrPromise

    def export_file(self, queryset: QuerySet[Any], fmt: str) -> bytes:
        raise NotImplementedError

    def import_upload(self, actor: StaffAccount, upload: UploadedFile) -> ImportCounts:
        """Import the uploaded file for ``actor`` (a ``DomainError`` lists the bad rows)."""
        raise NotImplementedError

    def import_columns(self) -> Mapping[str, StrOrPromise]:
        """The page's name of each of the file's column keys, for the bad rows' table."""
        raise NotImplementedError

    def import_posted(
        self, request: HttpRequest, actor: StaffAccount, form: ImportForm
    ) -> ImportCounts | None:
        """The import a POST asks for: the upload's, or None while the form is invalid (it shows why). An
        admin whose page has other buttons overrides it."""
        if not form.is_valid():
            return None
        return self.import_upload(actor, form.cleaned_data["file"])

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.import_view)
        name = f"{self.opts.app_label}_{self.opts.model_name}_import"
        return [path("import/", view, name=name), *super().get_urls()]

    def import_view(self, request: HttpRequest) -> HttpResponse:
        actor = request_staff(request)
        if not self.has_add_permission(request) or actor is None:
            raise PermissionDenied
        form = ImportForm(request.POST or None, request.FILES or None)
        errors: list[dict[str, Any]] = []
        if request.method == "POST":
            try:
                result = self.import_posted(request, actor, form)
            except DomainError as exc:
                messages.error(request, exc.message)
                errors = named_columns(exc.errors, self.import_columns())
            else:
                if result is not None:
                    messages.success(
                        request,
                        _("Imported: %(created)d new, %(updated)d updated, %(unchanged)d unchanged.")
                        % {
                            "created": result.created,
                            "updated": result.updated,
                            "unchanged": result.unchanged,
                        },
                    )
                    changelist = f"admin:{self.opts.app_label}_{self.opts.model_name}_changelist"
                    return HttpResponseRedirect(reverse(changelist))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": self.import_title,
            "form": form,
            "row_errors": errors,
        }
        return render(request, self.import_template, context)


# --- shop --------------------------------------------------------------------------------------------------


class ShopCreationForm(forms.ModelForm[Shop]):
    owner_login = forms.CharField(label=_("owner login"), max_length=150)
    owner_password = forms.CharField(label=_("owner password"), widget=forms.PasswordInput, required=False)

    class Meta:
        model = Shop
        fields = ["name", "manager_name"]


@admin.register(Shop)
class ShopAdmin(ServiceWritesMixin, ShopScopedAdmin):
    list_display = ["name", "manager_name", "reception_cap", "created_at"]
    search_fields = ["name"]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = ShopCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["name", "manager_name", "owner_login", "owner_password"]
        return ["name", "manager_name", "reception_cap", "time_zone"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["manager_name"] if obj is not None else []

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Shops are created by the platform, with their owner.
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        if not change:
            data = form.cleaned_data
            return services.create_shop(
                name=data["name"],
                manager_name=data["manager_name"],
                owner_login=data["owner_login"],
                owner_password=data["owner_password"] or None,
            )
        shop = form.instance
        Shop.objects.filter(pk=shop.pk).update(name=form.cleaned_data["name"])
        services.set_time_zone(shop=shop, name=form.cleaned_data["time_zone"])
        return services.set_reception_cap(shop=shop, cap=form.cleaned_data["reception_cap"])


# --- staff accounts ----------------------------------------------------------------------------------------


class StaffAccountForm(forms.ModelForm[StaffAccount]):
    login = forms.CharField(
        label=_("login"),
        max_length=150,
        help_text=_(
            "A new login is created; an existing login (the same person in another shop) needs its password."
        ),
    )
    password = forms.CharField(label=_("password"), widget=forms.PasswordInput, required=False)

    class Meta:
        model = StaffAccount
        fields = ["display_name", "role", "im_enabled", "is_active", "rights"]
        widgets = {"rights": forms.CheckboxSelectMultiple}

    shop: Shop | None = None  # set by ServiceWritesMixin.get_form
    request: HttpRequest  # likewise

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "rights" in self.fields:  # not when the account is only viewed (a supervisor): every field is text
            self.fields["rights"].queryset = services.grantable_rights()  # type: ignore[attr-defined]
            self.fields["rights"].label_from_instance = permission_name  # type: ignore[attr-defined]
        if "role" in self.fields:
            # The owner's role is read-only; nobody else can be made owner.
            self.fields["role"].choices = [c for c in Role.choices if c[0] != Role.OWNER]  # type: ignore[attr-defined]
        if self.instance.pk:
            del self.fields["login"], self.fields["password"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            if self.instance.pk:
                services.check_staff_update(
                    staff=self.instance,
                    display_name=data.get("display_name", self.instance.display_name),
                    role=data.get("role", self.instance.role),
                    is_active=data.get("is_active", self.instance.is_active),
                )
            elif self.shop is not None and "login" in data:
                self._check_new_account(self.shop, data)
        except Invalid as exc:
            raise ValidationError(exc.message) from exc
        return data

    def _check_new_account(self, shop: Shop, data: dict[str, Any]) -> None:
        """Linking an existing login proves its password, so the check is a sign-in attempt of that login from
        this address as far as django-axes goes: refused while either is locked out (whether or not the login
        exists, so the refusal tells nothing), and a wrong password counts as a failed sign-in."""
        credentials = {"username": data["login"]}
        if not AxesProxyHandler.is_allowed(self.request, credentials):
            raise ValidationError(lockout_message())
        try:
            services.check_new_staff_account(
                shop=shop, login=data["login"], password=data.get("password"), role=data.get("role", "")
            )
        except Invalid as exc:
            if any(error.get("field") == "password" for error in exc.errors):
                user_login_failed.send(sender=type(self), credentials=credentials, request=self.request)
                # This form shows the refusal; axes' middleware would swap the page for the sign-in page.
                self.request.axes_locked_out = False  # type: ignore[attr-defined]
            raise

    def _post_clean(self) -> None:
        # The services validate and write; skip the model's own full_clean on an unsaved instance.
        pass


@admin.register(StaffAccount)
class StaffAccountAdmin(ServiceWritesMixin, ShopScopedAdmin):
    form = StaffAccountForm
    list_display = ["display_name", "login_name", "role", "im_enabled", "is_active", "max_concurrent"]
    list_filter = ["role", "im_enabled", "is_active"]
    search_fields = ["display_name", "user__username"]

    @admin.display(description=_("login"), ordering="user__username")
    def login_name(self, obj: StaffAccount) -> str:
        return obj.user.get_username()

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).select_related("user", "shop")

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ["login", "password", "display_name", "role", "im_enabled", "rights"]
        return ["login_name", "display_name", "role", "im_enabled", "is_active", "max_concurrent", "rights"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # A new account is an agent (客服) unless chosen otherwise; an agent chats: IM ticked.
        return {"im_enabled": True, **super().get_changeform_initial_data(request)}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return []
        fixed = ["login_name", "max_concurrent"]
        if obj.is_owner:
            fixed += ["display_name", "role", "is_active"]
        return fixed

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An account belongs to the shop one is working in; a superuser without a shop uses shell or Shop.
        return super().has_add_permission(request) and current_shop(request) is not None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Accounts are disabled, not deleted, so that chat history keeps its agents.
        return False

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        data = form.cleaned_data
        if not change:
            return services.create_staff_account(
                shop=form.shop,
                login=data["login"],
                password=data.get("password") or None,
                display_name=data["display_name"],
                role=data["role"],
                im_enabled=data["im_enabled"],
                rights=data["rights"],
            )
        staff = StaffAccount.objects.get(pk=form.instance.pk)
        return services.update_staff_account(
            staff=staff,
            display_name=data.get("display_name", staff.display_name),
            role=data.get("role", staff.role),
            im_enabled=data["im_enabled"],
            is_active=data.get("is_active", staff.is_active),
            rights=data["rights"],
        )


# --- commerce data (read-only) -----------------------------------------------------------------------------


def _sees_full_contact(request: HttpRequest) -> bool:
    """Whether the request's person sees full phone numbers and addresses (``backoffice.privacy``): the
    right ``view_full_phone`` in the current shop (the owner always), or a platform superuser."""
    return request_has_right(request, Right.VIEW_FULL_PHONE)


class ContactMasking:
    """The rows of an order admin or inline carry ``full_contact`` (annotated from the request's right, so
    that the display methods, which get only the row, know whether to mask)."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs: QuerySet[Any] = super().get_queryset(request)  # type: ignore[misc]
        annotated: QuerySet[Any] = qs.annotate(
            full_contact=Value(_sees_full_contact(request), output_field=BooleanField())
        )
        return annotated


def _full(obj: Any) -> bool:
    return bool(getattr(obj, "full_contact", False))


@admin.register(Buyer)
class BuyerAdmin(ReadOnlyAdmin):
    """A buyer holds no phone number (their orders' receivers do). Those who may see full numbers also find
    a buyer by the full phone number of one of their orders; for anyone else a phone number finds nothing,
    so that a search cannot tell whether a number belongs to a buyer of the shop."""

    list_display = ["nickname", "platform_id", "tags", "first_paid_at", "created_at"]
    search_fields = ["nickname", "platform_id"]

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = list(super().get_search_fields(request))
        return [*fields, "=orders__receiver_phone"] if _sees_full_contact(request) else fields


@admin.register(Product)
class ProductAdmin(ReadOnlyAdmin):
    list_display = ["title", "platform_id", "price", "category", "updated_at"]
    list_filter = ["category"]
    search_fields = ["title", "platform_id"]


class OrderItemInline(admin.TabularInline[OrderItem, Order]):
    model = OrderItem
    fields = readonly_fields = ("title", "product", "quantity", "unit_price")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AddressChangeInline(ContactMasking, admin.TabularInline[AddressChange, Order]):
    model = AddressChange
    fields = readonly_fields = ("changed_at", "old_address_shown", "new_address_shown")
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("old address"))
    def old_address_shown(self, obj: AddressChange) -> str:
        return obj.old_address if _full(obj) else privacy.mask_contact_line(obj.old_address)

    @admin.display(description=_("new address"))
    def new_address_shown(self, obj: AddressChange) -> str:
        return obj.new_address if _full(obj) else privacy.mask_contact_line(obj.new_address)


# The order page's fields: the model's, with the receiver phone and address in their shown (maybe masked)
# form.
ORDER_FIELDS: list[Any] = [
    *(
        {"receiver_phone": "receiver_phone_shown", "address": "address_shown"}.get(f.name, f.name)
        for f in Order._meta.fields
        if f.editable and not f.auto_created and f.name != "shop"
    ),
    "updated_at",
]


@admin.register(Order)
class OrderAdmin(ContactMasking, ReadOnlyAdmin):
    """Receiver phone numbers and addresses, in the list and on the order page, are masked for accounts
    without the right to see them in full (``backoffice.privacy``); for those with it each page records what
    it showed in full (``ContactView``). Search by the full phone number is theirs only (see BuyerAdmin)."""

    list_display = [
        "number",
        "buyer",
        "status",
        "after_sale_status",
        "paid_amount",
        "receiver",
        "created_at",
        "ship_by",
    ]
    list_filter = ["status", "after_sale_status"]
    search_fields = ["number", "buyer__nickname", "tracking_number"]
    list_select_related = ["buyer"]
    date_hierarchy = "created_at"
    inlines = [OrderItemInline, AddressChangeInline]
    fields = ORDER_FIELDS
    readonly_fields = ["receiver_phone_shown", "address_shown", "updated_at"]

    def get_search_fields(self, request: HttpRequest) -> Any:
        fields = list(super().get_search_fields(request))
        return [*fields, "=receiver_phone"] if _sees_full_contact(request) else fields

    @admin.display(description=_("receiver"), ordering="receiver_name")
    def receiver(self, obj: Order) -> str:
        return " ".join(part for part in (obj.receiver_name, self.receiver_phone_shown(obj)) if part)

    @admin.display(description=_("receiver phone"))
    def receiver_phone_shown(self, obj: Order) -> str:
        return obj.receiver_phone if _full(obj) else privacy.mask_phone(obj.receiver_phone)

    @admin.display(description=_("address"))
    def address_shown(self, obj: Order) -> str:
        return obj.address if _full(obj) else privacy.mask_address(obj.address)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            self._record(request, changelist.result_list, ContactViewPlace.ADMIN_LIST)
        return response

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        response = super().change_view(request, object_id, form_url, extra_context)
        original = getattr(response, "context_data", {}).get("original")
        if original is not None:
            self._record(request, [original], ContactViewPlace.ADMIN_FORM)
        return response

    def _record(self, request: HttpRequest, orders: Iterable[Order], place: str) -> None:
        if _sees_full_contact(request):
            services.record_contact_views(
                user=request.user, staff=getattr(request, "staff", None), orders=orders, place=place
            )


@admin.register(ContactView)
class ContactViewAdmin(ReadOnlyAdmin):
    """Who was shown which order's full phone number and address, when and where: the owner's to read
    (and a platform superuser's), nobody's to change."""

    list_display = ["at", "user", "staff", "buyer", "order", "place"]
    list_filter = ["place"]
    list_select_related = ["user", "staff__shop", "buyer", "order"]
    search_fields = ["order__number", "buyer__nickname", "staff__display_name", "user__username"]
    date_hierarchy = "at"

    def _is_owner(self, request: HttpRequest) -> bool:
        staff = getattr(request, "staff", None)
        return bool(request.user.is_superuser or (staff is not None and staff.is_owner))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._is_owner(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._is_owner(request)


# --- API keys ----------------------------------------------------------------------------------------------


class ApiKeyForm(ModelForm[ApiKey]):
    class Meta:
        model = ApiKey
        fields = ["name"]


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceWritesMixin, ShopScopedAdmin):
    form = ApiKeyForm
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["name"] if obj is None else ["name", *self.readonly_fields]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and current_shop(request) is not None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        key, raw = services.create_api_key(
            shop=current_shop(request),  # type: ignore[arg-type]
            name=form.cleaned_data["name"],
            created_by=request.user,
        )
        request.new_api_key = raw  # type: ignore[attr-defined]  # for response_add, this request only
        return key

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        """The raw key, once, in this response's page: never in a message (the messages framework keeps
        them in a cookie) nor anywhere else; admin pages are sent with Cache-Control: no-store."""
        context = {
            **self.admin_site.each_context(request),
            "title": _("New API key"),
            "opts": self.opts,
            "key": obj,
            "raw_key": request.new_api_key,  # type: ignore[attr-defined]
        }
        return TemplateResponse(request, "admin/backoffice/apikey/created.html", context)

    @admin.action(description=_("Revoke selected API keys"), permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        count = services.revoke_api_keys(keys=queryset)
        messages.success(request, _("%(count)d key(s) revoked.") % {"count": count})

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("backoffice.delete_apikey"))


# --- shop operations (backoffice/operations/): read-only, the tasks and services write them ---------------
@admin.register(LateShipment)
class LateShipmentAdmin(ReadOnlyAdmin):
    list_display = ["order", "ship_by", "detected_at", "unit_price", "voucher_amount"]
    search_fields = ["order__number"]
    list_select_related = ["order"]


@admin.register(PackageAlert)
class PackageAlertAdmin(ReadOnlyAdmin):
    list_display = ["order", "kind", "shipped_at", "created_at", "closed_at"]
    list_filter = ["kind"]
    search_fields = ["order__number"]
    list_select_related = ["order"]


@admin.register(ServiceRequest)
class ServiceRequestAdmin(ReadOnlyAdmin):
    list_display = ["number", "category", "subject", "received_at", "due_at", "state", "warned_at"]
    list_filter = ["category", "state"]
    search_fields = ["number", "subject"]


class AfterSaleStepInline(admin.TabularInline[AfterSaleStep, AfterSaleRequest]):
    model = AfterSaleStep
    extra = 0
    can_delete = False
    fields = ["at", "action", "state", "detail", "actor"]
    readonly_fields = ["at", "action", "state", "detail", "actor"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AfterSaleRequest)
class AfterSaleRequestAdmin(ReadOnlyAdmin):
    """The actions are taken on the operations page and in the chat (through the services)."""

    list_display = ["number", "order", "kind", "order_state", "reason", "state", "created_at"]
    list_filter = ["kind", "order_state", "state"]
    search_fields = ["number", "order__number"]
    list_select_related = ["order"]
    inlines = [AfterSaleStepInline]


@admin.register(DelayReport)
class DelayReportAdmin(ReadOnlyAdmin):
    """Filed on the delay report center page (/ops/delay-reports/) or by the integration, reviewed by the
    platform: its API, or here by a platform superuser (approve / reject the selected pending reports,
    ``delays.review``). Only a superuser deletes, through ``delays.delete_report`` (the evidence files go
    too); the shop withdraws its pending reports on its page."""

    list_display = ["__str__", "reason", "region", "status", "created_at", "reviewed_at"]
    list_filter = ["reason", "status"]
    search_fields = ["region", "note"]
    exclude = ["orders"]
    actions = ["approve", "reject"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_superuser)

    def delete_model(self, request: HttpRequest, obj: DelayReport) -> None:
        delays.delete_report(report=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[DelayReport]) -> None:
        for report in queryset:
            delays.delete_report(report=report)

    def _review(self, request: HttpRequest, queryset: QuerySet[DelayReport], status: str) -> None:
        done = skipped = 0
        for report in queryset:
            try:
                delays.review(report=report, status=status)
            except Conflict:
                skipped += 1
            else:
                done += 1
        messages.success(
            request,
            _("%(done)d report(s) reviewed, %(skipped)d already reviewed.")
            % {"done": done, "skipped": skipped},
        )

    @admin.action(description=_("Approve the selected delay reports"), permissions=["review"])
    def approve(self, request: HttpRequest, queryset: QuerySet[DelayReport]) -> None:
        self._review(request, queryset, DelayReportStatus.APPROVED)

    @admin.action(description=_("Reject the selected delay reports"), permissions=["review"])
    def reject(self, request: HttpRequest, queryset: QuerySet[DelayReport]) -> None:
        self._review(request, queryset, DelayReportStatus.REJECTED)
