"""Issue 13: the staff import page names every problem in the page's language (admin.po)."""

from __future__ import annotations

from tests.web.conftest import Site
from tests.web.test_school_setup_pages import _sign_in, school_site

__all__ = ["school_site"]

BAD = b"staff_id,first_name,last_name,email,roles,classes\nS-9,,X,bad,teacher,9Z\n"


def _import(site: Site, lang: str, data: bytes | None = BAD) -> str:
    files = {"file": ("s.csv", data, "text/csv")} if data is not None else None
    response = site.post(f"/staff/admin/staff-import?lang={lang}", form_page="/staff/admin/staff-import", files=files)
    assert response.status_code == 400
    return " ".join(response.text.replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"').split())


def test_the_page_names_the_problems_in_its_language(school_site: Site) -> None:
    site = school_site
    _sign_in(site, "anne@ecole.be")
    french = _import(site, "fr")
    assert "est vide mais obligatoire" in french and "n’est pas une adresse e-mail valide" in french
    assert "(importez d’abord les élèves)" in french and "is empty but required" not in french
    dutch = _import(site, "nl")
    assert "is leeg maar verplicht" in dutch and "is geen geldig e-mailadres" in dutch
    english = _import(site, "en")
    assert "is empty but required" in english and "(import the roster first)" in english
    assert "choisissez le fichier du personnel" in _import(site, "fr", None)
    assert "het bestand is geen UTF-8-tekst" in _import(
        site, "nl", "staff_id;first_name\nS-1;Élodie\n".encode("latin-1")
    )
