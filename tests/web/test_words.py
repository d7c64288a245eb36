"""Words people read every day: an answer says how it came (the personal link, the portal), the answers' CSV names
the way in words (never a code such as "webpush"), and the demo's reply slip is due inside the charter's hours."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from charter import default_charter, is_allowed, is_school_day
from hub.demo.school import STAFF_DOMAIN, slip_deadline
from hub.enums import Urgency
from hub.messaging.models import SlipResponse
from tests.web.conftest import Site
from tests.web.test_portal import _family


async def _ways(trip_id: int) -> list[tuple[int, str, str]]:
    rows = (
        await SlipResponse.filter(slip__message_id=trip_id).order_by("id").values_list("guardian_id", "channel", "via")
    )
    return [(g, str(c), v) for g, c, v in rows]


def test_an_answer_says_it_came_by_the_personal_link_or_the_portal(site: Site) -> None:
    family = site.run(_family)
    token = f"/n/{family.tokens[family.father]}"
    fields = {"target": str(family.pupil_id), "q1": "yes", "q2": "1", "signed_name": "Papa Demo"}
    assert site.post(f"{token}/answer", fields, form_page=token).status_code == 303
    assert site.run(_ways, family.trip_id) == [(family.father, "portal", "link")]
    page = site.client.get(token).text
    assert "(par le lien personnel)" in page and "(par le portail)" not in page
    # The other parent sees how it came too.
    mother = site.client.get(f"/n/{family.tokens[family.mother]}").text
    assert "par le lien personnel" in mother

    # The same answer again from the signed-in portal: the portal's now.
    site.login_guardian(family.father)
    portal = f"/portal/notices/{family.notices[family.father]}"
    assert site.post(f"{portal}/answer", fields, form_page=portal).status_code == 303
    assert site.run(_ways, family.trip_id) == [(family.father, "portal", "")]
    assert "(par le portail)" in site.client.get(portal).text


def test_the_answers_csv_names_the_way_in_words(site: Site) -> None:
    family = site.run(_family)
    token = f"/n/{family.tokens[family.father]}"
    fields = {"target": str(family.pupil_id), "q1": "no", "q2": "0", "signed_name": "Papa Demo"}
    assert site.post(f"{token}/answer", fields, form_page=token).status_code == 303
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    answer = site.client.get(f"/staff/messages/{family.trip_id}/responses.csv")
    assert answer.status_code == 200
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    way = rows[0].index("Canal")
    # Every pupil of the audience has lines (unanswered ones with no channel); the father's answer came by link.
    assert {row[way] for row in rows[1:] if row[way]} == {"Lien personnel"}


@pytest.mark.parametrize(
    "local",
    [
        "2026-12-05 22:10",  # a Saturday night
        "2026-12-08 22:10",  # a Tuesday night in term
        "2026-12-23 10:00",  # the Christmas holidays
        "2026-11-26 10:00",  # a Thursday morning
    ],
)
def test_the_demo_slip_is_due_inside_the_charters_hours(local: str) -> None:
    charter = default_charter()
    now = dt.datetime.fromisoformat(local).replace(tzinfo=charter.tz)
    deadline = slip_deadline(now, charter)
    at = deadline.astimezone(charter.tz)
    assert at.time() == dt.time(12) and is_school_day(charter, at.date())
    assert is_allowed(charter, deadline, Urgency.NORMAL)
    assert dt.timedelta(days=6) < deadline - now < dt.timedelta(days=40)  # about a week, holidays pushing it later
