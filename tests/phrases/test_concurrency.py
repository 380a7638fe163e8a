"""Real concurrent transactions on PostgreSQL (ENGINEERING.md, rule 8): the same code raced from many
threads, the template library imported twice at once, simultaneous uses, an edit racing a delete, and the
search index not missing a write that commits late."""

from __future__ import annotations

import threading
from functools import partial
from typing import Any

import pytest
from django.db import connection, transaction

from backoffice.errors import Conflict, NotFound
from backoffice.models import Shop, StaffAccount
from phrases import index, services
from phrases.library import SCENARIO_LABELS, TEMPLATES
from phrases.models import Phrase, PhraseGroup, PhraseUse
from tests.backoffice import factories
from tests.conftest import requires_postgres
from tests.phrases.conftest import team_phrase
from tests.routing.test_concurrency import run_together, wait_for, waiting_for_a_lock

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


def test_the_index_never_misses_a_write_that_commits_late(
    owner: StaffAccount, teammate: StaffAccount, shop_a: Shop
) -> None:
    """A slow write holds its transaction open while a later write comes and a lookup updates the index: the
    later write waits for the slow one (the shop's writes commit in version order), so no update can read
    the later version without the slow write, and the next lookup after both sees both, still by update."""
    phrase = team_phrase(owner, "发货说明")
    assert [p.pk for p in services.suggest(staff=teammate, text="发货")] == [phrase.pk]
    written, release = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    def slow() -> None:
        try:
            with transaction.atomic():
                results["slow"] = team_phrase(owner, "慢的发货说明")
                written.set()
                assert release.wait(60)
        finally:
            connection.close()

    def fast() -> None:
        try:
            results["fast"] = team_phrase(owner, "快的发货说明")
        finally:
            connection.close()

    threads = [threading.Thread(target=slow), threading.Thread(target=fast)]
    threads[0].start()
    assert written.wait(60)
    threads[1].start()
    wait_for(lambda: waiting_for_a_lock() or "fast" in results, "the later write waits or is done")
    between = [p.content for p in services.suggest(staff=teammate, text="发货")]
    release.set()
    for thread in threads:
        thread.join(60)
    assert between == ["发货说明"]  # the later write was waiting for the slow one's lock
    found = services.suggest(staff=teammate, text="发货")
    assert [p.pk for p in found] == [phrase.pk, results["slow"].pk, results["fast"].pk]
    assert index.shop_index(shop_a.pk).updates > 0
