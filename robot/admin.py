"""Admin of the robot: the knowledge base, for the shop owner and accounts with the robot-configuration right.

Every write goes through ``robot.knowledge`` (and ``robot.spreadsheet`` for files); tenancy comes from
``ShopScopedAdmin`` (another shop's entry is a 404; product choices are the shop's). The list filters by
intent and state; actions export the selected entries; the import page loads a CSV or XLSX file,
all-or-nothing, listing every bad row. Text is shown as typed and escaped by the admin's templates.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from backoffice.access import Right, request_has_right
from backoffice.admin import (
    ImportCounts,
    ServiceWritesMixin,
    ShopScopedAdmin,
    SpreadsheetAdminMixin,
    export_action,
    form_error,
)
from backoffice.admin import request_staff as current_staff
from backoffice.errors import DomainError
from backoffice.models import StaffAccount
from robot import knowledge, spreadsheet
from robot.models import KnowledgeEntry


class RobotConfigAdmin(ServiceWritesMixin, ShopScopedAdmin):
    """The robot-configuration right (the owner has it) opens the pages; writing needs a shop account."""

    def _may_configure(self, request: HttpRequest) -> bool:
        return request_has_right(request, Right.CONFIGURE_ROBOT)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may_configure(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_configure(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may_configure(request) and current_staff(request) is not None

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)


class SimilarQuestionsField(forms.CharField):
    """The similar questions as a text area, one per line."""

    widget = forms.Textarea(attrs={"rows": 8})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return "\n".join(str(v) for v in value)
        return value


class EntryForm(forms.ModelForm[KnowledgeEntry]):
    similar_questions = SimilarQuestionsField(
        label=_("similar questions"),
        required=False,
        help_text=_("One per line: other ways buyers ask the same, typos and pinyin included."),
    )
    actor: StaffAccount | None

    class Meta:
        model = KnowledgeEntry
        fields = [
            "question",
            "similar_questions",
            "answer",
            "intent",
            "scenario",
            "product",
            "card_product",
            "enabled",
        ]
        widgets = {"answer": forms.Textarea(attrs={"rows": 5})}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.actor is None:
            return data
        try:
            knowledge.check_entry(
                actor=self.actor,
                question=data.get("question", ""),
                similar_questions=data.get("similar_questions", ""),
                answer=data.get("answer", ""),
                intent=data.get("intent", ""),
                scenario=data.get("scenario", ""),
                product=data.get("product"),
                card_product=data.get("card_product"),
                enabled=data.get("enabled", True),
                entry=self.instance if self.instance.pk else None,
            )
        except DomainError as exc:
            raise form_error(self, exc) from exc
        return data

    def _post_clean(self) -> None:
        """The service validated; the model's own ``full_clean`` would check the JSON field as a list."""


@admin.register(KnowledgeEntry)
class KnowledgeEntryAdmin(SpreadsheetAdminMixin, RobotConfigAdmin):
    form = EntryForm
    list_display = [
        "short_question",
        "intent",
        "similar_count",
        "scenario",
        "product",
        "enabled",
        "updated_at",
    ]
    list_filter = ["intent", "enabled", "scenario"]
    search_fields = ["question", "answer"]
    list_select_related = ["product"]
    ordering = ["intent", "pk"]
    actions = ["export_csv", "export_xlsx", "enable", "disable"]
    change_list_template = "admin/robot/knowledgeentry/change_list.html"

    @admin.display(description=_("standard question"), ordering="question")
    def short_question(self, obj: KnowledgeEntry) -> str:
        # Plain text; the admin template escapes it, so markup in a question shows as typed.
        return Truncator(obj.question).chars(60)

    @admin.display(description=_("similar questions"))
    def similar_count(self, obj: KnowledgeEntry) -> int:
        return len(obj.similar_questions)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        data = form.cleaned_data
        values = {
            "question": data["question"],
            "similar_questions": data.get("similar_questions", ""),
            "answer": data["answer"],
            "intent": data["intent"],
            "scenario": data.get("scenario", ""),
            "product": data.get("product"),
            "card_product": data.get("card_product"),
            "enabled": data.get("enabled", True),
        }
        actor = current_staff(request)
        assert actor is not None  # has_change_permission
        if change:
            entry = KnowledgeEntry.objects.get(pk=form.instance.pk)
            return knowledge.update_entry(actor=actor, entry=entry, **values)
        return knowledge.create_entry(actor=actor, **values)

    def delete_model(self, request: HttpRequest, obj: KnowledgeEntry) -> None:
        actor = current_staff(request)
        assert actor is not None
        knowledge.delete_entries(actor=actor, entries=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[KnowledgeEntry]) -> None:
        actor = current_staff(request)
        assert actor is not None
        knowledge.delete_entries(actor=actor, entries=list(queryset))

    def _set_enabled(self, request: HttpRequest, queryset: QuerySet[KnowledgeEntry], enabled: bool) -> None:
        actor = current_staff(request)
        if actor is None:
            raise PermissionDenied
        knowledge.set_enabled(actor=actor, entries=list(queryset), enabled=enabled)

    @admin.action(description=_("Enable the selected entries"))
    def enable(self, request: HttpRequest, queryset: QuerySet[KnowledgeEntry]) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable the selected entries"))
    def disable(self, request: HttpRequest, queryset: QuerySet[KnowledgeEntry]) -> None:
        self._set_enabled(request, queryset, False)

    export_stem = "knowledge"
    export_csv = export_action("csv", _("Export selected entries (CSV)"))
    export_xlsx = export_action("xlsx", _("Export selected entries (Excel)"))
    import_template = "admin/robot/knowledgeentry/import.html"
    import_title = _("Import the knowledge base")

    def export_file(self, queryset: QuerySet[KnowledgeEntry], fmt: str) -> bytes:
        entries = list(queryset.select_related("product", "card_product").order_by("intent", "pk"))
        return spreadsheet.export_entries(entries=entries, fmt=fmt)

    def import_upload(self, actor: StaffAccount, upload: UploadedFile) -> ImportCounts:
        """Upload a spreadsheet into the shop's knowledge base."""
        data = upload.read(spreadsheet.MAX_IMPORT_BYTES + 1)
        return spreadsheet.import_entries(actor=actor, filename=str(upload.name), data=data)

    def import_columns(self) -> dict[str, StrOrPromise]:
        """The columns named as the entry form names them (question, answer, ...)."""
        names: dict[str, StrOrPromise] = {f.name: f.verbose_name for f in KnowledgeEntry._meta.fields}
        return names | {"similar_questions": _("similar questions")}


from robot import reception_admin  # noqa: E402, F401  (the reception's pages: robot/reception_admin.py)
