"""``session_facts`` reads a period's sessions and then their rows in chunks of ``CHUNK`` ids: any chunk size
gives the same facts (a session's rows are never split from it or counted twice)."""

from __future__ import annotations

import pytest

from backoffice.models import Shop, StaffAccount
from reports import kpis
from tests.reports import world
from tests.reports.world import BEFORE, DAY


def test_chunked_reads_give_the_same_facts(
    shop_a: Shop,
    owner: StaffAccount,
    teammate: StaffAccount,
    colleague: StaffAccount,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world.build(shop_a, owner, teammate, colleague)
    whole = kpis.raw_facts(shop_a, BEFORE, DAY)
    monkeypatch.setattr(kpis, "CHUNK", 1)
    one_by_one = kpis.raw_facts(shop_a, BEFORE, DAY)
    assert one_by_one == whole
    assert kpis.total(whole.values()).consultations == 6  # S1..S6 over the two days
