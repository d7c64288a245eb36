"""Pupils' own accounts on the demo school: a pupil signs in with their password or their personal link (once),
sees their own grade from its publication while their family still waits for the school's delay, never a
sibling's grade, and no guardian page, staff page or API operation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hub.enums import GroupKind
from hub.people import pupil_accounts
from hub.people.models import Group, Guardianship, Membership, PupilAccount, School
from hub.records import visibility
from hub.records.models import Grade
from hub.web.kit import now
from tests.web.conftest import Site

MINE = "Interro de l'élève lui-même"
SIBLING = "Interro du frère ou de la sœur"


async def _siblings_in_records() -> dict[str, Any]:
    """Two pupils sharing a guardian (siblings), a grade for each published a minute ago, and a families' delay of
    a day; the first pupil's login and a personal link."""
    await School.all().update(family_records_delay_hours=24)
    rows = (
        await Guardianship.filter(barred=False, sees_records=True)
        .order_by("guardian_id", "pupil_id")
        .values("guardian_id", "pupil_id")
    )
    by_guardian: dict[int, list[int]] = {}
    for row in rows:
        by_guardian.setdefault(row["guardian_id"], []).append(row["pupil_id"])
    guardian, pupils = next((g, p) for g, p in by_guardian.items() if len(p) >= 2)
    published = now() - dt.timedelta(minutes=1)
    common: dict[str, Any] = {
        "subject": "Sciences",
        "term": "T2",
        "max_score": Decimal(20),
        "assessed_on": now().date(),
    }
    await Grade.create(pupil_id=pupils[0], title=MINE, score=Decimal(14), published_at=published, **common)
    await Grade.create(pupil_id=pupils[1], title=SIBLING, score=Decimal(11), published_at=published, **common)
    account = await PupilAccount.get(pupil_id=pupils[0])
    return {
        "me": pupils[0],
        "sibling": pupils[1],
        "guardian": guardian,
        "login": account.login,
        "link": await pupil_accounts.create_link(pupils[0], now()),
        "family_sees": await (await visibility.family_grades([pupils[0]], now())).filter(title=MINE).count(),
    }


def _sign_in(site: Site, login: str, password: str = "demo") -> Any:
    site.client.cookies.clear()
    return site.post("/pupil/signin", {"login": login, "password": password}, form_page="/pupil/signin")


def test_a_pupil_sees_their_own_grades_at_once_and_nothing_of_a_sibling(site: Site) -> None:
    g = site.run(_siblings_in_records)
    assert g["family_sees"] == 0  # the family waits for the school's delay
    assert _sign_in(site, g["login"], "wrong password").status_code == 401
    assert _sign_in(site, g["login"]).status_code == 303
    page = site.client.get("/pupil")
    assert page.status_code == 200
    assert MINE.replace("'", "&#39;") in page.text and SIBLING not in page.text
    assert "70 %" in page.text  # 14/20 as the term's average
    # No guardian page, staff page or API operation takes a pupil's session.
    assert site.client.get("/portal", follow_redirects=False).status_code == 303
    assert site.client.get(f"/portal/children/{g['sibling']}", follow_redirects=False).status_code == 303
    assert site.client.get("/staff", follow_redirects=False).status_code == 303
    assert site.client.get(f"/api/v1/pupils/{g['me']}").status_code == 403
    assert site.client.get(f"/api/v1/pupils/{g['sibling']}/grades").status_code == 403
    assert site.client.get("/api/v1/session").status_code == 403


def test_a_pupils_personal_link_signs_in_once(site: Site) -> None:
    g = site.run(_siblings_in_records)
    site.client.cookies.clear()
    path = f"/p/{g['link']}"
    assert site.client.get(path).status_code == 200  # looking at the link does not use it
    opened = site.post(path, form_page=path)
    assert opened.status_code == 303 and opened.headers["location"] == "/pupil"
    assert MINE.replace("'", "&#39;") in site.client.get("/pupil").text
    site.client.cookies.clear()
    assert site.post(path, form_page=path).status_code == 410
    assert site.client.get("/pupil", follow_redirects=False).status_code == 303


async def _class_3a_pupils() -> int:
    group = await Group.get(kind=GroupKind.CLASS, code="3A")
    members = await Membership.filter(group_id=group.id).values_list("pupil_id", flat=True)
    return await PupilAccount.filter(pupil_id__in=list(members)).count()


def test_the_demo_pupils_have_accounts(site: Site) -> None:
    assert site.run(_class_3a_pupils) > 0


async def _family_chart(pupil_id: int) -> list[str]:
    from hub.records import grade_chart

    visible = await (await visibility.family_grades([pupil_id], now())).all()
    return [f'<td class="num">{p.percent}</td>' for p in grade_chart.monthly(visible).points]


def test_families_see_a_chart_of_the_years_grades_with_its_figures_as_a_table(site: Site) -> None:
    g = site.run(_siblings_in_records)
    expected = site.run(lambda: _family_chart(g["me"]))
    assert expected  # the demo's term has published grades
    site.login_guardian(g["guardian"])
    page = site.client.get(f"/portal/children/{g['me']}").text
    assert 'aria-labelledby="grade-chart-title"' in page and "<polyline" in page
    table = page[page.index('id="grade-chart-caption"') :]
    for cell in expected:
        assert cell in table
