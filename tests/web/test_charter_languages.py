"""The charter served in the reader's language with the school's settings, and the settings that feed it."""

from __future__ import annotations

import io

import pypdf

from hub.people.models import Guardian, School
from hub.people.settings_admin import school_dpo
from tests.web.conftest import Site
from tests.web.test_office import ADMIN

DEMO_DPO = "Claire Dubois, dpo@athenee-demo.example.be"


async def _school() -> School:
    school = await School.first()
    assert school is not None
    return school


async def _dpo() -> str:
    return await school_dpo((await _school()).id)


async def _a_guardian() -> int:
    guardian = await Guardian.filter(erased_at__isnull=True).order_by("id").first()
    assert guardian is not None
    return guardian.id


def test_the_charter_page_and_pdf_in_each_language_with_the_schools_settings(site: Site) -> None:
    school = site.run(_school)
    pages = {lang: site.client.get(f"/charter?lang={lang}") for lang in ("fr", "nl", "en")}
    assert all(r.status_code == 200 for r in pages.values())
    assert "Charte d’utilisation" in pages["fr"].text and '<html lang="fr">' in pages["fr"].text
    assert "Charter voor het gebruik" in pages["nl"].text and '<html lang="nl">' in pages["nl"].text
    assert "Charter for the use" in pages["en"].text and '<html lang="en">' in pages["en"].text
    for response in pages.values():
        assert school.name in response.text and DEMO_DPO in response.text and "Rue des Écoliers 12" in response.text
        assert "compléter" not in response.text and "Établissement scolaire" not in response.text
    assert 'href="/charter?lang=nl"' in pages["en"].text  # the other versions are offered
    # the reader's language without ?lang=: the browser's
    browser = site.client.get("/charter", headers={"accept-language": "nl-BE,nl;q=0.9"})
    assert "Charter voor het gebruik" in browser.text
    for lang, title in (("nl", "Charter voor het gebruik"), ("en", "Charter for the use")):
        pdf = site.client.get(f"/charter.pdf?lang={lang}")
        assert pdf.status_code == 200 and pdf.headers["content-language"] == lang
        text = " ".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(pdf.content)).pages)
        assert title in " ".join(text.split()) and "dpo@athenee-demo.example.be" in text


def test_the_settings_offer_only_the_products_languages_and_name_the_dpo(site: Site) -> None:
    site.login_staff(ADMIN)
    page = site.client.get("/staff/settings").text
    assert "Deutsch" not in page and 'value="de"' not in page
    school = site.run(_school)
    form = {
        "name": school.name,
        "address": school.address,
        "timezone": school.timezone,
        "default_language": "de",
        "school_year": school.school_year,
        "dpo": "Marc Lenoir, dpo@ecole.be",
    }
    assert site.post("/staff/settings/school", form, form_page="/staff/settings").status_code == 400
    assert site.run(_dpo) == DEMO_DPO  # refused whole
    form["default_language"] = "nl"
    assert site.post("/staff/settings/school", form, form_page="/staff/settings").status_code == 303
    assert site.run(_dpo) == "Marc Lenoir, dpo@ecole.be"
    assert "Marc Lenoir, dpo@ecole.be" in site.client.get("/charter?lang=en").text


def test_the_channels_page_quotes_the_charter_in_the_readers_language(site: Site) -> None:
    site.login_guardian(site.run(_a_guardian))
    dutch = site.client.get("/portal/channels?lang=nl").text
    assert "Eén toestemming per doel" in dutch and "Un consentement par finalité" not in dutch
    english = site.client.get("/portal/channels?lang=en").text
    assert "One consent per purpose" in english
