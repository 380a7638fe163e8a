"""Admin for team phrases and groups: shop scope (another shop's phrase is a 404), the team-phrase right,
saves through the services, the sortable usage column, escaping, export actions and the import page."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from backoffice.models import Shop, StaffAccount
from phrases import services
from phrases.library import TEMPLATES
from phrases.models import Phrase, PhraseGroup
from tests.backoffice import factories
from tests.conftest import login_client
from tests.phrases.conftest import personal_phrase, team_phrase
from tests.phrases.test_spreadsheet import GOOD, csv_bytes

CHANGELIST = "admin:phrases_phrase_changelist"


def url(name: str, *args: Any) -> str:
    return reverse(f"admin:phrases_{name}", args=args)


def listed(response: Any) -> list[int]:
    return [obj.pk for obj in response.context["cl"].result_list]


def test_owner_sees_only_their_shops_team_phrases(
    owner_client: Client, owner: StaffAccount, outsider: StaffAccount, teammate: StaffAccount
) -> None:
    mine = team_phrase(owner)
    theirs = team_phrase(outsider, "B店短语")
    private = personal_phrase(teammate)

    response = owner_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert listed(response) == [mine.pk]
    assert owner_client.get(url("phrase_change", mine.pk)).status_code == 200
    for other in (theirs, private):
        assert owner_client.get(url("phrase_change", other.pk)).status_code == 404
        assert owner_client.get(url("phrase_history", other.pk)).status_code == 404
        assert owner_client.get(url("phrase_delete", other.pk)).status_code in (403, 404)


def test_outsider_cannot_open_shop_a_phrases_or_groups(outsider_client: Client, owner: StaffAccount) -> None:
    group = services.create_group(actor=owner, scope="team", name="物流问题")
    phrase = team_phrase(owner, group=group)
    assert outsider_client.get(url("phrase_change", phrase.pk)).status_code == 404
    assert outsider_client.get(url("phrasegroup_change", group.pk)).status_code == 404
    assert listed(outsider_client.get(reverse(CHANGELIST))) == []
    post = outsider_client.post(url("phrase_change", phrase.pk), {"content": "跨店修改"})
    assert post.status_code == 404
    phrase.refresh_from_db()
    assert phrase.content == "亲，今天下单今天发货哦"


def test_agent_without_the_right_gets_403(teammate_client: Client, owner: StaffAccount) -> None:
    phrase = team_phrase(owner)
    assert teammate_client.get(reverse(CHANGELIST)).status_code == 403
    assert teammate_client.get(url("phrase_change", phrase.pk)).status_code == 403
    assert teammate_client.get(url("phrasegroup_changelist")).status_code == 403
    assert teammate_client.get(url("phrase_import")).status_code == 403


def test_supervisor_with_the_right_opens_the_admin(supervisor: StaffAccount, owner: StaffAccount) -> None:
    team_phrase(owner)
    assert login_client(supervisor).get(reverse(CHANGELIST)).status_code == 200


def test_adding_a_phrase_goes_through_the_services(
    owner_client: Client, owner: StaffAccount, shop_a: Shop
) -> None:
    group = services.create_group(actor=owner, scope="team", name="物流问题")
    product = factories.product(shop_a)
    form = {
        "group": group.pk,
        "content": "發貨很快哦",
        "code": "FH",
        "keywords": "发货，快递",
        "products": [product.pk],
    }
    response = owner_client.post(url("phrase_add"), form)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    phrase = Phrase.objects.get()
    assert (phrase.owner, phrase.created_by, phrase.code, phrase.keywords) == (None, owner, "fh", "发货,快递")
    assert list(phrase.products.all()) == [product]
    assert "发货" in phrase.search_text  # normalized by the service


def test_admin_shows_service_errors_on_the_form(owner_client: Client, owner: StaffAccount) -> None:
    team_phrase(owner, code="fh")
    response = owner_client.post(url("phrase_add"), {"content": "重复编码", "code": "fh", "keywords": ""})
    assert response.status_code == 200
    assert "fh" in str(response.context["adminform"].form.errors["code"])
    assert Phrase.objects.count() == 1


def test_admin_group_choices_are_this_shops_team_groups(
    owner_client: Client, owner: StaffAccount, outsider: StaffAccount, teammate: StaffAccount
) -> None:
    ours = services.create_group(actor=owner, scope="team", name="我们的")
    services.create_group(actor=outsider, scope="team", name="B店的")
    services.create_group(actor=teammate, scope="personal", name="客服个人的")
    form = owner_client.get(url("phrase_add")).context["adminform"].form
    assert list(form.fields["group"].queryset) == [ours]


def test_editing_and_deleting_in_admin_use_the_services(owner_client: Client, owner: StaffAccount) -> None:
    phrase = team_phrase(owner, code="fh")
    response = owner_client.post(
        url("phrase_change", phrase.pk), {"content": "新内容", "code": "fh2", "keywords": ""}
    )
    assert response.status_code == 302
    phrase.refresh_from_db()
    assert (phrase.content, phrase.code, phrase.search_text.startswith("新内容")) == ("新内容", "fh2", True)
    response = owner_client.post(url("phrase_delete", phrase.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Phrase.objects.exists()


def test_usage_count_is_a_sortable_column(
    owner_client: Client, owner: StaffAccount, teammate: StaffAccount
) -> None:
    rare, popular, unused = (team_phrase(owner, f"短语{i}") for i in range(3))
    services.use_phrase(staff=teammate, phrase=rare)
    for _ in range(3):
        services.use_phrase(staff=teammate, phrase=popular)
    columns = owner_client.get(reverse(CHANGELIST)).context["cl"].list_display
    index = columns.index("usage_count")
    by_usage_desc = owner_client.get(reverse(CHANGELIST) + f"?o=-{index}")
    assert listed(by_usage_desc) == [popular.pk, rare.pk, unused.pk]
    assert listed(owner_client.get(reverse(CHANGELIST) + f"?o={index}"))[0] == unused.pk


def test_script_in_a_phrase_is_escaped_in_admin(owner_client: Client, owner: StaffAccount) -> None:
    phrase = team_phrase(owner, "<script>alert(1)</script>")
    for page in (reverse(CHANGELIST), url("phrase_change", phrase.pk)):
        html = owner_client.get(page).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_export_actions_download_the_selected_phrases(owner_client: Client, owner: StaffAccount) -> None:
    chosen = team_phrase(owner, "选中的", code="a")
    team_phrase(owner, "没选中的", code="b")
    for action, check in (("export_csv", "选中的"), ("export_xlsx", None)):
        response = owner_client.post(reverse(CHANGELIST), {"action": action, "_selected_action": [chosen.pk]})
        assert response.status_code == 200
        assert "attachment" in response["Content-Disposition"]
        if check:
            text = response.content.decode("utf-8-sig")
            assert check in text and "没选中的" not in text
        else:
            sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
            assert [r[2] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["选中的"]


def test_import_page_loads_a_file_or_the_template_library(owner_client: Client, owner: StaffAccount) -> None:
    assert owner_client.get(url("phrase_import")).status_code == 200
    assert url("phrase_import") in owner_client.get(reverse(CHANGELIST)).content.decode()

    bad = owner_client.post(
        url("phrase_import"), {"file": SimpleUploadedFile("p.csv", csv_bytes([("", "", "", "")]))}
    )
    assert bad.status_code == 200
    assert Phrase.objects.count() == 0

    bad_rows = csv_bytes([GOOD[0], ("", "x y", "编码错误", "")])
    bad = owner_client.post(url("phrase_import"), {"file": SimpleUploadedFile("p.csv", bad_rows)})
    assert bad.status_code == 200
    assert bad.context["row_errors"][0]["row"] == 3
    assert Phrase.objects.count() == 0

    good = owner_client.post(url("phrase_import"), {"file": SimpleUploadedFile("p.csv", csv_bytes(GOOD))})
    assert good.status_code == 302
    assert Phrase.objects.team().for_shop(owner.shop).count() == 3

    owner_client.post(url("phrase_import"), {"templates": "1"})
    owner_client.post(url("phrase_import"), {"templates": "1"})
    assert Phrase.objects.count() == 3 + len(TEMPLATES)


def test_group_admin_counts_phrases_and_keeps_them_when_deleted(
    owner_client: Client, owner: StaffAccount, outsider: StaffAccount
) -> None:
    group = services.create_group(actor=owner, scope="team", name="物流问题")
    services.create_group(actor=outsider, scope="team", name="B店")
    phrase = team_phrase(owner, group=group)
    response = owner_client.get(url("phrasegroup_changelist"))
    assert [(g.name, g.phrase_count) for g in response.context["cl"].result_list] == [("物流问题", 1)]

    assert owner_client.post(url("phrasegroup_add"), {"name": "物流问题"}).status_code == 200  # duplicate
    assert owner_client.post(url("phrasegroup_add"), {"name": "售后问题"}).status_code == 302
    assert owner_client.post(url("phrasegroup_delete", group.pk), {"post": "yes"}).status_code == 302
    phrase.refresh_from_db()
    assert phrase.group is None
    assert set(PhraseGroup.objects.for_shop(owner.shop).values_list("name", flat=True)) == {"售后问题"}


@pytest.mark.parametrize("view", ["phrase_changelist", "phrasegroup_changelist"])
def test_superuser_sees_every_shops_team_phrases(
    superuser: Any, owner: StaffAccount, outsider: StaffAccount, view: str
) -> None:
    services.create_group(actor=owner, scope="team", name="A")
    services.create_group(actor=outsider, scope="team", name="B")
    team_phrase(owner)
    team_phrase(outsider)
    assert len(listed(login_client(superuser).get(url(view)))) == 2


def test_changelist_pins_its_query_count(
    owner_client: Client, owner: StaffAccount, django_assert_max_num_queries: Any
) -> None:
    group = services.create_group(actor=owner, scope="team", name="物流问题")
    for i in range(30):
        team_phrase(owner, f"发货说明{i}", group=group, code=f"c{i}")
    with django_assert_max_num_queries(11):  # session, rights, filter choices, count, page
        response = owner_client.get(reverse(CHANGELIST))
    assert len(listed(response)) == 30
