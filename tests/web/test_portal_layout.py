"""The layout of a guardian's pages reads the school's name with the session, in the same statement, on every
request: a rename made on the settings page shows on the next page of everyone (signed in or not), and each
guardian's header is their own."""

from __future__ import annotations

import html

from hub.people.models import Guardian, School
from hub.people.settings_admin import school_dpo
from tests.web.conftest import Site
from tests.web.test_office import ADMIN


async def _school() -> tuple[School, str]:
    school = await School.first()
    assert school is not None
    return school, await school_dpo(school.id)


async def _guardians() -> list[tuple[int, str]]:
    rows = await Guardian.filter(erased_at__isnull=True).order_by("id").limit(2)
    return [(g.id, f"{g.first_name} {g.last_name}") for g in rows]


def _brand(page: str) -> str:
    start = page.index('<p class="brand">')
    return html.unescape(page[start : page.index("</p>", start)])


def test_a_rename_on_the_settings_page_shows_on_the_next_page_of_each_reader(site: Site) -> None:
    school, dpo = site.run(_school)
    (first, first_name), (second, second_name) = site.run(_guardians)
    site.login_guardian(first)
    page = site.client.get("/portal").text
    assert school.name in _brand(page) and first_name in page

    site.login_staff(ADMIN)
    form = {
        "name": "Athénée Royal de Bomel",
        "address": school.address,
        "timezone": school.timezone,
        "default_language": school.default_language,
        "school_year": school.school_year,
        "dpo": dpo,
    }
    assert site.post("/staff/settings/school", form, form_page="/staff/settings").status_code == 303
    assert "Athénée Royal de Bomel" in _brand(site.client.get("/staff/settings").text)

    for guardian, name, other in ((first, first_name, second_name), (second, second_name, first_name)):
        site.login_guardian(guardian)
        for path in ("/portal", "/portal/children", "/portal/data"):
            page = site.client.get(path).text
            assert _brand(page).endswith("<span>Athénée Royal de Bomel</span>"), (path, _brand(page))
            assert f"<span>{html.escape(name)}</span>" in page and f"<span>{html.escape(other)}</span>" not in page
    site.logout()
    assert "Athénée Royal de Bomel" in _brand(site.client.get("/signin").text)
    # an unknown session cookie: signed out, the school's name all the same
    site.client.cookies.set("carnet_session", "forged")
    assert "Athénée Royal de Bomel" in _brand(site.client.get("/").text)
