"""Admin for team phrases and their groups, for the shop owner and accounts with the team-phrase right.

Personal phrases are not listed here: they are their agent's alone and are managed from the workbench. The
list shows how often each phrase was used (sortable), so unused phrases can be pruned. Actions export the
selected phrases; the "import" page loads a CSV/XLSX file or the built-in template library. Every write goes
through ``phrases.services``; tenancy comes from ``ShopScopedAdmin``.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_stubs_ext import StrOrPromise

from backoffice.access import Right, request_has_right
from backoffice.admin import (
    ImportCounts,
    ImportForm,
    ServiceWritesMixin,
    ShopScopedAdmin,
    SpreadsheetAdminMixin,
    current_shop,
    export_action,
)
from backoffice.admin import form_error as shared_form_error
from backoffice.admin import request_staff as current_staff
from backoffice.errors import DomainError
from backoffice.models import ShopQuerySet, StaffAccount
from backoffice.validation import parse_id
from phrases import services
from phrases.models import Phrase, PhraseGroup
from phrases.spreadsheet import COLUMNS
from routing import attachments


def form_error(form: forms.BaseForm, exc: DomainError) -> ValidationError:
    return shared_form_error(form, exc, {"group_id": "group"})


class TeamPhraseAdmin(ServiceWritesMixin, ShopScopedAdmin):
    """Team rows only; the team-phrase right (the owner has it) opens the pages."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).filter(owner__isnull=True)

    def _may_manage(self, request: HttpRequest) -> bool:
        return request_has_right(request, Right.MANAGE_TEAM_PHRASES)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_manage(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_manage(request) and current_staff(request) is not None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)


# --- phrases -----------------------------------------------------------------------------------------------


class PhraseForm(forms.ModelForm[Phrase]):
    keywords = forms.CharField(
        label=_("keywords"), required=False, help_text=_("Separated by commas, for example: 发货,快递")
    )
    image_file = forms.FileField(
        label=_("image"),
        required=False,
        help_text=_("JPEG, PNG, GIF or WebP: sent after the text (图文发送)."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/gif,image/webp"}),
    )
    remove_image = forms.BooleanField(label=_("remove the image"), required=False)
    actor: StaffAccount | None
    image_data: bytes | None = None  # the checked upload, stored by save_form

    class Meta:
        model = Phrase
        fields = ["group", "content", "code", "keywords", "products"]
        widgets = {"content": forms.Textarea(attrs={"rows": 4})}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.actor is None:
            return data
        try:
            services.check_phrase(
                actor=self.actor,
                owner=None,
                content=data.get("content", ""),
                code=data.get("code", ""),
                keywords=data.get("keywords", ""),
                group=data.get("group"),
                products=data.get("products") or (),
                phrase=self.instance if self.instance.pk else None,
            )
        except DomainError as exc:
            raise form_error(self, exc) from exc
        self._check_image(data.get("image_file"))
        return data

    def _check_image(self, upload: Any) -> None:
        """The image is checked by its content here, so a bad file is a form error and nothing is saved."""
        if upload is None:
            return
        data = upload.read(attachments.max_bytes() + 1)
        try:
            attachments.check_image(data)
        except DomainError as exc:
            self.add_error("image_file", exc.message)
        else:
            self.image_data = data

    def _post_clean(self) -> None:
        # The services validate and write (the model's own unique checks would run on partial values).
        pass


class TeamGroupFilter(admin.SimpleListFilter):
    title = pgettext_lazy("phrase", "group")
    parameter_name = "group"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        groups: ShopQuerySet[PhraseGroup] = PhraseGroup.objects.team()
        if not request.user.is_superuser:
            groups = groups.for_shop(current_shop(request))
        return [(str(g.pk), g.name) for g in groups]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if not self.value():
            return queryset
        group_id = parse_id(self.value())
        if group_id is None:  # not an id: the stock admin's answer to a wacky lookup (the list, unfiltered)
            raise IncorrectLookupParameters
        return queryset.filter(group_id=group_id)


@admin.register(Phrase)
class PhraseAdmin(SpreadsheetAdminMixin, TeamPhraseAdmin):
    form = PhraseForm
    list_display = ["short_content", "code", "group", "usage_count", "last_used_at", "updated_at"]
    list_filter = [TeamGroupFilter]
    search_fields = ["content", "code", "keywords"]
    list_select_related = ["group"]
    ordering = ["group", "pk"]
    filter_horizontal = ["products"]
    readonly_fields = ["image_preview"]
    actions = ["export_csv", "export_xlsx"]
    change_list_template = "admin/phrases/phrase/change_list.html"

    @admin.display(description=_("content"), ordering="content")
    def short_content(self, obj: Phrase) -> str:
        # Plain text; the admin template escapes it, so markup in a phrase shows as typed.
        return Truncator(obj.content).chars(60)

    @admin.display(description=_("current image"))
    def image_preview(self, obj: Phrase) -> str:
        if obj.image is None:
            return "—"
        return format_html('<img src="{}" alt="">', attachments.card(obj.image)["thumb_url"])

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_fields(request, obj))
        if obj is not None and not self.has_change_permission(request, obj):
            # Read only (a platform superuser looking on): the upload and remove controls are no fields then.
            fields = [name for name in fields if name not in ("image_file", "remove_image")]
        return fields

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "group":
            kwargs["queryset"] = PhraseGroup.objects.team().for_shop(current_shop(request))
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        data = form.cleaned_data
        values = {
            "content": data["content"],
            "code": data.get("code", ""),
            "keywords": data.get("keywords", ""),
            "group": data.get("group"),
            "products": data.get("products") or (),
        }
        actor = current_staff(request)
        assert actor is not None  # has_change_permission
        if change:
            phrase = services.update_phrase(
                actor=actor, phrase=Phrase.objects.get(pk=form.instance.pk), **values
            )
        else:
            phrase = services.create_phrase(actor=actor, scope=services.TEAM, **values)
        if form.image_data is not None:
            return services.set_phrase_image(actor=actor, phrase=phrase, data=form.image_data)
        if data.get("remove_image"):
            return services.set_phrase_image(actor=actor, phrase=phrase, data=None)
        return phrase

    def delete_model(self, request: HttpRequest, obj: Phrase) -> None:
        actor = current_staff(request)
        assert actor is not None
        services.delete_phrase(actor=actor, phrase=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Phrase]) -> None:
        for phrase in queryset:
            self.delete_model(request, phrase)

    export_stem = "phrases-team"
    export_csv = export_action("csv", _("Export selected phrases (CSV)"))
    export_xlsx = export_action("xlsx", _("Export selected phrases (Excel)"))
    import_template = "admin/phrases/phrase/import.html"
    import_title = _("Import team phrases")

    def export_file(self, queryset: QuerySet[Phrase], fmt: str) -> bytes:
        return services.export_file(phrases=queryset.order_by("group_id", "pk"), fmt=fmt)

    def import_upload(self, actor: StaffAccount, upload: UploadedFile) -> ImportCounts:
        """Upload a spreadsheet into the team phrases."""
        data = upload.read(services.MAX_IMPORT_BYTES + 1)
        return services.import_phrases(actor=actor, scope=services.TEAM, filename=str(upload.name), data=data)

    def import_posted(
        self, request: HttpRequest, actor: StaffAccount, form: ImportForm
    ) -> ImportCounts | None:
        """The page's second button imports the template library into the team phrases."""
        if "templates" in request.POST:
            return services.import_templates(actor=actor, scope=services.TEAM)
        return super().import_posted(request, actor, form)

    def import_columns(self) -> dict[str, StrOrPromise]:
        """The file's columns (group, code, content, keywords) named as the phrase form names them."""
        return {f.name: f.verbose_name for f in Phrase._meta.fields if f.name in COLUMNS}


# --- groups ------------------------------------------------------------------------------------------------


class GroupForm(forms.ModelForm[PhraseGroup]):
    actor: StaffAccount | None

    class Meta:
        model = PhraseGroup
        fields = ["name"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.actor is None:
            return data
        try:
            services.check_group(
                actor=self.actor,
                owner=None,
                name=data.get("name", ""),
                group=self.instance if self.instance.pk else None,
            )
        except DomainError as exc:
            raise form_error(self, exc) from exc
        return data

    def _post_clean(self) -> None:
        pass


@admin.register(PhraseGroup)
class PhraseGroupAdmin(TeamPhraseAdmin):
    form = GroupForm
    list_display = ["name", "phrase_count", "created_at"]
    search_fields = ["name"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        counted: QuerySet[Any] = super().get_queryset(request).annotate(phrase_count=Count("phrases"))
        return counted

    @admin.display(description=_("phrases"), ordering="phrase_count")
    def phrase_count(self, obj: Any) -> int:
        return int(obj.phrase_count)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        actor = current_staff(request)
        assert actor is not None
        name = form.cleaned_data["name"]
        if change:
            return services.rename_group(
                actor=actor, group=PhraseGroup.objects.get(pk=form.instance.pk), name=name
            )
        return services.create_group(actor=actor, scope=services.TEAM, name=name)

    def delete_model(self, request: HttpRequest, obj: PhraseGroup) -> None:
        actor = current_staff(request)
        assert actor is not None
        services.delete_group(actor=actor, group=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PhraseGroup]) -> None:
        for group in queryset:
            self.delete_model(request, group)
