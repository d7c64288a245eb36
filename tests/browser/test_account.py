"""The guardian's account pages in Chromium: "How I am reached" (quiet hours and consents saved through the
forms, the consent history), the welcome letter's onboarding page and the password page, each checked with
axe-core on a phone and a desktop, in French and in Dutch."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from hub import clock
from hub.enums import ConsentPurpose, ContactKind, LinkPurpose
from hub.people import security
from hub.people.models import Consent, Contact, Guardian
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer

both_viewports = pytest.mark.parametrize("viewport", ["phone", "desktop"])


async def _guardian_with_email_consent(skip: int) -> int:
    """A French-speaking guardian who consented to email (``skip`` picks another one: each test has its own)."""
    consenting = await Consent.filter(
        purpose=ConsentPurpose.EMAIL, withdrawn_at__isnull=True, guardian__language="fr"
    ).values_list("guardian_id", flat=True)
    emails = await Contact.filter(kind=ContactKind.EMAIL, verified=True, guardian_id__in=list(consenting)).values_list(
        "guardian_id", flat=True
    )
    return sorted(set(emails))[skip]


def _sign_in(page: Page, live_server: LiveServer, guardian_id: int, purpose: LinkPurpose) -> None:
    async def link() -> str:
        return await security.create_sign_in_link(guardian_id, clock.now(), purpose)

    page.goto(f"/s/{live_server.run(link)}")
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


@both_viewports
def test_how_i_am_reached(page: Page, live_server: LiveServer, viewport: str) -> None:
    guardian_id = live_server.run(lambda: _guardian_with_email_consent(0 if viewport == "phone" else 1))
    _sign_in(page, live_server, guardian_id, LinkPurpose.SIGN_IN)
    page.goto("/portal/channels")
    expect(page.get_by_role("heading", level=1)).to_have_text("Comment me joindre")
    expect(page.get_by_role("heading", name="Mes coordonnées")).to_be_visible()
    assert_accessible(page, f"account-channels-{viewport}")

    page.get_by_label("De", exact=True).fill("19:00")
    page.get_by_label("À", exact=True).fill("07:30")
    page.get_by_role("button", name="Enregistrer mes heures de calme").click()
    expect(page.get_by_role("status").filter(has_text="heures de calme sont enregistrées")).to_be_visible()
    expect(page.get_by_label("De", exact=True)).to_have_value("19:00")

    page.get_by_label("Par e-mail").uncheck()
    page.get_by_role("button", name="Enregistrer mes consentements").click()
    expect(page.get_by_role("status").filter(has_text="Vos choix sont enregistrés")).to_be_visible()
    expect(page.get_by_label("Par e-mail")).not_to_be_checked()
    history = page.locator("details").filter(has_text="Par e-mail")
    history.locator("summary").click()
    expect(history).to_contain_text("retiré le")
    assert_accessible(page, f"account-channels-saved-{viewport}")

    async def stored() -> tuple[str, bool]:
        guardian = await Guardian.get(id=guardian_id)
        live = await Consent.filter(
            guardian_id=guardian_id, purpose=ConsentPurpose.EMAIL, withdrawn_at__isnull=True
        ).exists()
        return guardian.quiet_from.strftime("%H:%M"), live

    assert live_server.run(stored) == ("19:00", False)


def test_onboarding_from_the_welcome_letter(page: Page, live_server: LiveServer) -> None:
    guardian_id = live_server.run(lambda: _guardian_with_email_consent(2))

    async def not_onboarded() -> None:
        await Guardian.filter(id=guardian_id).update(onboarded_at=None)

    live_server.run(not_onboarded)
    _sign_in(page, live_server, guardian_id, LinkPurpose.ONBOARDING)
    expect(page).to_have_url(f"{live_server.url}/portal/onboarding")
    expect(page.get_by_role("heading", level=1)).to_have_text("Bienvenue dans Carnet")
    assert_accessible(page, "account-onboarding")

    page.get_by_role("button", name="Confirmer mes choix").click()
    expect(page.get_by_role("status").filter(has_text="vous avez confirmé vos choix")).to_be_visible()
    assert_accessible(page, "account-onboarding-done")

    async def onboarded() -> bool:
        return (await Guardian.get(id=guardian_id)).onboarded_at is not None

    assert live_server.run(onboarded)

    page.goto("/portal/onboarding?lang=nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welkom bij Carnet")
    assert_accessible(page, "account-onboarding-nl")


def test_password_page(page: Page, live_server: LiveServer) -> None:
    guardian_id = live_server.run(lambda: _guardian_with_email_consent(3))
    _sign_in(page, live_server, guardian_id, LinkPurpose.SIGN_IN)
    page.goto("/portal/password")
    page.get_by_label("Nouveau mot de passe").fill("court")
    page.get_by_label("Le même mot de passe, à nouveau").fill("court")
    page.get_by_label("Nouveau mot de passe").evaluate("el => el.form.noValidate = true")
    page.get_by_role("button", name="Enregistrer mon mot de passe").click()
    expect(page.get_by_role("alert")).to_contain_text("au moins 10 caractères")
    assert_accessible(page, "account-password-error")
    page.get_by_label("Nouveau mot de passe").fill("cheval agrafe pile")
    page.get_by_label("Le même mot de passe, à nouveau").fill("cheval agrafe pile")
    page.get_by_role("button", name="Enregistrer mon mot de passe").click()
    expect(page.get_by_role("status")).to_contain_text("Votre mot de passe est enregistré")
    assert_accessible(page, "account-password")
