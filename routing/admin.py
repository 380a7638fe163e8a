"""Routing configuration in Django admin, for accounts with the routing right (owner, administrator, CS
supervisor, or anyone the owner granted it): agent groups and their scope, each agent's routing
(group, weight, participation, offline-routing list) and the shop's routing settings. Scoped to the current
shop like every admin page; writes go through ``routing.config``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from backoffice.access import Right, request_has_right
from backoffice.admin import ServiceWritesMixin, ShopScopedAdmin, current_shop
from backoffice.errors import DomainError
from backoffice.models import OrderStatus, StaffAccount
from backoffice.validation import CleanJSONField
from routing import config
from routing.models import AgentGroup, AgentState, RoutingSettings


def actor(request: HttpRequest) -> StaffAccount:
    staff: StaffAccount | None = getattr(request, "staff", None)
    if staff is None:
        raise DomainError(str(_("Open a shop first.")))
    return staff


class RoutingAdmin(ServiceWritesMixin, ShopScopedAdmin):
    """Visible and editable with the routing right only; a domain error becomes a form error."""

    def _may(self, request: HttpRequest) -> bool:
        return current_shop(request) is not None and request_has_right(request, Right.MANAGE_ROUTING)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._may(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._may(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        return form.saved  # written by the service when the form was validated


class ServiceForm(forms.ModelForm[Any]):
    """Runs the config service when the form is validated, so that a domain error shows on the form and
    nothing is written."""

    request: HttpRequest
    saved: Any = None

    def save_with_service(self) -> Any:
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        if self.errors:
            return
        try:
            self.saved = self.save_with_service()
        except DomainError as exc:
            self.add_error(None, str(exc.message))


class AgentGroupForm(ServiceForm):
    order_states = forms.MultipleChoiceField(
        label=_("order-state scope"),
        required=False,
        choices=[("none", _("No order")), *OrderStatus.choices],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = AgentGroup
        fields = ["name", "crowd", "products", "intents", "order_states"]
        field_classes = {"crowd": CleanJSONField, "intents": CleanJSONField}

    def save_with_service(self) -> Any:
        return config.save_group(
            actor=actor(self.request), group=self.instance, products=self.cleaned_data["products"]
        )


@admin.register(AgentGroup)
class AgentGroupAdmin(RoutingAdmin):
    form = AgentGroupForm
    list_display = ["name", "member_count", "created_at"]
    actions = ["delete_groups"]

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj: Any) -> int:
        return int(obj.member_count)

    @admin.action(description=_("Delete the selected groups (members stay, without a group)"))
    def delete_groups(self, request: HttpRequest, queryset: Any) -> None:
        for group in queryset:
            config.delete_group(actor=actor(request), group=group)
        self.message_user(request, _("Deleted."))


class AgentStateForm(ServiceForm):
    class Meta:
        model = AgentState
        fields = ["staff", "group", "weight", "routing", "offline_routing"]

    def save_with_service(self) -> Any:
        data = self.cleaned_data
        return config.configure_agent_routing(
            actor=actor(self.request),
            staff=data.get("staff") or self.instance.staff,
            group=data["group"],
            weight=data["weight"],
            routing=data["routing"],
            offline_routing=data["offline_routing"],
        )


@admin.register(AgentState)
class AgentStateAdmin(RoutingAdmin):
    """An agent's routing. Status and load are the agent's own and the engine's: shown, never edited here."""

    form = AgentStateForm
    list_display = ["staff", "status", "load_and_limit", "group", "weight", "routing", "offline_routing"]
    list_filter = ["status", "group", "routing", "offline_routing"]

    @admin.display(description=_("load / limit"))
    def load_and_limit(self, obj: AgentState) -> str:
        return f"{obj.load} / {obj.staff.max_concurrent}"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("staff__shop", "group")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["staff", "status", "load"] if obj is not None else ["status", "load"]


class RoutingSettingsForm(ServiceForm):
    class Meta:
        model = RoutingSettings
        fields = [
            "queue_order",
            "no_queue",
            "new_buyer_priority",
            "offline_routing",
            "offline_mode",
            "pool_holder",
            "pool_auto_drain",
            "owner_routes_in_simple_mode",
        ]

    def save_with_service(self) -> Any:
        data = dict(self.cleaned_data)
        holder = data.pop("pool_holder")
        return config.update_routing_settings(
            actor=actor(self.request), pool_holder_id=holder.pk if holder else None, **data
        )


@admin.register(RoutingSettings)
class RoutingSettingsAdmin(RoutingAdmin):
    form = RoutingSettingsForm
    list_display = [
        "__str__",
        "queue_order",
        "no_queue",
        "new_buyer_priority",
        "offline_routing",
        "offline_mode",
        "pool_auto_drain",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One per shop, created on first use; the add form only appears before that.
        shop = current_shop(request)
        return self._may(request) and not RoutingSettings.objects.filter(shop=shop).exists()
