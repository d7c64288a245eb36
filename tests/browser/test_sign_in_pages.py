"""Signing in, in Chromium: the staff and parents' sign-in pages, a personal sign-in link, each checked with
axe-core; a wrong password says so, a used link says it is used."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from hub import clock
from hub.demo.school import STAFF_DOMAIN
from hub.enums import ContactKind
from hub.people import security
from hub.people.models import Contact
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer


def test_staff_sign_in(page: Page) -> None:
    page.goto("/login")
    assert_accessible(page, "login")
    page.get_by_label("Adresse e-mail", exact=True).fill(f"direction@{STAFF_DOMAIN}")
    page.get_by_label("Mot de passe").fill("not the password")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("alert")).to_contain_text("ne correspondent à aucun compte actif")
    assert_accessible(page, "login-wrong-password")

    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_role("link", name="Personnel : se connecter").first).to_be_visible()


async def _link_for_a_parent() -> str:
    contact = await Contact.filter(kind=ContactKind.EMAIL, verified=True).order_by("id").first()
    assert contact is not None
    return await security.create_sign_in_link(contact.guardian_id, clock.now())  # type: ignore[attr-defined]


def test_parent_sign_in_by_personal_link(page: Page, live_server: LiveServer) -> None:
    page.goto("/signin")
    assert_accessible(page, "signin")
    token = live_server.run(_link_for_a_parent)
    page.goto(f"/s/{token}")
    assert_accessible(page, "signin-link")
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()

    page.context.clear_cookies()
    page.goto(f"/s/{token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ce lien n'est plus utilisable")
    assert_accessible(page, "signin-link-used")


def test_pages_in_dutch(page: Page) -> None:
    page.goto("/signin?lang=nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ouders: aanmelden")
    assert_accessible(page, "signin-nl")
