"""The phrases API at /api/v1/phrases/: every endpoint's happy path, another shop's ids (404), agents on team
phrases (403), bad input (409/422), CSRF on session writes, and the OpenAPI listing."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from backoffice.models import Shop, StaffAccount
from phrases import services
from phrases.library import TEMPLATES
from phrases.models import Phrase, PhraseGroup
from tests.backoffice import factories
from tests.conftest import api_call, login_client
from tests.phrases.conftest import personal_phrase, team_phrase
from tests.phrases.test_spreadsheet import GOOD, csv_bytes

API = "/api/v1/phrases/"


def call(client: Client, method: str, path: str, body: Any = None) -> Any:
    return api_call(client, method, API + path, body)


@pytest.fixture
def team(owner: StaffAccount) -> Phrase:
    return team_phrase(owner, "{买家昵称}您好，今天下单今天发货哦", code="fh", keywords=["发货"])


@pytest.fixture
def foreign(outsider: StaffAccount) -> Phrase:
    """A team phrase of shop B."""
    return team_phrase(outsider, "B店：今天发货", code="fh")


# --- list, suggest, recent, use ----------------------------------------------------------------------------


def test_list_shows_team_and_my_phrases_with_search(
    teammate_client: Client, teammate: StaffAccount, team: Phrase, foreign: Phrase, colleague: StaffAccount
) -> None:
    mine = personal_phrase(teammate, "我的发货话术")
    personal_phrase(colleague, "同事的发货话术")
    body = call(teammate_client, "get", "").json()
    assert body["count"] == 2
    assert {p["id"] for p in body["items"]} == {team.pk, mine.pk}
    item = next(p for p in body["items"] if p["id"] == team.pk)
    assert (item["scope"], item["code"], item["keywords"], item["product_ids"]) == (
        "team",
        "fh",
        ["发货"],
        [],
    )

    assert [p["id"] for p in call(teammate_client, "get", "?q=發貨&scope=personal").json()["items"]] == [
        mine.pk
    ]
    assert call(teammate_client, "get", "?limit=1").json()["count"] == 2
    assert len(call(teammate_client, "get", "?limit=1").json()["items"]) == 1


def test_list_pins_its_query_count(
    teammate_client: Client, owner: StaffAccount, shop_a: Shop, django_assert_max_num_queries: Any
) -> None:
    group = services.create_group(actor=owner, scope="team", name="物流问题")
    product = factories.product(shop_a)
    for i in range(30):
        team_phrase(owner, f"发货说明{i}", group=group, products=[product])
    call(teammate_client, "get", "?limit=1")  # loads the shop's search index (once)
    # 4 for the session, user and staff account; the index's stamp and usage refresh. Rows, groups and
    # product links come from the index.
    with django_assert_max_num_queries(6):
        response = call(teammate_client, "get", "?limit=30")
    items = response.json()["items"]
    assert len(items) == 30
    assert {(i["group_name"], tuple(i["product_ids"])) for i in items} == {("物流问题", (product.pk,))}


def test_list_by_another_shops_group_or_product_is_404(
    outsider: StaffAccount, teammate_client: Client, shop_b: Shop
) -> None:
    group = services.create_group(actor=outsider, scope="team", name="B店分组")
    assert call(teammate_client, "get", f"?group_id={group.pk}").status_code == 404
    product = factories.product(shop_b, "pb")
    assert call(teammate_client, "get", f"?product_id={product.pk}").status_code == 404
    assert call(teammate_client, "get", f"suggest?text=发货&product_id={product.pk}").status_code == 404


def test_suggest_by_code_and_by_text_ranked_by_product(
    teammate_client: Client, owner: StaffAccount, team: Phrase, foreign: Phrase, shop_a: Shop
) -> None:
    mug = factories.product(shop_a, "p1", "马克杯")
    linked = team_phrase(owner, "马克杯今天发货，包装加厚", products=[mug])
    assert [p["id"] for p in call(teammate_client, "get", "suggest?text=/fh").json()] == [team.pk]
    by_text = call(teammate_client, "get", f"suggest?text=发货&product_id={mug.pk}").json()
    assert [(p["id"], p["linked"]) for p in by_text] == [(linked.pk, True), (team.pk, False)]
    assert call(teammate_client, "get", "suggest?text=").json() == []
    assert call(teammate_client, "get", "suggest?text=发货&limit=0").status_code == 422


def test_use_records_and_returns_the_rendered_text(
    teammate_client: Client, teammate: StaffAccount, team: Phrase
) -> None:
    response = call(teammate_client, "post", f"{team.pk}/use", {"context": {"buyer_nickname": "小王"}})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "image": None,
        "phrase_id": team.pk,
        "text": "小王您好，今天下单今天发货哦",
        "missing": [],
        "unfilled": [],
    }
    missing = call(teammate_client, "post", f"{team.pk}/use", {}).json()
    assert (missing["text"], missing["missing"]) == ("亲您好，今天下单今天发货哦", ["buyer_nickname"])
    team.refresh_from_db()
    assert team.usage_count == 2

    recent = call(teammate_client, "get", "recent").json()
    assert [(p["id"], p["scope"]) for p in recent] == [(team.pk, "team")]
    assert recent[0]["used_at"]


def test_use_with_a_bad_context_is_422(teammate_client: Client, team: Phrase) -> None:
    assert call(teammate_client, "post", f"{team.pk}/use", {"context": {"buyer": ["x"]}}).status_code == 422
    assert call(teammate_client, "post", f"{team.pk}/use", {"other": 1}).status_code == 422


def test_render_previews_without_recording(
    teammate_client: Client, teammate: StaffAccount, team: Phrase
) -> None:
    body = {"content": "我是{客服昵称}，订单{订单号|您的订单}", "context": {}}
    response = call(teammate_client, "post", "render", body).json()
    assert response["text"] == "我是售前-小美，订单您的订单"
    assert response["missing"] == ["order_number"]
    team.refresh_from_db()
    assert team.usage_count == 0


def test_variables_are_listed(teammate_client: Client) -> None:
    names = {v["key"]: v["names"] for v in call(teammate_client, "get", "variables").json()}
    assert names["buyer_nickname"][0] == "买家昵称" and "buyer" in names["buyer_nickname"]
    assert {"agent_name", "order_number", "ship_date"} <= set(names)


# --- phrase CRUD -------------------------------------------------------------------------------------------


def test_agent_creates_edits_and_deletes_personal_phrases(teammate_client: Client, shop_a: Shop) -> None:
    group = call(teammate_client, "post", "groups", {"name": "我的常用"}).json()
    product = factories.product(shop_a)
    body = {
        "content": "亲，这款杯子可以进洗碗机",
        "code": "/xw",
        "keywords": ["洗碗机"],
        "group_id": group["id"],
        "product_ids": [product.pk],
    }
    created = call(teammate_client, "post", "", body)
    assert created.status_code == 201, created.content
    phrase = created.json()
    assert (phrase["scope"], phrase["code"], phrase["group_name"], phrase["product_ids"]) == (
        "personal",
        "xw",
        "我的常用",
        [product.pk],
    )
    updated = call(teammate_client, "put", f"{phrase['id']}", {"content": "改过的", "code": "xw"})
    assert updated.status_code == 200, updated.content
    assert (updated.json()["content"], updated.json()["group_id"], updated.json()["product_ids"]) == (
        "改过的",
        None,
        [],
    )
    assert call(teammate_client, "get", f"{phrase['id']}").json()["content"] == "改过的"
    assert call(teammate_client, "delete", f"{phrase['id']}").status_code == 204
    assert call(teammate_client, "get", f"{phrase['id']}").status_code == 404


def test_agent_gets_403_on_team_phrases(teammate_client: Client, team: Phrase) -> None:
    assert call(teammate_client, "get", f"{team.pk}").status_code == 200  # reading is fine
    assert call(teammate_client, "post", "", {"content": "团队短语", "scope": "team"}).status_code == 403
    assert call(teammate_client, "put", f"{team.pk}", {"content": "改掉"}).status_code == 403
    assert call(teammate_client, "delete", f"{team.pk}").status_code == 403
    team.refresh_from_db()
    assert team.content.endswith("今天发货哦")


def test_owner_manages_team_phrases(owner_client: Client, teammate_client: Client) -> None:
    created = call(owner_client, "post", "", {"content": "团队的欢迎语", "scope": "team", "code": "hi"})
    assert created.status_code == 201
    phrase_id = created.json()["id"]
    assert call(teammate_client, "get", "suggest?text=/hi").json()[0]["id"] == phrase_id
    assert (
        call(owner_client, "put", f"{phrase_id}", {"content": "改过的欢迎语", "code": "hi"}).status_code
        == 200
    )
    assert call(owner_client, "delete", f"{phrase_id}").status_code == 204


def test_supervisor_with_the_right_manages_team_phrases(supervisor: StaffAccount, team: Phrase) -> None:
    client = login_client(supervisor)
    assert call(client, "put", f"{team.pk}", {"content": "主管改的"}).status_code == 200


def test_another_shops_phrase_is_404_everywhere(
    teammate_client: Client, owner_client: Client, foreign: Phrase
) -> None:
    for client in (teammate_client, owner_client):
        assert call(client, "get", f"{foreign.pk}").status_code == 404
        assert call(client, "put", f"{foreign.pk}", {"content": "跨店"}).status_code == 404
        assert call(client, "delete", f"{foreign.pk}").status_code == 404
        assert call(client, "post", f"{foreign.pk}/use", {}).status_code == 404
        assert call(client, "get", "suggest?text=/fh").json() == []
        assert call(client, "get", "").json()["count"] == 0
    foreign.refresh_from_db()
    assert foreign.content == "B店：今天发货"


def test_another_agents_personal_phrase_is_404(
    teammate_client: Client, owner_client: Client, colleague: StaffAccount
) -> None:
    theirs = personal_phrase(colleague)
    for client in (teammate_client, owner_client):
        assert call(client, "get", f"{theirs.pk}").status_code == 404
        assert call(client, "put", f"{theirs.pk}", {"content": "偷改"}).status_code == 404
        assert call(client, "post", f"{theirs.pk}/use", {}).status_code == 404


def test_another_shops_group_or_product_in_a_body_is_404(
    teammate_client: Client, outsider: StaffAccount, shop_b: Shop
) -> None:
    group = services.create_group(actor=outsider, scope="team", name="B店分组")
    product = factories.product(shop_b, "pb")
    assert call(teammate_client, "post", "", {"content": "x", "group_id": group.pk}).status_code == 404
    assert call(teammate_client, "post", "", {"content": "x", "product_ids": [product.pk]}).status_code == 404
    assert not Phrase.objects.filter(content="x").exists()


def test_duplicate_code_is_409_with_a_clear_message(owner_client: Client, team: Phrase) -> None:
    response = call(owner_client, "post", "", {"content": "另一条", "scope": "team", "code": "FH"})
    assert response.status_code == 409
    assert "fh" in response.json()["detail"]
    assert response.json()["errors"][0]["field"] == "code"


@pytest.mark.parametrize(
    "body",
    [
        {"content": "好" * 1001},
        {"content": ""},
        {},
        {"content": "x", "scope": "shared"},
        {"content": "x", "code": "发货"},
        {"content": "x", "keywords": "not a list"},
        {"content": "x", "unknown": 1},
        {"content": "x", "group_id": "abc"},
    ],
)
def test_malformed_phrases_are_422(teammate_client: Client, body: dict[str, Any]) -> None:
    response = call(teammate_client, "post", "", body)
    assert response.status_code == 422, response.content
    assert not Phrase.objects.exists()


def test_script_tags_come_back_verbatim_as_json_text(teammate_client: Client) -> None:
    text = "<script>alert(1)</script>"
    created = call(teammate_client, "post", "", {"content": text}).json()
    assert call(teammate_client, "get", f"{created['id']}").json()["content"] == text


def test_session_writes_need_the_csrf_token(teammate: StaffAccount) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(teammate.user)
    assert call(client, "post", "", {"content": "没有令牌"}).status_code == 403
    assert not Phrase.objects.exists()


def test_anonymous_is_401(client: Client, team: Phrase) -> None:
    assert call(client, "get", "suggest?text=/fh").status_code == 401


# --- groups ------------------------------------------------------------------------------------------------


def test_groups_crud_and_scope(
    owner_client: Client, teammate_client: Client, outsider: StaffAccount, team: Phrase
) -> None:
    team_group = call(owner_client, "post", "groups", {"name": "物流问题", "scope": "team"})
    assert team_group.status_code == 201
    gid = team_group.json()["id"]
    assert call(owner_client, "post", "groups", {"name": "物流问题", "scope": "team"}).status_code == 409
    assert call(teammate_client, "post", "groups", {"name": "物流", "scope": "team"}).status_code == 403
    assert call(teammate_client, "put", f"groups/{gid}", {"name": "改名"}).status_code == 403
    assert call(teammate_client, "delete", f"groups/{gid}").status_code == 403
    mine = call(teammate_client, "post", "groups", {"name": "我的"}).json()
    listed = call(teammate_client, "get", "groups").json()
    assert [(g["name"], g["scope"]) for g in listed] == [("物流问题", "team"), ("我的", "personal")]
    assert [g["id"] for g in call(teammate_client, "get", "groups?scope=personal").json()] == [mine["id"]]
    assert call(owner_client, "get", "groups?scope=personal").json() == []  # the teammate's group is private

    assert call(owner_client, "put", f"groups/{gid}", {"name": "物流"}).json()["name"] == "物流"
    assert call(owner_client, "put", f"groups/{mine['id']}", {"name": "偷改"}).status_code == 404
    assert call(owner_client, "delete", f"groups/{gid}").status_code == 204
    assert not PhraseGroup.objects.filter(pk=gid).exists()

    foreign = services.create_group(actor=outsider, scope="team", name="B店")
    assert call(owner_client, "put", f"groups/{foreign.pk}", {"name": "x"}).status_code == 404
    assert call(owner_client, "delete", f"groups/{foreign.pk}").status_code == 404
    assert call(owner_client, "post", "groups", {"name": ""}).status_code == 422


# --- template library --------------------------------------------------------------------------------------


def test_templates_are_previewable_and_imported_idempotently(
    owner_client: Client, teammate_client: Client, owner: StaffAccount
) -> None:
    listed = call(teammate_client, "get", "templates").json()
    assert len(listed) == len(TEMPLATES) >= 60
    greeting = next(t for t in listed if t["key"] == "greeting.wh1")
    assert greeting["group"] == "问候语"
    assert "{" not in greeting["preview"] and "小王" in greeting["preview"]
    assert len(call(teammate_client, "get", "templates?scenario=logistics").json()) == 10
    assert call(teammate_client, "get", "templates?scenario=nope").status_code == 422

    assert call(teammate_client, "post", "templates/import", {"scope": "team"}).status_code == 403
    first = call(owner_client, "post", "templates/import", {"scope": "team"}).json()
    assert first == {"created": len(TEMPLATES), "updated": 0, "unchanged": 0}
    second = call(owner_client, "post", "templates/import", {"scope": "team"}).json()
    assert second["created"] == 0
    assert Phrase.objects.for_shop(owner.shop).count() == len(TEMPLATES)

    mine = call(
        teammate_client, "post", "templates/import", {"scope": "personal", "scenarios": ["promotion"]}
    )
    assert mine.json()["created"] == 10


def test_template_import_in_shop_b_does_not_touch_shop_a(
    outsider_client: Client, owner: StaffAccount
) -> None:
    assert call(outsider_client, "post", "templates/import", {"scope": "team"}).status_code == 200
    assert Phrase.objects.for_shop(owner.shop).count() == 0


# --- import and export -------------------------------------------------------------------------------------


def upload(client: Client, name: str, data: bytes, scope: str = "team") -> Any:
    return client.post(API + "import", {"file": SimpleUploadedFile(name, data), "scope": scope})


def test_import_a_file_and_report_bad_rows(owner_client: Client, owner: StaffAccount) -> None:
    bad = csv_bytes([*GOOD, ("", "", "", "")], header=("group", "code", "content", "keywords"))
    bad += "物流问题,fh,重复编码,\n".encode()
    response = upload(owner_client, "p.csv", bad)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"row": 6, "field": "code", "message": "编码 fh 在第 2 行也出现了。"}  # zh-hans by default
    ]
    assert Phrase.objects.count() == 0

    response = upload(owner_client, "p.csv", csv_bytes(GOOD))
    assert response.status_code == 200, response.content
    assert response.json() == {"created": 3, "updated": 0, "unchanged": 0}
    assert Phrase.objects.team().for_shop(owner.shop).count() == 3


def test_import_needs_a_file_and_the_right_for_team(teammate_client: Client) -> None:
    assert upload(teammate_client, "p.csv", csv_bytes(GOOD)).status_code == 403
    assert upload(teammate_client, "p.csv", csv_bytes(GOOD), scope="personal").status_code == 200
    assert upload(teammate_client, "p.csv", csv_bytes(GOOD), scope="everyone").status_code == 422
    assert teammate_client.post(API + "import", {"scope": "personal"}).status_code == 422


def test_export_downloads_csv_and_xlsx_that_reimport(
    owner_client: Client, outsider_client: Client, owner: StaffAccount, outsider: StaffAccount, team: Phrase
) -> None:
    response = owner_client.get(API + "export?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="phrases-team-' in response["Content-Disposition"]
    assert "今天发货哦" in response.content.decode("utf-8-sig")

    xlsx = owner_client.get(API + "export?format=xlsx")
    assert xlsx["Content-Type"].endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert sheet["C2"].value == team.content

    assert upload(outsider_client, "x.xlsx", xlsx.content).json()["created"] == 1
    assert Phrase.objects.for_shop(outsider.shop).get().content == team.content
    assert upload(owner_client, "x.csv", response.content).json() == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
    }
    assert owner_client.get(API + "export?format=pdf").status_code == 422


def test_export_of_shop_b_never_holds_shop_a_phrases(outsider_client: Client, team: Phrase) -> None:
    text = outsider_client.get(API + "export?format=csv").content.decode("utf-8-sig")
    assert team.content not in text


def test_the_endpoints_are_documented(owner_client: Client) -> None:
    paths = owner_client.get("/api/v1/openapi.json").json()["paths"]
    for path in ("", "suggest", "recent", "{phrase_id}", "{phrase_id}/use", "groups", "templates", "import"):
        assert f"/api/v1/phrases/{path}" in paths


# --- the phrase version ------------------------------------------------------------------------------------


def test_the_list_and_suggestions_name_the_shops_phrase_version_which_every_write_changes(
    owner_client: Client, teammate_client: Client, owner: StaffAccount, outsider_client: Client
) -> None:
    """The workbench's panel reloads its list when an answer names another version (issue 14: after an
    import elsewhere it kept showing "nothing found")."""

    def version(client: Client, path: str) -> str:
        response = call(client, "get", path)
        assert response.status_code == 200
        return str(response["X-Phrases-Version"])

    before = version(teammate_client, "?limit=5")
    assert version(teammate_client, "suggest?text=发货") == before
    upload(owner_client, "p.csv", csv_bytes(GOOD))
    imported = version(teammate_client, "?limit=5")
    assert imported != before
    assert version(teammate_client, "suggest?text=发货") == imported
    assert call(owner_client, "post", "templates/import", {"scope": "personal"}).status_code == 200
    assert version(teammate_client, "suggest?text=发货") != imported
    # Another shop's writes leave shop A's version alone.
    current = version(teammate_client, "?limit=5")
    assert call(outsider_client, "post", "templates/import", {"scope": "team"}).status_code == 200
    assert version(teammate_client, "?limit=5") == current
