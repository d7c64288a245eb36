"""One rule for what families see of a pupil's records (hub/records/visibility.py), read the same by the portal, the
JSON API and the guardian's data export: a grade or a report card shows only once its publication time, plus the
school's delay for families, has passed; a guardian without the records right, or barred, sees no record anywhere;
staff see every grade, published or not."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest

from hub.enums import AbsenceReason
from hub.people.models import Guardianship, Pupil, School
from hub.records.models import Absence, Grade, ReportCard
from hub.web.kit import now
from tests.web.conftest import Site
from tests.web.test_api import PRINCIPAL, Api, _separated_family_of

TEACHER = "Interro à venir"
PAST = "Interro publiée"


@pytest.fixture
def api(site: Site) -> Api:
    return Api(site)


async def _records(pupil_id: int) -> None:
    """A grade published an hour ago, one to be published tomorrow, a draft, a report card of next week, an absence."""
    at = now()
    common: dict[str, Any] = {"pupil_id": pupil_id, "subject": "Sciences", "term": "T1", "max_score": Decimal(20)}
    await Grade.create(
        **common, title=PAST, score=Decimal("15.5"), assessed_on=at.date(), published_at=at - dt.timedelta(hours=1)
    )
    await Grade.create(
        **common, title=TEACHER, score=Decimal(9), assessed_on=at.date(), published_at=at + dt.timedelta(days=1)
    )
    await Grade.create(**common, title="Brouillon", score=Decimal(3), assessed_on=at.date())
    await ReportCard.create(
        pupil_id=pupil_id,
        school_year="2026-2027",
        term="Noël",
        results={"Sciences": {"score": 12, "max": 20, "comment": ""}},
        published_at=at + dt.timedelta(days=7),
    )
    await Absence.create(
        pupil_id=pupil_id,
        starts_at=at - dt.timedelta(days=1),
        ends_at=at - dt.timedelta(days=1, hours=-4),
        reason=AbsenceReason.UNKNOWN,
        note="Absence de test visible",
    )


def _export(site: Site) -> dict[str, Any]:
    response = site.post("/portal/data/export", {"format": "json"}, form_page="/portal/data")
    assert response.status_code == 200
    return json.loads(response.content)  # type: ignore[no-any-return]


def _seen(api: Api, site: Site, pupil: int) -> dict[str, Any]:
    """What the guardian signed in sees of the pupil's grades in the portal, the API and the export."""
    page = site.client.get(f"/portal/children/{pupil}")
    assert page.status_code == 200
    data = _export(site)
    return {
        "page": page.text,
        "api": [g["title"] for g in api.get(f"/pupils/{pupil}/grades").json()["items"]],
        "api_cards": [c["term"] for c in api.get(f"/pupils/{pupil}/report-cards").json()["items"]],
        "api_absences": api.get(f"/pupils/{pupil}/absences").json()["items"],
        "detail": api.get(f"/pupils/{pupil}").json(),
        "export": [g["title"] for g in data["grades"] if g["pupil_id"] == pupil],
        "export_cards": [c["term"] for c in data["report_cards"] if c["pupil_id"] == pupil],
        "export_absences": [a for a in data["absences"] if a["pupil_id"] == pupil],
    }


def test_a_future_grade_shows_nowhere_to_the_family_until_its_time(api: Api, site: Site) -> None:
    pupil, parent, _other = site.run(_separated_family_of, "3A")
    site.run(_records, pupil)
    api.sign_in_guardian(parent, by_link=True)
    seen = _seen(api, site, pupil)
    for where in ("api", "export"):
        assert PAST in seen[where] and TEACHER not in seen[where] and "Brouillon" not in seen[where], where
    assert PAST in seen["page"] and TEACHER not in seen["page"] and "Brouillon" not in seen["page"]
    assert "Noël" not in seen["api_cards"] + seen["export_cards"] and "Bulletin Noël" not in seen["page"]
    assert TEACHER not in json.dumps(seen["detail"])
    assert seen["api_absences"] and seen["export_absences"] and "Absence de test visible" in seen["page"]

    # Staff see every grade, the draft and the one to come included.
    api.sign_in_staff(PRINCIPAL)
    staff = [g["title"] for g in api.get(f"/pupils/{pupil}/grades").json()["items"]]
    assert {PAST, TEACHER, "Brouillon"} <= set(staff)


def test_the_school_delay_keeps_a_fresh_grade_from_families(api: Api, site: Site) -> None:
    pupil, parent, _other = site.run(_separated_family_of, "3A")
    site.run(_records, pupil)

    async def delay(hours: int) -> None:
        school_id = (await Pupil.get(id=pupil)).school_id  # type: ignore[attr-defined]
        await School.filter(id=school_id).update(family_records_delay_hours=hours)

    site.run(delay, 24)
    api.sign_in_guardian(parent, by_link=True)
    seen = _seen(api, site, pupil)
    assert PAST not in seen["api"] and PAST not in seen["export"] and PAST not in seen["page"]
    site.run(delay, 0)
    assert PAST in [g["title"] for g in api.get(f"/pupils/{pupil}/grades").json()["items"]]


def test_a_guardian_without_the_records_right_sees_no_record_anywhere(api: Api, site: Site) -> None:
    pupil, parent, other = site.run(_separated_family_of, "3A")
    site.run(_records, pupil)

    async def no_records_right() -> None:
        await Guardianship.filter(guardian_id=parent, pupil_id=pupil).update(sees_records=False)

    site.run(no_records_right)
    api.sign_in_guardian(parent, by_link=True)
    seen = _seen(api, site, pupil)
    assert seen["api"] == [] and seen["api_cards"] == [] and seen["api_absences"] == []
    assert seen["detail"]["grades"] == [] and seen["detail"]["absences"] == [] and seen["detail"]["report_cards"] == []
    assert api.get(f"/pupils/{pupil}/journal").json() == {"items": []}
    assert seen["export"] == [] and seen["export_cards"] == [] and seen["export_absences"] == []
    assert PAST not in seen["page"] and "Absence de test visible" not in seen["page"]
    assert "ne voyez pas" in seen["page"] or "pas ses résultats" in seen["page"]
    # The child's page still opens: the guardian receives messages about them.
    listing = site.client.get("/portal/children")
    assert f'href="/portal/children/{pupil}"' in listing.text

    # The other parent keeps the right and sees the published grade.
    api.sign_in_guardian(other, by_link=True)
    assert PAST in [g["title"] for g in api.get(f"/pupils/{pupil}/grades").json()["items"]]


def test_a_barred_guardian_reaches_no_record(api: Api, site: Site) -> None:
    pupil, parent, _other = site.run(_separated_family_of, "3A")
    site.run(_records, pupil)

    async def bar() -> None:
        await Guardianship.filter(guardian_id=parent, pupil_id=pupil).update(barred=True)

    site.run(bar)
    api.sign_in_guardian(parent, by_link=True)
    assert api.get(f"/pupils/{pupil}/grades").status_code == 404
    assert site.client.get(f"/portal/children/{pupil}").status_code == 404
    data = _export(site)
    assert all(row["pupil_id"] != pupil for key in ("grades", "report_cards", "absences") for row in data[key])
