"""Routing configuration in Django admin, for accounts with the routing right (owner, administrator, CS
supervisor, or anyone the owner granted it): agent groups and their scope (edited by widgets: buyer-tag,
intent and order-state checkboxes, a product select), each agent's routing (group, weight, participation,
offline-routing list: on the staff account form, which this module registers again with a routing section,
and in 客服状态) and the shop's routing settings (one page). Scoped to the current shop like every admin
page; writes go through ``routing.config``."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from backoffice.access import Right, request_has_right
from backoffice.admin import (
    ServiceWritesMixin,
    ShopScopedAdmin,
    StaffAccountAdmin,
    StaffAccountForm,
    current_shop,
)
from backoffice.errors import DomainError
from backoffice.models import OrderStatus, Shop, StaffAccount
from backoffice.validation import IdChoiceField
from routing import config, selectors, services
from routing.intents import Intent
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


# Labels of the buyer tags the integration documents (the API's example); any other tag shows its own name.
TAG_LABELS = {
    "member_level": pgettext_lazy("buyer tag", "Member level"),
    "region": pgettext_lazy("buyer tag", "Region"),
}


def tag_choice(key: str, value: str) -> str:
    """A crowd checkbox's value: the tag and the value, unambiguous whatever characters they hold."""
    return json.dumps([key, value], ensure_ascii=False)


def crowd_choices(shop: Shop | None, stored: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """One group of checkboxes per tag of the shop's buyers, one checkbox per value; the values the group's
    stored scope names are offered too (no buyer may carry them yet), so that they can be kept or unticked."""
    tags = selectors.buyer_tag_values(shop) if shop is not None else {}
    for key, values in stored.items() if isinstance(stored, dict) else ():
        for value in values if isinstance(values, list) else ():
            if str(value) not in tags.setdefault(str(key), []):
                tags[str(key)].append(str(value))
    return [
        (str(TAG_LABELS.get(key, key)), [(tag_choice(key, value), value) for value in sorted(values)])
        for key, values in sorted(tags.items())
    ]


class CrowdScopeField(forms.MultipleChoiceField):
    """The crowd scope as checkboxes of the tag values the shop's buyers carry, grouped by tag. The routing
    rule: a buyer matches when, for every tag with a ticked value, they carry one of the ticked values."""

    widget = forms.CheckboxSelectMultiple
    default_error_messages = {
        "invalid_choice": _("%(value)s is not a tag value of this shop's buyers."),
    }

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return [tag_choice(str(k), str(v)) for k, vs in value.items() if isinstance(vs, list) for v in vs]
        return value

    def clean(self, value: Any) -> dict[str, list[str]]:
        crowd: dict[str, list[str]] = {}
        for chosen in super().clean(value):  # only offered choices remain: each one a [tag, value] pair
            key, tag_value = json.loads(chosen)
            crowd.setdefault(key, []).append(tag_value)
        return crowd

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(super().has_changed(self.prepare_value(initial), data))


def intent_choices(stored: Any) -> list[tuple[str, Any]]:
    """The built-in intents, and any other value the stored scope holds, marked so that it gets unticked
    (saving refuses it)."""
    known = set(Intent.values)
    stored_codes = stored if isinstance(stored, list) else []
    unknown = [i for i in stored_codes if isinstance(i, str) and i not in known]
    return [
        *Intent.choices,
        *((code, _("%(code)s (not a known intent)") % {"code": code}) for code in unknown),
    ]


class AgentGroupForm(ServiceForm):
    crowd = CrowdScopeField(
        label=_("crowd scope"),
        required=False,
        help_text=_(
            "Buyers carrying one of the ticked values of every tag with a ticked value; the values come from "
            "the tags of this shop's buyers."
        ),
    )
    intents = forms.MultipleChoiceField(
        label=_("intent scope"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The buyer's intent as the robot reads it when it hands the chat over."),
    )
    order_states = forms.MultipleChoiceField(
        label=_("order-state scope"),
        required=False,
        choices=[("none", _("No order")), *OrderStatus.choices],
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The state of the buyer's latest order."),
    )

    class Meta:
        model = AgentGroup
        fields = ["name", "crowd", "products", "intents", "order_states"]

    shop: Shop | None = None  # set by ServiceWritesMixin.get_form

    class Media:
        css = {"all": ["routing/admin-scope.css"]}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["crowd"].choices = crowd_choices(self.shop, self.instance.crowd)  # type: ignore[attr-defined]
        self.fields["intents"].choices = intent_choices(self.instance.intents)  # type: ignore[attr-defined]

    def save_with_service(self) -> Any:
        return config.save_group(
            actor=actor(self.request), group=self.instance, products=self.cleaned_data["products"]
        )


@admin.register(AgentGroup)
class AgentGroupAdmin(RoutingAdmin):
    form = AgentGroupForm
    # A plain multiple select without JavaScript; the admin's own script adds a filter box (no inline code).
    filter_horizontal = ["products"]
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
        fields = ["group", "weight", "routing", "offline_routing"]

    def save_with_service(self) -> Any:
        data = self.cleaned_data
        return config.configure_agent_routing(
            actor=actor(self.request),
            staff=self.instance.staff,
            group=data["group"],
            weight=data["weight"],
            routing=data["routing"],
            offline_routing=data["offline_routing"],
        )


@admin.register(AgentState)
class AgentStateAdmin(RoutingAdmin):
    """An agent's routing. Status and load are the agent's own and the engine's: shown, never edited here.
    Every account has its state from its creation (``routing.setup``), so there is nothing to add."""

    form = AgentStateForm
    list_display = ["staff", "status", "load_and_limit", "group", "weight", "routing", "offline_routing"]
    list_filter = ["status", "group", "routing", "offline_routing"]
    readonly_fields = ["staff", "status", "load"]

    @admin.display(description=_("load / limit"))
    def load_and_limit(self, obj: AgentState) -> str:
        return f"{obj.load} / {obj.staff.max_concurrent}"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("staff__shop", "group")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


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
    """The shop's one settings row (it exists from the shop's creation): its list opens the form, which
    neither adds nor deletes. The queue order is the owner's (``config.may_change_queue_order``): read-only
    to everyone else, so a value posted for it is not even read."""

    form = RoutingSettingsForm
    fields = tuple(RoutingSettingsForm.Meta.fields)  # the queue order first, read-only or not

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        staff: StaffAccount | None = getattr(request, "staff", None)
        return [] if staff is not None and config.may_change_queue_order(staff) else ["queue_order"]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        shop = current_shop(request)
        if shop is None or not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)  # a superuser outside any shop: all shops
        settings = services.routing_settings(shop)
        return redirect(reverse("admin:routing_routingsettings_change", args=[settings.pk]))


# --- the staff account form, with the account's routing ---------------------------------------------------


ROUTING_FIELDS = ["agent_group", "agent_weight", "agent_routing", "agent_offline_routing"]


def _agent_field(name: str, **kwargs: Any) -> Any:
    """The agent-state model field's form field (label, help text and bounds in one place)."""
    field = AgentState._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field.formfield(**kwargs)


class StaffRoutingForm(StaffAccountForm):
    """The staff account form with the account's group, weight, routing participation and offline-routing
    listing, for accounts with the routing right. Saved with the account, by
    ``config.configure_agent_routing`` (the rule of every agent-routing write)."""

    agent_group = _agent_field("group", queryset=AgentGroup.objects.none(), form_class=IdChoiceField)
    agent_weight = _agent_field("weight", min_value=1, max_value=100)  # the model's validators
    agent_routing = _agent_field("routing")
    agent_offline_routing = _agent_field("offline_routing")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["agent_group"].queryset = AgentGroup.objects.for_shop(self.shop)  # type: ignore[attr-defined]
        state = _state_of(self.instance) if self.instance.pk else None
        if state is not None:
            self.initial.update(
                agent_group=state.group_id,
                agent_weight=state.weight,
                agent_routing=state.routing,
                agent_offline_routing=state.offline_routing,
            )


class StaffAccountRoutingAdmin(StaffAccountAdmin):
    """The staff account admin with a routing section (registered here, in routing, over backoffice's: the
    shop domain knows nothing of routing). Only for an account of the shop that holds the routing right."""

    def _routes(self, request: HttpRequest) -> bool:
        staff = getattr(request, "staff", None)
        return staff is not None and request_has_right(request, Right.MANAGE_ROUTING)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        if self._routes(request):
            kwargs["form"] = StaffRoutingForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if not self._routes(request):
            return fieldsets
        return [*fieldsets, (_("Routing"), {"fields": ROUTING_FIELDS})]

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        staff = super().save_form(request, form, change)
        if isinstance(form, StaffRoutingForm):
            data = form.cleaned_data
            config.configure_agent_routing(
                actor=actor(request),
                staff=staff,
                group=data["agent_group"],
                weight=data["agent_weight"],
                routing=data["agent_routing"],
                offline_routing=data["agent_offline_routing"],
            )
        return staff

    # Shown for an account one may only view (a supervisor): the values, not empty fields.
    @admin.display(description=pgettext_lazy("agent", "group"))
    def agent_group(self, obj: StaffAccount) -> Any:
        state = _state_of(obj)
        return state.group if state is not None and state.group else self.get_empty_value_display()

    @admin.display(description=_("weight"))
    def agent_weight(self, obj: StaffAccount) -> Any:
        state = _state_of(obj)
        return state.weight if state is not None else self.get_empty_value_display()

    @admin.display(description=_("takes part in routing"), boolean=True)
    def agent_routing(self, obj: StaffAccount) -> bool | None:
        state = _state_of(obj)
        return state.routing if state is not None else None

    @admin.display(description=_("on the offline-routing list"), boolean=True)
    def agent_offline_routing(self, obj: StaffAccount) -> bool | None:
        state = _state_of(obj)
        return state.offline_routing if state is not None else None


def _state_of(staff: StaffAccount) -> AgentState | None:
    return AgentState.objects.select_related("group").filter(staff_id=staff.pk).first()


admin.site.unregister(StaffAccount)
admin.site.register(StaffAccount, StaffAccountRoutingAdmin)
