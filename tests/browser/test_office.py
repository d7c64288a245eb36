"""The school office in Chromium: a paper-only family's letter appears in the print queue and downloads as a PDF
(printed whatever the hour); the paper answer form, onboarding and the settings; each page checked with axe-core
and photographed."""

from __future__ import annotations

import datetime as dt
import io

from playwright.sync_api import Page, expect
from pypdf import PdfReader

from hub import clock
from hub.demo.school import DEMO_SCHOOL_NAME, STAFF_DOMAIN
from hub.enums import AudienceKind, QuestionKind
from hub.messaging.models import Message, MessageAudience, Notice, ReplySlip, SlipQuestion
from hub.messaging.planning import publish
from hub.people.models import Contact, Guardian, Guardianship, School, Staff
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer

SUBJECT = "Photo de classe : bon de commande"


async def _letter_for_a_paper_only_family() -> tuple[str, str]:
    """Write now (whatever the hour: printing does not wait for school hours) to one pupil of a family reached by
    paper only, with a reply slip; that family's guardian's name and the letter's short code."""
    school = await School.get(name=DEMO_SCHOOL_NAME)
    with_contacts = await Contact.filter(guardian__school=school).values_list("guardian_id", flat=True)
    link = (
        await Guardianship.filter(guardian__school=school, receives=True, barred=False, may_answer=True)
        .exclude(guardian_id__in=list(with_contacts))
        .order_by("id")
        .first()
    )
    assert link is not None, "the demo school has families reached by paper only"
    guardian = await Guardian.get(id=link.guardian_id)  # type: ignore[attr-defined]
    secretary = await Staff.get(email=f"secretariat@{STAFF_DOMAIN}")
    now = clock.now()
    message = await Message.create(school=school, author=secretary, subject=SUBJECT, body="Le photographe passe.")
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=link.pupil_id)  # type: ignore[attr-defined]
    slip = await ReplySlip.create(message=message, deadline=now + dt.timedelta(days=30))
    await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="Commandez-vous la photo ?")
    await publish(message.id, now=now, actor_staff_id=secretary.id)
    notice = await Notice.get(message=message, guardian=guardian)
    code = notice.token[:8].upper()
    return f"{guardian.first_name} {guardian.last_name}", f"{code[:4]}-{code[4:]}"


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(email)
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def test_a_paper_only_familys_letter_is_printed_and_its_slip_recorded(page: Page, live_server: LiveServer) -> None:
    name, code = live_server.run(_letter_for_a_paper_only_family)
    _sign_in(page, f"secretariat@{STAFF_DOMAIN}")
    page.goto("/staff/print")
    expect(page.get_by_role("heading", level=1)).to_have_text("Courriers à imprimer")
    row = page.get_by_role("row").filter(has_text=SUBJECT)
    expect(row).to_be_visible()
    row.get_by_text("Destinataires").click()
    expect(row.get_by_text(name)).to_be_visible()
    assert_accessible(page, "office-print-queue")

    row.get_by_role("button", name=f"Imprimer les lettres de « {SUBJECT} »").click()
    expect(page.get_by_role("status")).to_contain_text("Le lot est imprimé")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger ses lettres (PDF)").click()
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert name in text and SUBJECT in text
    assert_accessible(page, "office-print-queue-printed")

    page.goto("/staff/paper")
    page.get_by_label("Code de la lettre").fill(code.lower())
    page.get_by_role("button", name="Trouver la lettre").click()
    # (an administrator may also see the banner of an access recovery: the letter's heading is the one named)
    expect(page.get_by_role("heading", level=2, name=SUBJECT)).to_be_visible()
    assert_accessible(page, "office-paper-form")
    page.get_by_role("group", name="1. Commandez-vous la photo ?").get_by_label("Oui").check()
    signers = page.get_by_role("group", name="Qui a signé le talon ?")
    if signers.count():  # one letter for a household: the office says which guardian signed
        signers.get_by_label(name).check()
    page.get_by_label("Nom écrit sur le talon").fill(name)
    page.get_by_role("button", name="Enregistrer la réponse").first.click()
    expect(page.get_by_role("status")).to_contain_text("La réponse est enregistrée")
    assert_accessible(page, "office-paper-recorded")

    page.get_by_label("Code de la lettre").fill("ZZZZ-ZZZZ")
    page.get_by_role("button", name="Trouver la lettre").click()
    expect(page.get_by_role("alert").filter(has_text="Aucune lettre")).to_contain_text(
        "Aucune lettre de l’école n’a le code"
    )
    assert_accessible(page, "office-paper-unknown-code")


def test_onboarding_and_settings(page: Page) -> None:
    _sign_in(page, f"admin@{STAFF_DOMAIN}")
    page.goto("/staff/onboarding")
    expect(page.get_by_role("heading", level=1)).to_have_text("Premiers pas des familles")
    assert_accessible(page, "office-onboarding")
    with page.expect_download() as download:
        page.get_by_role("button", name="Imprimer les lettres de bienvenue de la classe 3A").click()
    assert download.value.path().read_bytes().startswith(b"%PDF")

    page.goto("/staff/settings")
    expect(page.get_by_role("heading", level=1)).to_have_text("L’école")
    assert_accessible(page, "office-settings")
    page.get_by_label("Année scolaire").fill("2026-2028")
    page.get_by_role("button", name="Enregistrer les réglages").click()
    expect(page.get_by_role("alert")).to_contain_text("deux années qui se suivent")
    assert_accessible(page, "office-settings-error")


def test_the_print_queue_in_dutch(page: Page) -> None:
    _sign_in(page, f"direction@{STAFF_DOMAIN}")
    page.goto("/staff/print?lang=nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Af te drukken brieven")
    assert_accessible(page, "office-print-queue-nl")
