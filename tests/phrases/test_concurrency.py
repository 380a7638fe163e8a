"""Real concurrent transactions on PostgreSQL (ENGINEERING.md, rule 8): the same code raced from many
threads, the template library imported twice at once, simultaneous uses, and an edit racing a delete."""

from __future__ import annotations

from functools import partial

import pytest

from backoffice.errors import Conflict, NotFound
from backoffice.models import StaffAccount
from phrases import services
from phrases.library import SCENARIO_LABELS, TEMPLATES
from phrases.models import Phrase, PhraseGroup, PhraseUse
from tests.backoffice import factories
from tests.conftest import requires_postgres
from tests.phrases.conftest import team_phrase
from tests.routing.test_concurrency import run_together

THREADS = 8

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_one_of_many_simultaneous_creates_gets_a_code(owner: StaffAccount) -> None:
    tasks = [
        partial(services.create_phrase, actor=owner, scope="team", content=f"第{i}条", code="fh")
        for i in range(THREADS)
    ]
    results = run_together(tasks)
    assert sum(isinstance(r, Phrase) for r in results) == 1
    assert all(isinstance(r, Phrase | Conflict) for r in results), results
    assert Phrase.objects.filter(code="fh").count() == 1


def test_simultaneous_template_imports_create_each_template_once(owner: StaffAccount) -> None:
    results = run_together([partial(services.import_templates, actor=owner, scope="team")] * 4)
    assert all(isinstance(r, services.ImportResult) for r in results), results
    assert sum(r.created for r in results) == len(TEMPLATES)
    assert Phrase.objects.count() == len(TEMPLATES)
    assert PhraseGroup.objects.count() == len(SCENARIO_LABELS)


def test_simultaneous_uses_all_count(owner: StaffAccount) -> None:
    phrase = team_phrase(owner)
    agents = [factories.staff(owner.shop, f"race{i}", f"客服{i}") for i in range(THREADS)]

    def use_many(agent: StaffAccount) -> int:
        for _ in range(10):
            services.use_phrase(staff=agent, phrase=phrase)
        return 10

    assert run_together([partial(use_many, a) for a in agents]) == [10] * THREADS
    phrase.refresh_from_db()
    assert phrase.usage_count == 10 * THREADS
    assert PhraseUse.objects.filter(phrase=phrase).count() == THREADS


def test_an_edit_racing_a_delete_never_brings_the_phrase_back(owner: StaffAccount) -> None:
    for _ in range(10):
        phrase = team_phrase(owner, code="fh")
        edit = partial(services.update_phrase, actor=owner, phrase=phrase, content="改过", code="fh")
        delete = partial(services.delete_phrase, actor=owner, phrase=Phrase.objects.get(pk=phrase.pk))
        results = run_together([edit, delete])
        assert results[1] is None, results
        assert isinstance(results[0], Phrase | NotFound), results
        assert not Phrase.objects.filter(pk=phrase.pk).exists()
