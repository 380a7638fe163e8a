"""Admin of the robot's reception, for accounts with the robot-configuration right (the owner has it):
diversion rules (导流), the unanswered questions (each turned into a knowledge-base entry in one step),
and the robot sessions (read only: what the reports read). Imported at the end of ``robot/admin.py``.
Every write goes through the services (``robot.diversion``, ``robot.unanswered``); tenancy comes from
``ShopScopedAdmin``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from backoffice.access import Right, request_has_right
from backoffice.admin import ServiceWritesMixin, ShopScopedAdmin
from backoffice.errors import DomainError
from robot import diversion, knowledge, reception_config, unanswered
from robot.models import DiversionRule, RobotSession, RobotSettings, UnansweredGroup
from robot.models.knowledge import MAX_QUESTION
from routing.intents import Intent


def _field_errors(form: forms.BaseForm, exc: DomainError) -> ValidationError:
    """A service's field errors on the form's fields; the message for the form as a whole."""
    for error in exc.errors:
        if error.get("field") in form.fields:
            form.add_error(error["field"], error["message"])
    return ValidationError(exc.message)


class RobotRightAdmin(ShopScopedAdmin):
    """Pages for the robot-configuration right, of the current shop."""

    def _may(self, request: HttpRequest) -> bool:
        return request_has_right(request, Right.CONFIGURE_ROBOT)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request) and getattr(request, "staff", None) is not None

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_change_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_change_permission(request, obj)


RECEPTION_FIELDS = ["full_auto", "opening_text", "unsure_text", "handoff_text", "unsure_limit"]


class RobotSettingsForm(forms.ModelForm[RobotSettings]):
    """The shop's reception settings and answer threshold, checked by their services."""

    actor: Any

    class Meta:
        model = RobotSettings
        fields = [*RECEPTION_FIELDS, "threshold"]
        widgets = {
            name: forms.Textarea(attrs={"rows": 2})
            for name in ("opening_text", "unsure_text", "handoff_text")
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        try:
            reception_config.clean_reception({name: data[name] for name in RECEPTION_FIELDS})
            data["threshold"] = knowledge.clean_threshold(data["threshold"])
        except DomainError as exc:
            raise _field_errors(self, exc) from exc
        return data


@admin.register(RobotSettings)
class RobotSettingsAdmin(ServiceWritesMixin, RobotRightAdmin):
    """One row per shop: full-auto reception, the robot's texts (quick-phrase variables such as {买家昵称}
    are filled in), the unsure answers before a hand-off and the answer threshold."""

    form = RobotSettingsForm
    list_display = ["__str__", "full_auto", "unsure_limit", "threshold"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        shop = getattr(request, "shop", None)
        exists = shop is not None and RobotSettings.objects.filter(shop=shop).exists()
        return super().has_add_permission(request) and not exists

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> RobotSettings:
        data = form.cleaned_data
        reception_config.configure_reception(
            actor=form.actor, **{name: data[name] for name in RECEPTION_FIELDS}
        )
        return knowledge.set_threshold(actor=form.actor, threshold=data["threshold"])


class DiversionRuleForm(forms.ModelForm[DiversionRule]):
    shop: Any

    class Meta:
        model = DiversionRule
        fields = ["start", "end", "ratio", "enabled"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors or self.shop is None:
            return data
        try:
            diversion.check_rule(
                shop=self.shop,
                start=data["start"],
                end=data["end"],
                ratio=data["ratio"],
                rule=self.instance if self.instance.pk else None,
            )
        except DomainError as exc:
            raise _field_errors(self, exc) from exc
        return data


@admin.register(DiversionRule)
class DiversionRuleAdmin(ServiceWritesMixin, RobotRightAdmin):
    form = DiversionRuleForm
    list_display = ["__str__", "start", "end", "ratio", "enabled"]

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> DiversionRule:
        data = form.cleaned_data
        try:
            return diversion.save_rule(
                shop=form.shop,
                start=data["start"],
                end=data["end"],
                ratio=data["ratio"],
                enabled=data["enabled"],
                rule=form.instance if change else None,
            )
        except DomainError as exc:  # another rule saved meanwhile
            raise ValidationError(exc.message) from exc

    def delete_model(self, request: HttpRequest, obj: DiversionRule) -> None:
        diversion.delete_rule(rule=obj)


class UnansweredForm(forms.ModelForm[UnansweredGroup]):
    """The one step from an unanswered question to a knowledge-base entry: an answer and an intent."""

    actor: Any
    answer = forms.CharField(label=_("answer"), widget=forms.Textarea(attrs={"rows": 4}), max_length=2000)
    intent = forms.ChoiceField(label=_("intent"), choices=Intent.choices)

    class Meta:
        model = UnansweredGroup
        fields: list[str] = []

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        if self.instance.entry_id is not None:
            raise ValidationError(_("This question is already in the knowledge base."))
        try:
            knowledge.check_entry(
                actor=self.actor,
                question=self.instance.text.strip()[:MAX_QUESTION],
                answer=data["answer"],
                intent=data["intent"],
            )
        except DomainError as exc:
            raise _field_errors(self, exc) from exc
        return data


@admin.register(UnansweredGroup)
class UnansweredGroupAdmin(ServiceWritesMixin, RobotRightAdmin):
    """Most asked first; open one, write the answer, choose the intent, save: it is a knowledge-base entry
    (the group's other wordings become its similar questions)."""

    form = UnansweredForm
    list_display = ["text", "count", "last_asked_at", "in_knowledge_base"]
    list_filter = [("entry_id", admin.EmptyFieldListFilter)]
    search_fields = ["text"]
    readonly_fields = ["text", "count", "first_asked_at", "last_asked_at", "wordings"]

    @admin.display(description=_("in the knowledge base"), boolean=True)
    def in_knowledge_base(self, obj: UnansweredGroup) -> bool:
        return obj.entry_id is not None

    @admin.display(description=_("other wordings"))
    def wordings(self, obj: UnansweredGroup) -> str:
        return "\n".join(unanswered.similar_questions(obj))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # kept by the robot, not typed in

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = list(self.readonly_fields)
        if obj is None or obj.entry_id or not self.has_change_permission(request, obj):
            return shown  # the answer and intent are asked only of an account that can make the entry
        return [*shown, "answer", "intent"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return list(self.readonly_fields)

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> UnansweredGroup:
        group: UnansweredGroup = form.instance
        try:
            unanswered.make_entry(
                actor=form.actor,
                group=group,
                answer=form.cleaned_data["answer"],
                intent=form.cleaned_data["intent"],
            )
        except DomainError as exc:
            raise ValidationError(exc.message) from exc
        return group


@admin.register(RobotSession)
class RobotSessionAdmin(RobotRightAdmin):
    """What the robot received: answers, hand-offs and their reasons (read only)."""

    list_display = ["conversation", "started_at", "answered", "handed_over_at", "handoff_reason", "intent"]
    list_filter = ["handoff_reason", "intent"]
    readonly_fields = ["conversation", "started_at", "answered", "handed_over_at", "handoff_reason", "intent"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
