"""Builders for quick phrases. The standing fixtures (tests/conftest.py) give owner, teammate and
colleague (agents) and supervisor (whose role holds the team-phrase right) of shop A, and the outsider."""

from __future__ import annotations

from typing import Any

from backoffice.models import StaffAccount
from phrases import services
from phrases.models import Phrase


def team_phrase(owner: StaffAccount, content: str = "亲，今天下单今天发货哦", **kw: Any) -> Phrase:
    return services.create_phrase(actor=owner, scope="team", content=content, **kw)


def personal_phrase(agent: StaffAccount, content: str = "亲，我是小美，很高兴为您服务", **kw: Any) -> Phrase:
    return services.create_phrase(actor=agent, scope="personal", content=content, **kw)
