"""The report pages: who sees what, bad input as a clear error (never a 500), the history search's filters
and query count, the transcript, quality reviews, exports, the hourly report and the insight."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from backoffice.models import Shop, StaffAccount
from reports.models import QualityReview
from routing import config as routing_config
from routing.models import AgentGroup
from tests.conftest import is_postgres, login_client
from tests.reports import world
from tests.reports.world import DAY

RANGE = f"from={DAY.isoformat()}&to={DAY.isoformat()}"


@pytest.fixture
def day(shop_a: Shop, owner: StaffAccount, teammate: StaffAccount, colleague: StaffAccount) -> world.Sessions:
    return world.build(shop_a, owner, teammate, colleague)


@pytest.fixture
def sup(supervisor: StaffAccount) -> Client:
    return login_client(supervisor)


def kpi_value(html: str, code: str) -> str:
    row = html.split(f'data-kpi="{code}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="num">', 1)[1].split("<", 1)[0]


# --- KPIs ---------------------------------------------------------------------------------------------------


def test_supervisor_reads_every_kpi_with_its_definition(sup: Client, day: world.Sessions) -> None:
    response = sup.get(f"/reports/?{RANGE}")
    assert response.status_code == 200
    html = response.content.decode()
    from reports.kpis import KPIS

    for kpi in KPIS:
        assert f'data-kpi="{kpi.code}"' in html
        assert escape(str(kpi.definition)) in html
    assert kpi_value(html, "consultations") == "5"
    assert kpi_value(html, "response_rate_3m") == "60.0%"
    assert 'id="chart-data"' in html
    chart = json.loads(
        html.split('<script id="chart-data" type="application/json">', 1)[1].split("</script>")[0]
    )
    assert chart["ratings"] == [0, 1, 0, 0, 1]  # S5 2 stars, S2 5 stars (from the same facts: rollups)
    assert chart["trend"]["consultations"] == [5]


def test_agent_sees_only_their_own_figures(teammate: StaffAccount, day: world.Sessions) -> None:
    client = login_client(teammate)
    html = client.get(f"/reports/?{RANGE}").content.decode()
    assert kpi_value(html, "consultations") == "3"  # S2, S3, S5 are the teammate's
    assert 'id="group-table"' not in html


def test_agent_asking_for_a_colleagues_figures_gets_404(
    teammate: StaffAccount, colleague: StaffAccount, day: world.Sessions
) -> None:
    client = login_client(teammate)
    assert client.get(f"/reports/?agent={colleague.pk}").status_code == 404
    assert client.get(f"/reports/history/?agent={colleague.pk}").status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-05&to=2026-03-01",  # reversed
        "from=2024-01-01&to=2026-03-01",  # more than a year
        "from=yesterday",
        "agent=abc",
        "from=2026-03-01%00",
        "from=0001-01-01&to=0001-01-01",  # would overflow the time zone arithmetic
        "from=9999-12-30&to=9999-12-31",
        "export=pdf",
    ],
)
def test_bad_input_is_a_clear_error(sup: Client, query: str) -> None:
    for url in ("/reports/", "/reports/history/"):
        response = sup.get(f"{url}?{query}")
        assert response.status_code == 400, (url, query)
        assert 'id="report-error"' in response.content.decode()


def test_unknown_and_foreign_agents_and_groups_are_404(
    sup: Client, outsider: StaffAccount, shop_a: Shop, owner: StaffAccount, teammate: StaffAccount
) -> None:
    group = routing_config.save_group(actor=owner, group=AgentGroup(shop=shop_a, name="售前组"))
    outsider_client = login_client(outsider)
    for url in ("/reports/", "/reports/history/", "/reports/insight/"):
        assert sup.get(f"{url}?agent=2000000000").status_code in (404, 200 if "insight" in url else 404)
        assert outsider_client.get(f"/reports/?agent={teammate.pk}").status_code == 404
        assert outsider_client.get(f"/reports/history/?group={group.pk}").status_code == 404
    assert sup.get(f"/reports/?group={group.pk}").status_code == 200


def test_without_the_right_or_an_im_permission_reports_are_refused(shop_a: Shop) -> None:
    from tests.backoffice import factories

    clerk = factories.staff(shop_a, "clerk", "仓库-小王", im=False)
    assert login_client(clerk).get("/reports/").status_code == 403
    assert Client().get("/reports/").status_code == 302  # to the sign-in page


def test_kpi_export_csv_and_xlsx(sup: Client, day: world.Sessions) -> None:
    response = sup.get(f"/reports/?{RANGE}&export=csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert any(row[1:2] == ["60.0%"] for row in rows)
    xlsx = sup.get(f"/reports/?{RANGE}&export=xlsx")
    assert zipfile.ZipFile(io.BytesIO(xlsx.content)).testzip() is None


# --- history ------------------------------------------------------------------------------------------------


def session_ids(client: Client, query: str) -> set[int]:
    response = client.get(f"/reports/history/?{RANGE}&{query}")
    assert response.status_code == 200, query
    html = response.content.decode()
    return {
        int(part.split("/", 1)[0]) for part in html.split('href="/reports/history/')[1:] if part[0].isdigit()
    }


def test_history_filters(sup: Client, day: world.Sessions) -> None:
    s = day
    assert session_ids(sup, "") == {s.s1.pk, s.s2.pk, s.s3.pk, s.s4.pk, s.s5.pk}
    assert session_ids(sup, "q=微波炉") == {s.s2.pk}  # words in the transcript, no spaces needed
    assert session_ids(sup, "q=在路上") == {s.s3.pk}
    assert session_ids(sup, "buyer=买家4") == {s.s4.pk}  # part of the nickname
    assert session_ids(sup, "buyer=KPI-ORDER-5") == {s.s5.pk}  # an order number
    assert session_ids(sup, "rating=5") == {s.s2.pk}
    assert session_ids(sup, "rating=none") == {s.s1.pk, s.s3.pk, s.s4.pk}
    assert session_ids(sup, "kind=robot") == {s.s1.pk, s.s4.pk}
    assert session_ids(sup, "kind=human") == {s.s2.pk, s.s3.pk, s.s5.pk}
    assert session_ids(sup, "transferred=1") == {s.s3.pk}
    assert session_ids(sup, "ended_by=auto") == {s.s5.pk}
    assert session_ids(sup, "ended_by=agent") == {s.s2.pk, s.s3.pk}
    assert session_ids(sup, "slow=1") == {s.s2.pk}  # the 240 s reply
    assert session_ids(sup, "slow=1&kind=robot") == set()


def test_agent_history_lists_only_their_sessions(teammate: StaffAccount, day: world.Sessions) -> None:
    s = day
    assert session_ids(login_client(teammate), "") == {s.s2.pk, s.s3.pk, s.s5.pk}


def test_history_page_query_count_does_not_grow_with_the_results(
    sup: Client, shop_a: Shop, day: world.Sessions, django_assert_num_queries: Any
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from routing import services
    from tests.backoffice import factories

    url = f"/reports/history/?{RANGE}"
    with CaptureQueriesContext(connection) as few:
        assert sup.get(url).status_code == 200
    import time_machine

    with time_machine.travel(world.at(15, 0), tick=False):
        for i in range(15):
            services.post_buyer_message(buyer=factories.buyer(shop_a, f"more{i}", f"又一位{i}"), text="在吗")
    with django_assert_num_queries(len(few.captured_queries)):
        html = sup.get(url).content.decode()
    assert html.count('href="/reports/history/') >= 20
    assert len(few.captured_queries) <= 10  # session, account, rights, groups, agents, count, the page


def test_history_is_paged(sup: Client, shop_a: Shop, day: world.Sessions, monkeypatch: Any) -> None:
    from reports import history

    monkeypatch.setattr(history, "PAGE_SIZE", 2)
    first = sup.get(f"/reports/history/?{RANGE}").content.decode()
    assert 'id="next-page"' in first
    pages = [session_ids(sup, f"page={n}") for n in (1, 2, 3)]
    assert sum(len(p) for p in pages) == 5 and len(set().union(*pages)) == 5
    assert sup.get(f"/reports/history/?{RANGE}&page=0").status_code == 400


def test_history_export_lists_the_search_result(sup: Client, day: world.Sessions) -> None:
    response = sup.get(f"/reports/history/?{RANGE}&transferred=1&export=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [row[0] for row in rows[1:]] == [str(day.s3.pk)]
    xlsx = sup.get(f"/reports/history/?{RANGE}&export=xlsx")
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


# --- one session --------------------------------------------------------------------------------------------


def test_transcript_shows_messages_delays_trace_transfers_and_rating(
    sup: Client, day: world.Sessions
) -> None:
    html = sup.get(f"/reports/history/{day.s3.pk}/").content.decode()
    assert "快递到哪了" in html and "在路上了" in html
    assert "150" in html.split('id="transcript"', 1)[1]  # the reply's delay
    assert "物流问题请跟进" in html  # the transfer's note
    assert html.count("<li><strong>") >= 2  # queued, then assigned from the queue (and the transfer)
    s2 = sup.get(f"/reports/history/{day.s2.pk}/").content.decode()
    assert 'class="delay slow"' in s2  # the 240 s answer, in red
    assert "5★" in s2


def test_transcript_shows_orders_as_they_were(sup: Client, day: world.Sessions) -> None:
    html = sup.get(f"/reports/history/{day.s5.pk}/").content.decode()
    assert "KPI-ORDER-5" in html.split('id="orders"', 1)[1]


def test_markup_in_a_transcript_is_shown_as_text(
    sup: Client, shop_a: Shop, owner: StaffAccount, day: world.Sessions
) -> None:
    from routing import services
    from tests.backoffice import factories

    buyer = factories.buyer(shop_a, "evil", "<b>坏</b>")
    services.post_buyer_message(buyer=buyer, text="<script>alert(1)</script>")
    conv = buyer.conversations.get()
    html = sup.get(f"/reports/history/{conv.pk}/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_sessions_of_another_shop_or_a_colleague_are_404(
    outsider: StaffAccount, colleague: StaffAccount, teammate: StaffAccount, day: world.Sessions
) -> None:
    assert login_client(outsider).get(f"/reports/history/{day.s2.pk}/").status_code == 404
    assert login_client(colleague).get(f"/reports/history/{day.s2.pk}/").status_code == 404
    assert login_client(teammate).get(f"/reports/history/{day.s2.pk}/").status_code == 200
    assert (
        login_client(outsider).post(f"/reports/history/{day.s2.pk}/review/", {"score": "9"}).status_code
        == 404
    )


def test_supervisor_reviews_a_session_and_the_agent_reads_it(
    sup: Client, teammate: StaffAccount, day: world.Sessions
) -> None:
    url = f"/reports/history/{day.s2.pk}/review/"
    response = sup.post(url, {"score": "85", "tags": ["attitude", "timeliness"], "comment": "第二次回复太慢"})
    assert response.status_code == 302
    review = QualityReview.objects.get()
    assert (review.score, review.tags, review.agent_id) == (85, ["attitude", "timeliness"], teammate.pk)
    sup.post(url, {"score": "70", "comment": "改"})  # the same reviewer again: replaces
    assert QualityReview.objects.get().score == 70
    agent = login_client(teammate)
    assert "改" in agent.get(f"/reports/history/{day.s2.pk}/").content.decode()
    assert agent.post(url, {"score": "100"}).status_code == 403  # agents do not review
    assert QualityReview.objects.get().score == 70


@pytest.mark.parametrize(
    "data",
    [
        {"score": "0"},
        {"score": "101"},
        {"score": "abc"},
        {"score": "50", "tags": ["rude"]},
        {"score": "5", "comment": "x" * 501},
        {"score": "5", "comment": "a\x00b"},
    ],
)
def test_bad_reviews_are_refused_and_nothing_is_written(
    sup: Client, day: world.Sessions, data: dict[str, Any]
) -> None:
    response = sup.post(f"/reports/history/{day.s2.pk}/review/", data)
    assert response.status_code == 400
    assert QualityReview.objects.count() == 0


# --- hourly report, staffing and insight --------------------------------------------------------------------


def test_hourly_report_and_staffing_page(sup: Client, day: world.Sessions) -> None:
    response = sup.get(f"/reports/hourly/?day={DAY.isoformat()}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="staffing-model"' in html
    row = html.split('<th scope="row">10:00</th>', 1)[1].split("</tr>", 1)[0]
    assert row.startswith('<td class="num">5</td>')
    csv_rows = list(
        csv.reader(io.StringIO(sup.get(f"/reports/hourly/?day={DAY}&export=csv").content.decode("utf-8-sig")))
    )
    assert csv_rows[11][:2] == ["10:00", "5"]
    assert sup.get("/reports/hourly/?day=2999-01-01").status_code == 400
    assert sup.get("/reports/hourly/?day=0001-01-01").status_code == 400
    assert sup.get("/reports/insight/?from=0001-01-01&to=0001-01-02").status_code == 400
    assert sup.get("/reports/hourly/?weeks=99").status_code == 400


def test_hourly_and_insight_need_the_report_right(teammate: StaffAccount) -> None:
    client = login_client(teammate)
    assert client.get("/reports/hourly/").status_code == 403
    assert client.get("/reports/insight/").status_code == 403


def test_insight_topics_link_to_their_sessions(sup: Client, day: world.Sessions) -> None:
    html = sup.get(f"/reports/insight/?{RANGE}").content.decode()
    assert "topic=order%3Anone" in html or "topic=order:none" in html
    # S5's buyer had an order (to ship when S5 started): its topic is that order state.
    assert session_ids(sup, "topic=order:to_ship") == {day.s5.pk}
    assert sup.get(f"/reports/history/?{RANGE}&topic=order:bogus").status_code == 400


@pytest.mark.skipif(not is_postgres(), reason="the trigram index is PostgreSQL's")
def test_transcript_words_have_a_trigram_index_on_postgresql(db: Any) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'reports_msg_text_trgm'")
        (definition,) = cursor.fetchone()
    assert "gin_trgm_ops" in definition


def test_report_pages_send_the_policy_and_load_only_our_static_scripts(sup: Client) -> None:
    import re

    from django.contrib.staticfiles import finders

    for url in ("/reports/", "/reports/hourly/", "/reports/live/", "/reports/history/", "/reports/insight/"):
        response = sup.get(url)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"], url
        for src in re.findall(r'<script src="/static/([^"]+)"', response.content.decode()):
            assert finders.find(src), f"{src} is missing: run `make assets` (npm ci copies ECharts)"


def test_exports_neutralize_formulas_in_buyer_text(sup: Client, shop_a: Shop, owner: StaffAccount) -> None:
    from routing import services
    from tests.backoffice import factories

    buyer = factories.buyer(shop_a, "formula", '=HYPERLINK("http://evil.example","点我")')
    services.post_buyer_message(buyer=buyer, text="在吗")
    response = sup.get("/reports/history/?export=csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[1][3].startswith("'=HYPERLINK")


def test_big_counts_are_shown_in_full() -> None:
    from reports.views import format_value

    assert format_value("count", 1_234_567) == "1234567"
    assert format_value("percent", 0.6) == "60.0%"
    assert format_value("count", None) == "—"


def test_insight_lists_the_robots_unanswered_questions_with_their_sessions(
    sup: Client, day: world.Sessions, shop_a: Shop
) -> None:
    import time_machine

    from robot import unanswered
    from routing.models import Message, SenderKind

    asked = [m for m in Message.objects.filter(shop=shop_a, sender=SenderKind.BUYER).order_by("pk")]
    s1_message = next(m for m in asked if m.conversation_id == day.s1.pk)
    s2_message = next(m for m in asked if m.conversation_id == day.s2.pk)
    with time_machine.travel(world.at(12, 0), tick=False):
        for message in (s1_message, s2_message):
            message.text = "你们家猫砂盆能不能放冰箱旁边"  # the same question in two sessions: one group
            unanswered.record(message=message)
    html = sup.get(f"/reports/insight/?{RANGE}").content.decode()
    table = html.split('id="unanswered-table"', 1)[1].split("</table>", 1)[0]
    assert "你们家猫砂盆能不能放冰箱旁边" in table
    assert '<td class="num">2</td>' in table
    topic = table.split("topic=", 1)[1].split('"', 1)[0].replace("%3A", ":")
    assert session_ids(sup, f"topic={topic}") == {day.s1.pk, day.s2.pk}
    assert sup.get(f"/reports/history/?{RANGE}&topic=unanswered:x1").status_code == 400
    # Another day's questions are not in this day's figure.
    other = sup.get("/reports/insight/?from=2020-01-01&to=2020-01-02").content.decode()
    assert "你们家猫砂盆" not in other
