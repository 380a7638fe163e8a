"""Knowledge-base writes raced on PostgreSQL: every writer of a shop locks its matching-index stamp row
first (``robot.matching.changed``), so simultaneous imports of one file create each entry once, the built-in
set is given once, and every write gets its own index version."""

from __future__ import annotations

from functools import partial

import pytest

from backoffice.models import CacheStamp, Shop, StaffAccount
from robot import knowledge, matching, spreadsheet
from robot.builtin import BUILTIN
from robot.models import KnowledgeEntry
from tests.conftest import requires_postgres
from tests.robot.test_kb_spreadsheet import csv_bytes
from tests.routing.test_concurrency import run_together

THREADS = 4

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def test_simultaneous_imports_of_one_file_create_each_entry_once(shop_a: Shop, owner: StaffAccount) -> None:
    data = csv_bytes([(f"并发问题{i}", "", f"答案{i}", "coupon", "", "", "") for i in range(20)])
    task = partial(spreadsheet.import_entries, actor=owner, filename="kb.csv", data=data)
    results = run_together([task] * THREADS)
    assert all(isinstance(r, spreadsheet.ImportResult) for r in results), results
    assert sorted(r.created for r in results) == [0] * (THREADS - 1) + [20]
    assert KnowledgeEntry.objects.filter(shop=shop_a, question__startswith="并发问题").count() == 20


def test_simultaneous_builtin_seeding_gives_the_set_once(shop_a: Shop) -> None:
    KnowledgeEntry.objects.filter(shop=shop_a).delete()
    results = run_together([partial(knowledge.ensure_builtin, shop_a.pk)] * THREADS)
    assert sum(results) == len(BUILTIN), results
    assert KnowledgeEntry.objects.filter(shop=shop_a).exclude(builtin_key="").count() == len(BUILTIN)


def test_simultaneous_creates_each_get_their_own_version_and_are_all_matched(
    shop_a: Shop, owner: StaffAccount
) -> None:
    before = CacheStamp.objects.get(shop=shop_a, name="robot_kb").version
    tasks = [
        partial(
            knowledge.create_entry,
            actor=owner,
            question=f"第{i}号暗号问题",
            answer=f"暗号{i}",
            intent="coupon",
        )
        for i in range(THREADS)
    ]
    created = run_together(tasks)
    assert all(isinstance(e, KnowledgeEntry) for e in created), created
    assert sorted(e.index_version for e in created) == list(range(before + 1, before + 1 + THREADS))
    matching.clear()
    for i, entry in enumerate(created):
        found = matching.match(shop_id=shop_a.pk, text=f"第{i}号暗号问题", limit=THREADS)
        assert entry.pk in [c.entry.pk for c in found.candidates]
