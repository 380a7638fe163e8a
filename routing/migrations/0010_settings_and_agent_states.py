"""Every shop has its routing settings and every staff account its agent state from now on (created with
them: routing/setup.py); this gives them to the shops and accounts created before. Group intent scopes that
name an intent by its Chinese label (there was no intent list to choose from) get the intent's code."""

from django.db import migrations

LABEL_CODES = {
    "催发货": "urge_shipping",
    "物流": "logistics",
    "改地址": "change_address",
    "退换货": "return_exchange",
    "退款": "refund",
    "发票": "invoice",
    "优惠": "coupon",
    "尺码/规格": "size_spec",
    "商品咨询": "product_question",
    "投诉": "complaint",
    "转人工": "ask_human",
    "问候": "greeting",
}


def forwards(apps, schema_editor):
    Shop = apps.get_model("backoffice", "Shop")
    StaffAccount = apps.get_model("backoffice", "StaffAccount")
    RoutingSettings = apps.get_model("routing", "RoutingSettings")
    AgentState = apps.get_model("routing", "AgentState")
    AgentGroup = apps.get_model("routing", "AgentGroup")
    RoutingSettings.objects.bulk_create(
        RoutingSettings(shop_id=pk)
        for pk in Shop.objects.filter(routing_settings__isnull=True).values_list("pk", flat=True)
    )
    AgentState.objects.bulk_create(
        AgentState(staff_id=pk, shop_id=shop_id)
        for pk, shop_id in StaffAccount.objects.filter(agent_state__isnull=True).values_list("pk", "shop_id")
    )
    for group in AgentGroup.objects.all():
        if isinstance(group.intents, list):
            codes = list(dict.fromkeys(LABEL_CODES.get(i, i) if isinstance(i, str) else i for i in group.intents))
            if codes != group.intents:
                group.intents = codes
                group.save(update_fields=["intents"])


class Migration(migrations.Migration):
    dependencies = [
        ("backoffice", "0005_verbose_names"),
        ("routing", "0009_verbose_names"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
