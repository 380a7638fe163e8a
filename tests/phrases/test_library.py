"""The built-in template library: its size and scenarios, that every template is a valid phrase, and the
one-click import (team or personal, rights, idempotent)."""

from __future__ import annotations

from collections import Counter

import pytest

from backoffice.errors import Forbidden, Invalid
from backoffice.models import StaffAccount
from phrases import services
from phrases.library import SCENARIO_LABELS, TEMPLATES
from phrases.models import Phrase, PhraseGroup
from tests.phrases.conftest import team_phrase


def test_the_library_has_at_least_60_templates_across_the_seven_scenarios() -> None:
    assert len(TEMPLATES) >= 60
    assert set(SCENARIO_LABELS.values()) == {
        "问候语",
        "订单查询",
        "物流问题",
        "售后问题",
        "产品查询",
        "购买操作",
        "活动折扣",
    }
    per_scenario = Counter(t.scenario for t in TEMPLATES)
    assert set(per_scenario) == set(SCENARIO_LABELS)
    assert min(per_scenario.values()) >= 8


def test_every_template_is_a_valid_phrase_with_unique_key_code_and_text() -> None:
    for t in TEMPLATES:
        assert services.clean_content(t.content) == t.content
        assert services.clean_code(t.code) == t.code
        assert services.clean_keywords(t.keywords)
        assert services.render_phrase(content=t.content).text.count("{") == 0, t.key  # only known variables
    for values in ([t.key for t in TEMPLATES], [t.code for t in TEMPLATES], [t.content for t in TEMPLATES]):
        assert len(values) == len(set(values))


def test_some_templates_use_variables() -> None:
    with_variables = [t for t in TEMPLATES if services.render_phrase(content=t.content).missing]
    assert len(with_variables) >= 5


def test_template_import_is_one_group_per_scenario_and_idempotent(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    first = services.import_templates(actor=owner, scope="team")
    assert (first.created, first.unchanged) == (len(TEMPLATES), 0)
    assert Phrase.objects.visible_to(teammate).count() == len(TEMPLATES)
    assert set(PhraseGroup.objects.for_shop(owner.shop).values_list("name", flat=True)) == set(
        SCENARIO_LABELS.values()
    )

    second = services.import_templates(actor=owner, scope="team")
    assert (second.created, second.unchanged) == (0, len(TEMPLATES))
    assert Phrase.objects.for_shop(owner.shop).count() == len(TEMPLATES)
    assert PhraseGroup.objects.for_shop(owner.shop).count() == len(SCENARIO_LABELS)


def test_an_edited_template_is_not_imported_again(owner: StaffAccount) -> None:
    services.import_templates(actor=owner, scope="team", scenarios=["greeting"])
    phrase = Phrase.objects.get(template_key="greeting.wh2")
    services.update_phrase(actor=owner, phrase=phrase, content="亲，在的，您说～", code="wh2")
    assert services.import_templates(actor=owner, scope="team", scenarios=["greeting"]).created == 0
    assert not Phrase.objects.filter(content="亲，在的哦～请问有什么可以帮到您的呢？").exists()


def test_importing_templates_keeps_existing_phrases_and_codes(owner: StaffAccount) -> None:
    mine = team_phrase(owner, "我们店自己的欢迎语", code="wh1")
    result = services.import_templates(actor=owner, scope="team", scenarios=["greeting"])
    assert result.created == 10
    imported = Phrase.objects.get(template_key="greeting.wh1")
    assert imported.code == ""  # the shop's own /wh1 keeps its code
    mine.refresh_from_db()
    assert mine.code == "wh1"


def test_a_scenario_can_be_imported_alone(owner: StaffAccount) -> None:
    result = services.import_templates(actor=owner, scope="team", scenarios=["logistics"])
    assert result.created == sum(1 for t in TEMPLATES if t.scenario == "logistics")
    assert set(PhraseGroup.objects.for_shop(owner.shop).values_list("name", flat=True)) == {"物流问题"}
    with pytest.raises(Invalid):
        services.import_templates(actor=owner, scope="team", scenarios=["nonsense"])


def test_an_agent_imports_templates_into_personal_phrases_only(
    owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount
) -> None:
    with pytest.raises(Forbidden):
        services.import_templates(actor=teammate, scope="team")
    result = services.import_templates(actor=teammate, scope="personal", scenarios=["greeting"])
    assert result.created == 10
    assert Phrase.objects.personal(teammate).count() == 10
    assert Phrase.objects.visible_to(colleague).count() == 0
    # The same templates may also be in the team library: scopes are independent.
    assert services.import_templates(actor=owner, scope="team", scenarios=["greeting"]).created == 10
    assert services.import_templates(actor=teammate, scope="personal", scenarios=["greeting"]).created == 0


def test_imported_templates_are_searchable_like_typed_phrases(
    owner: StaffAccount, teammate: StaffAccount
) -> None:
    services.import_templates(actor=owner, scope="team")
    found = services.suggest(staff=teammate, text="發貨")  # traditional query
    assert found and all("发货" in p.search_text for p in found)
    assert services.suggest(staff=teammate, text="/wl2")[0].template_key == "logistics.wl2"
