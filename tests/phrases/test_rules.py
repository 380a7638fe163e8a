"""The quick-phrase rules, through the services: scope and rights, codes and shadowing, matching (no spaces,
traditional characters), product ranking, recently used, usage counts, variables and their fallback, and
bad input."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from backoffice.errors import Conflict, Forbidden, Invalid, NotFound
from backoffice.models import Shop, StaffAccount
from phrases import index, services
from phrases.models import Phrase, PhraseUse
from tests.backoffice import factories
from tests.phrases.conftest import personal_phrase, team_phrase


def ids(phrases: Iterable[Phrase]) -> list[int]:
    return [p.pk for p in phrases]


# --- scope and rights --------------------------------------------------------------------------------------


def test_team_phrases_are_seen_by_every_agent_and_personal_ones_by_their_owner_only(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount, outsider: StaffAccount
) -> None:
    team = team_phrase(owner)
    mine = personal_phrase(teammate)
    theirs = personal_phrase(colleague, "亲，我是小林")

    assert set(Phrase.objects.visible_to(teammate)) == {team, mine}
    assert set(Phrase.objects.visible_to(colleague)) == {team, theirs}
    assert set(Phrase.objects.visible_to(owner)) == {team}
    assert list(Phrase.objects.visible_to(outsider)) == []
    assert ids(services.search(staff=teammate, text="亲")) == ids(services.search(staff=teammate))
    assert set(services.search(staff=teammate)) == {team, mine}


def test_agent_cannot_create_change_or_delete_team_phrases(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    phrase = team_phrase(owner)
    with pytest.raises(Forbidden):
        services.create_phrase(actor=teammate, scope="team", content="我来加一条团队短语")
    with pytest.raises(Forbidden):
        services.update_phrase(actor=teammate, phrase=phrase, content="改掉")
    with pytest.raises(Forbidden):
        services.delete_phrase(actor=teammate, phrase=phrase)
    with pytest.raises(Forbidden):
        services.create_group(actor=teammate, scope="team", name="物流")
    phrase.refresh_from_db()
    assert phrase.content == "亲，今天下单今天发货哦"


def test_the_team_phrase_right_lets_a_non_owner_manage_team_phrases(
    owner: StaffAccount, supervisor: StaffAccount, teammate: StaffAccount
) -> None:
    phrase = services.create_phrase(actor=supervisor, scope="team", content="主管加的团队短语")
    services.update_phrase(actor=supervisor, phrase=phrase, content="主管改过的团队短语")
    assert phrase.owner is None and phrase.created_by == supervisor

    from django.contrib.auth.models import Permission

    right = Permission.objects.get(codename="manage_team_phrases")
    teammate.rights.add(right)
    services.update_phrase(actor=teammate, phrase=phrase, content="有权限的客服也能改")
    services.delete_phrase(actor=teammate, phrase=phrase)
    assert not Phrase.objects.filter(pk=phrase.pk).exists()


def test_another_agents_personal_phrase_does_not_exist_for_me(
    teammate: StaffAccount, colleague: StaffAccount, owner: StaffAccount
) -> None:
    theirs = personal_phrase(colleague)
    for actor in (teammate, owner):  # not even the owner sees or edits a personal phrase
        with pytest.raises(NotFound):
            services.update_phrase(actor=actor, phrase=theirs, content="偷改")
        with pytest.raises(NotFound):
            services.delete_phrase(actor=actor, phrase=theirs)
        with pytest.raises(NotFound):
            services.use_phrase(staff=actor, phrase=theirs)


def test_another_shops_phrase_group_and_product_are_not_found(
    owner: StaffAccount, outsider: StaffAccount, shop_b: Shop
) -> None:
    foreign = team_phrase(outsider, "B店的短语")
    with pytest.raises(NotFound):
        services.update_phrase(actor=owner, phrase=foreign, content="跨店修改")
    with pytest.raises(NotFound):
        services.use_phrase(staff=owner, phrase=foreign)
    foreign_group = services.create_group(actor=outsider, scope="team", name="B店分组")
    with pytest.raises(NotFound):
        team_phrase(owner, "放进别人家的分组", group=foreign_group)
    with pytest.raises(NotFound):
        team_phrase(owner, "关联别人家的商品", products=[factories.product(shop_b, "pb", "B店商品")])


def test_a_phrase_lives_in_a_group_of_its_own_scope(owner: StaffAccount, teammate: StaffAccount) -> None:
    team_group = services.create_group(actor=owner, scope="team", name="物流问题")
    my_group = services.create_group(actor=teammate, scope="personal", name="我的常用")
    assert personal_phrase(teammate, group=my_group).group == my_group
    with pytest.raises(Invalid):
        personal_phrase(teammate, "放进团队分组的个人短语", group=team_group)
    with pytest.raises(NotFound):
        team_phrase(owner, "放进客服个人分组", group=my_group)


def test_group_names_are_unique_per_scope_and_deleting_a_group_keeps_its_phrases(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    group = services.create_group(actor=owner, scope="team", name="物流问题")
    with pytest.raises(Conflict):
        services.create_group(actor=owner, scope="team", name=" 物流问题 ")
    services.create_group(actor=teammate, scope="personal", name="物流问题")  # another scope: fine
    phrase = team_phrase(owner, group=group)
    services.delete_group(actor=owner, group=group)
    phrase.refresh_from_db()
    assert phrase.group is None


# --- codes -------------------------------------------------------------------------------------------------


def test_codes_are_unique_per_scope(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    team_phrase(owner, code="fh")
    with pytest.raises(Conflict) as exc:
        team_phrase(owner, "另一条", code="FH")  # codes are stored lower-case
    assert exc.value.errors[0]["field"] == "code"
    assert "fh" in exc.value.message

    personal_phrase(teammate, code="hi")
    with pytest.raises(Conflict):
        personal_phrase(teammate, "又一条", code="/hi")
    personal_phrase(colleague, code="hi")  # another agent's scope


def test_updating_a_phrase_keeps_its_own_code_but_not_anothers(owner: StaffAccount) -> None:
    a = team_phrase(owner, "第一条", code="a1")
    team_phrase(owner, "第二条", code="a2")
    services.update_phrase(actor=owner, phrase=a, content="第一条改过", code="a1")
    with pytest.raises(Conflict):
        services.update_phrase(actor=owner, phrase=a, content="第一条", code="a2")


@pytest.mark.parametrize("code", ["发货", "a b", "x" * 21, "a/b", "<b>"])
def test_a_code_is_ascii_letters_digits_underscore_or_dash(owner: StaffAccount, code: str) -> None:
    with pytest.raises(Invalid) as exc:
        team_phrase(owner, code=code)
    assert exc.value.errors[0]["field"] == "code"


def test_a_personal_code_shadows_the_team_code_for_that_agent_only(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    team = team_phrase(owner, "团队的发货说明", code="fh")
    mine = personal_phrase(teammate, "我自己的发货说明", code="fh")

    assert ids(services.suggest(staff=teammate, text="/fh")) == [mine.pk]
    assert services.phrase_for_code(staff=teammate, code="fh") == mine
    assert ids(services.suggest(staff=colleague, text="/fh")) == [team.pk]
    assert services.phrase_for_code(staff=colleague, code="fh") == team
    # Only the code lookup shadows; a text search still lists both.
    assert set(services.suggest(staff=teammate, text="发货说明")) == {team, mine}


# --- suggestion and search ---------------------------------------------------------------------------------


def test_slash_code_finds_by_prefix_with_the_exact_code_first(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    long = team_phrase(owner, "发货时间说明", code="fh2")
    exact = team_phrase(owner, "发货快递说明", code="fh")
    other = team_phrase(owner, "退款说明", code="tk")
    team_phrase(owner, "没有编码的短语")

    assert ids(services.suggest(staff=teammate, text="/fh")) == [exact.pk, long.pk]
    assert ids(services.suggest(staff=teammate, text="／FH")) == [exact.pk, long.pk]  # full-width slash
    assert ids(services.suggest(staff=teammate, text="/")) == [exact.pk, long.pk, other.pk]
    assert services.suggest(staff=teammate, text="/zz") == []
    assert services.suggest(staff=teammate, text="/发货") == []


def test_codes_with_numbers_sort_naturally(owner: StaffAccount, teammate: StaffAccount) -> None:
    """Before: codes sorted as text, /wh1, /wh10, /wh2."""
    made = {code: team_phrase(owner, f"仓库说明{code}", code=code) for code in ("wh10", "wh2", "wh1", "wh")}
    expected = [made[c].pk for c in ("wh", "wh1", "wh2", "wh10")]
    assert ids(services.suggest(staff=teammate, text="/wh")) == expected


def test_chinese_needs_no_spaces_to_match(owner: StaffAccount, teammate: StaffAccount) -> None:
    hit = team_phrase(owner, "今天发货哦")
    team_phrase(owner, "退款会原路退回")
    assert ids(services.suggest(staff=teammate, text="发货")) == [hit.pk]
    assert ids(services.suggest(staff=teammate, text="今天 哦")) == [hit.pk]  # every part must occur
    assert services.suggest(staff=teammate, text="明天发货") == []


def test_keywords_match_as_well_as_content(owner: StaffAccount, teammate: StaffAccount) -> None:
    hit = team_phrase(owner, "亲，我们默认发中通快递", keywords=["哪家快递", "物流公司"])
    assert ids(services.suggest(staff=teammate, text="物流公司")) == [hit.pk]
    assert hit.keyword_list == ["哪家快递", "物流公司"]


def test_traditional_characters_match_simplified_phrases_and_back(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    simplified = team_phrase(owner, "今天发货，请耐心等待")
    traditional = team_phrase(owner, "退貨請聯繫客服")  # stored as typed, matched simplified
    assert ids(services.suggest(staff=teammate, text="發貨")) == [simplified.pk]
    assert ids(services.suggest(staff=teammate, text="退货")) == [traditional.pk]
    assert traditional.content == "退貨請聯繫客服"


def test_matching_ignores_case_and_width(owner: StaffAccount, teammate: StaffAccount) -> None:
    hit = team_phrase(owner, "支持 iPhone 15 的充电头")
    assert ids(services.suggest(staff=teammate, text="ＩＰＨＯＮＥ")) == [hit.pk]


def test_phrases_linked_to_the_conversations_product_rank_first(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop
) -> None:
    mug = factories.product(shop_a, "p1", "陶瓷马克杯")
    lamp = factories.product(shop_a, "p2", "北欧台灯")
    general = team_phrase(owner, "亲，今天下单今天发货")
    services.use_phrase(staff=teammate, phrase=general)  # the most used, so first without a product
    for_mug = team_phrase(owner, "亲，马克杯今天发货，包装加厚防碎", products=[mug], code="fh1")
    for_lamp = team_phrase(owner, "亲，台灯今天发货", products=[lamp], code="fh2")

    assert ids(services.suggest(staff=teammate, text="发货")) == [general.pk, for_mug.pk, for_lamp.pk]
    ranked = services.suggest(staff=teammate, text="发货", product_id=mug.pk)
    assert ids(ranked) == [for_mug.pk, general.pk, for_lamp.pk]
    assert [p.linked for p in ranked] == [True, False, False]  # type: ignore[attr-defined]
    assert ids(services.suggest(staff=teammate, text="/fh", product_id=lamp.pk)) == [for_lamp.pk, for_mug.pk]


def test_suggestions_stop_at_the_limit_and_blank_text_suggests_nothing(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    for i in range(15):
        team_phrase(owner, f"发货说明{i}")
    assert len(services.suggest(staff=teammate, text="发货")) == 10
    assert len(services.suggest(staff=teammate, text="发货", limit=3)) == 3
    assert services.suggest(staff=teammate, text="   ") == []


def test_search_filters_by_scope_and_group(owner: StaffAccount, teammate: StaffAccount) -> None:
    group = services.create_group(actor=teammate, scope="personal", name="我的")
    team = team_phrase(owner)
    mine = personal_phrase(teammate, group=group)
    loose = personal_phrase(teammate, "不在分组里")
    assert ids(services.search(staff=teammate, scope="team")) == [team.pk]
    assert set(services.search(staff=teammate, scope="personal")) == {mine, loose}
    assert ids(services.search(staff=teammate, group=group)) == [mine.pk]


# --- the search index stays fresh -------------------------------------------------------------------------


def test_suggestions_follow_edits_deletes_links_and_group_changes(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop
) -> None:
    phrase = team_phrase(owner, "今天发货哦", code="fh")
    assert ids(services.suggest(staff=teammate, text="发货")) == [phrase.pk]  # the index is now cached

    services.update_phrase(actor=owner, phrase=phrase, content="明天到货哦", code="dh")
    assert services.suggest(staff=teammate, text="发货") == []
    assert services.suggest(staff=teammate, text="/fh") == []
    assert ids(services.suggest(staff=teammate, text="/dh")) == [phrase.pk]

    mug = factories.product(shop_a, "p1", "马克杯")
    other = team_phrase(owner, "明天到货，马克杯")
    assert ids(services.suggest(staff=teammate, text="到货", product_id=mug.pk)) == [phrase.pk, other.pk]
    services.update_phrase(actor=owner, phrase=other, content=other.content, products=[mug])
    assert ids(services.suggest(staff=teammate, text="到货", product_id=mug.pk)) == [other.pk, phrase.pk]

    group = services.create_group(actor=owner, scope="team", name="物流")
    services.update_phrase(actor=owner, phrase=phrase, content=phrase.content, code="dh", group=group)
    assert ids(services.search(staff=teammate, group=group)) == [phrase.pk]
    services.rename_group(actor=owner, group=group, name="物流问题")
    assert services.suggest(staff=teammate, text="/dh")[0].group.name == "物流问题"  # type: ignore[union-attr]
    group_id = group.pk
    services.delete_group(actor=owner, group=group)
    assert services.search_ids(staff=teammate, group_id=group_id) == (0, [])

    services.delete_phrase(actor=owner, phrase=phrase)
    assert ids(services.suggest(staff=teammate, text="到货")) == [other.pk]


def test_ranking_follows_usage_without_reloading_the_index(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount, django_assert_max_num_queries: Any
) -> None:
    first, second = team_phrase(owner, "发货说明一"), team_phrase(owner, "发货说明二")
    assert ids(services.suggest(staff=teammate, text="发货")) == [first.pk, second.pk]
    services.use_phrase(staff=colleague, phrase=second)
    # the stamp and the used-since refresh: no reload of the shop's phrases, no row fetch
    with django_assert_max_num_queries(2):
        found = services.suggest(staff=teammate, text="发货")
    assert ids(found) == [second.pk, first.pk]
    assert (found[0].usage_count, found[1].usage_count) == (1, 0)
    assert found[0].last_used_at is not None


def test_a_rolled_back_write_never_shows_in_suggestions(owner: StaffAccount, teammate: StaffAccount) -> None:
    kept = team_phrase(owner, "发货说明")
    assert ids(services.suggest(staff=teammate, text="发货")) == [kept.pk]
    with pytest.raises(RuntimeError), transaction.atomic():
        team_phrase(owner, "发货说明（回滚）")
        assert len(services.suggest(staff=teammate, text="发货")) == 2  # cached under the uncommitted stamp
        raise RuntimeError("roll back")
    assert ids(services.suggest(staff=teammate, text="发货")) == [kept.pk]


def test_each_shop_searches_its_own_index_even_when_few_are_cached(
    owner: StaffAccount, outsider: StaffAccount, teammate: StaffAccount, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "MAX_SHOPS", 1)
    a = team_phrase(owner, "A店发货")
    b = team_phrase(outsider, "B店发货")
    for _ in range(2):
        assert ids(services.suggest(staff=teammate, text="发货")) == [a.pk]
        assert ids(services.suggest(staff=outsider, text="发货")) == [b.pk]


# --- use: recently used and usage counts -------------------------------------------------------------------


def test_recently_used_is_per_agent_most_recent_first(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    a, b, c = (team_phrase(owner, f"短语{x}") for x in "abc")
    start = timezone.now()
    services.use_phrase(staff=teammate, phrase=a, now=start)
    services.use_phrase(staff=teammate, phrase=b, now=start + timedelta(seconds=1))
    services.use_phrase(staff=teammate, phrase=a, now=start + timedelta(seconds=2))  # again: back to the top
    services.use_phrase(staff=colleague, phrase=c, now=start + timedelta(seconds=3))

    assert ids(services.recent(staff=teammate)) == [a.pk, b.pk]
    assert ids(services.recent(staff=colleague)) == [c.pk]
    assert services.recent(staff=teammate)[0].used_at == start + timedelta(seconds=2)  # type: ignore[attr-defined]
    assert ids(services.recent(staff=teammate, limit=1)) == [a.pk]
    assert PhraseUse.objects.filter(staff=teammate).count() == 2  # one row per agent and phrase


def test_every_use_counts_for_the_phrase(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    phrase = team_phrase(owner)
    unused = team_phrase(owner, "没人用的短语")
    when = timezone.now()
    services.use_phrase(staff=teammate, phrase=phrase)
    services.use_phrase(staff=teammate, phrase=phrase)
    services.use_phrase(staff=colleague, phrase=phrase, now=when)
    phrase.refresh_from_db()
    unused.refresh_from_db()
    assert (phrase.usage_count, phrase.last_used_at) == (3, when)
    assert (unused.usage_count, unused.last_used_at) == (0, None)


def test_a_deleted_phrase_leaves_the_recent_list(owner: StaffAccount, teammate: StaffAccount) -> None:
    phrase = team_phrase(owner)
    services.use_phrase(staff=teammate, phrase=phrase)
    services.delete_phrase(actor=owner, phrase=phrase)
    assert services.recent(staff=teammate) == []


# --- variables ---------------------------------------------------------------------------------------------


def test_variables_are_filled_from_the_conversation() -> None:
    rendered = services.render_phrase(
        content="{买家昵称}您好，订单{订单号}将于{发货时间}发出，我是{客服昵称}",
        context={
            "buyer_nickname": "小王",
            "order_number": "6930012",
            "ship_date": "明天",
            "agent_name": "小美",
        },
    )
    assert rendered.text == "小王您好，订单6930012将于明天发出，我是小美"
    assert rendered.missing == []


def test_english_aliases_and_chinese_context_keys_work_alike() -> None:
    a = services.render_phrase(content="{buyer}/{Agent}/{order}/{ship_date}", context={"买家昵称": "小王"})
    b = services.render_phrase(content="{买家昵称}/{客服昵称}/{订单号}/{发货时间}", context={"buyer": "小王"})
    assert a.text == b.text == "小王/客服/【订单号】/【发货时间】"


def test_a_missing_value_falls_back_and_is_reported() -> None:
    rendered = services.render_phrase(
        content="{买家昵称}您好，订单{订单号}已发出，预计{发货时间|48小时内}到达，{客服昵称}",
        context={"buyer_nickname": "  ", "order_number": None},
    )
    assert rendered.text == "亲您好，订单【订单号】已发出，预计48小时内到达，客服"
    assert rendered.missing == ["buyer_nickname", "order_number", "ship_date", "agent_name"]


def test_unknown_names_and_plain_braces_stay_as_typed() -> None:
    text = "满{100}减{10}，{未知变量}，{ 买家昵称 }"
    assert (
        services.render_phrase(content=text, context={"buyer": "小王"}).text
        == "满{100}减{10}，{未知变量}，小王"
    )


def test_dates_render_as_month_and_day() -> None:
    from datetime import date

    assert (
        services.render_phrase(content="{发货时间}", context={"ship_date": date(2025, 6, 18)}).text
        == "6月18日"
    )


def test_use_fills_the_agent_and_shop_names_and_returns_the_text(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    phrase = team_phrase(owner, "{买家昵称}您好，我是{店铺名称}的{客服昵称}")
    rendered = services.use_phrase(staff=teammate, phrase=phrase, context={"buyer": "小王"})
    assert rendered.text == "小王您好，我是小鹿家居旗舰店的售前-小美"
    phrase.refresh_from_db()
    assert (
        phrase.content == "{买家昵称}您好，我是{店铺名称}的{客服昵称}"
    )  # the stored text keeps its variables


# --- bad input ---------------------------------------------------------------------------------------------


def test_content_is_at_most_1000_characters(owner: StaffAccount) -> None:
    assert len(team_phrase(owner, "好" * 1000).content) == 1000
    with pytest.raises(Invalid) as exc:
        team_phrase(owner, "好" * 1001)
    assert exc.value.errors[0]["field"] == "content"
    assert "1000" in exc.value.message and "1001" in exc.value.message
    with pytest.raises(Invalid):
        team_phrase(owner, "   ")


def test_script_tags_are_stored_as_plain_text(owner: StaffAccount, teammate: StaffAccount) -> None:
    text = '<script>alert("x")</script> 亲，您好'
    phrase = team_phrase(owner, text)
    phrase.refresh_from_db()
    assert phrase.content == text
    assert services.use_phrase(staff=teammate, phrase=phrase).text == text
    assert ids(services.suggest(staff=teammate, text="<script>")) == [phrase.pk]


def test_keywords_are_split_cleaned_and_limited(owner: StaffAccount) -> None:
    phrase = team_phrase(owner, keywords="发货，快递、物流; 发货  包邮")
    assert phrase.keyword_list == ["发货", "快递", "物流", "包邮"]
    with pytest.raises(Invalid):
        team_phrase(owner, "关键词太长", keywords=["超" * 21])


def test_unknown_scope_is_invalid(owner: StaffAccount) -> None:
    with pytest.raises(Invalid):
        services.create_phrase(actor=owner, scope="shared", content="哪个范围")


def test_editing_a_phrase_deleted_meanwhile_is_404_and_does_not_recreate_it(owner: StaffAccount) -> None:
    phrase = team_phrase(owner)
    stale = Phrase.objects.get(pk=phrase.pk)
    services.delete_phrase(actor=owner, phrase=phrase)
    with pytest.raises(NotFound):
        services.update_phrase(actor=owner, phrase=stale, content="改过")
    assert not Phrase.objects.exists()


def test_a_suggested_phrase_can_be_edited_and_used_directly(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    team_phrase(owner, "{买家昵称}，今天发货", code="fh")
    suggested = services.suggest(staff=owner, text="/fh")[0]
    before = Phrase.objects.get(pk=suggested.pk).updated_at
    services.update_phrase(actor=owner, phrase=suggested, content="{买家昵称}，明天发货", code="fh")
    stored = Phrase.objects.get(pk=suggested.pk)
    assert (stored.content, stored.updated_at > before) == ("{买家昵称}，明天发货", True)
    assert "明天" in stored.search_text
    fresh = services.suggest(staff=teammate, text="/fh")[0]
    assert (
        services.use_phrase(staff=teammate, phrase=fresh, context={"buyer": "小王"}).text == "小王，明天发货"
    )
