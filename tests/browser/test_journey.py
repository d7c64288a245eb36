"""The whole journey of one message, in Chromium, as the issue tells it: a teacher composes a reply slip for
class 3A; both parents of a separated household each open their own link, one answers and acknowledges; the
principal's report shows the counts changing; a paper-only family of the class appears in the print queue and its
letter downloads.

Only time is simulated: a message sent while the charter holds messages (a night, a weekend) has its held
deliveries made due, as the morning would.
"""

from __future__ import annotations

import datetime as dt
import io
import re

from playwright.sync_api import Browser, Page, expect
from pypdf import PdfReader

from hub import clock
from hub.demo.guide import demo_guide
from hub.demo.school import STAFF_DOMAIN
from hub.enums import DeliveryState
from hub.messaging.models import Delivery, Message, Notice
from hub.testing.browser import assert_accessible, new_context
from hub.testing.liveserver import LiveServer

SUBJECT = "Sortie à la citadelle (le parcours complet)"


def _sign_in(page: Page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(email)
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


async def _families() -> tuple[list[tuple[str, str]], list[str]]:
    """The separated parents' names and tokens for the message, and the paper-only family's names."""
    guide = await demo_guide()
    assert guide is not None and guide.separated_parents and guide.paper_family
    message = await Message.get(subject=SUBJECT)
    parents = []
    for person in guide.separated_parents:
        notice = await Notice.get(message_id=message.id, guardian_id=person.guardian_id)
        parents.append((person.name, notice.token))
    return parents, [p.name for p in guide.paper_family]


async def _morning_comes() -> int:
    """What the charter held (sent at night or at a weekend) becomes due, as it would in the morning."""
    message = await Message.get(subject=SUBJECT)
    return await Delivery.filter(notice__message_id=message.id, state=DeliveryState.HELD).update(
        state=DeliveryState.DUE, due_at=clock.now() - dt.timedelta(minutes=1)
    )


async def _message_id() -> int:
    return (await Message.get(subject=SUBJECT)).id


def _count(page: Page, stage: str) -> int:
    """A funnel figure, from the table under the chart (in a <details>: its text, shown or not)."""
    text = page.locator(f'tr[data-stage="{stage}"] td[data-field="count"]').text_content() or ""
    return int("".join(ch for ch in text if ch.isdigit()))


def test_the_journey_of_a_reply_slip(page: Page, browser: Browser, live_server: LiveServer) -> None:
    # 1. The teacher writes to class 3A with a reply slip and an acknowledgement.
    _sign_in(page, f"prof.demo@{STAFF_DOMAIN}")
    page.goto("/staff/compose")
    page.get_by_role("group", name="Classes").get_by_label("3A", exact=True).check()
    page.get_by_label("Objet", exact=True).fill(SUBJECT)
    page.get_by_label("Message", exact=True).fill("Chers parents,\n\nNous visiterons la citadelle de Namur.")
    page.locator("#f-needs_acknowledgement").check()
    page.get_by_label("Ajouter un talon-réponse à compléter").check()
    deadline = clock.now() + dt.timedelta(days=10)
    page.get_by_label("Répondre avant le").fill(deadline.strftime("%Y-%m-%dT12:00"))
    page.locator("#f-q1_text").fill("J'autorise mon enfant à participer.")
    page.get_by_role("button", name="Aperçu avant l’envoi").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aperçu avant l’envoi")
    page.get_by_role("button", name=re.compile(r"^Envoyer à \d+ famille")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    live_server.run(_morning_comes)
    parents, paper_family = live_server.run(_families)
    message_id = live_server.run(_message_id)

    # 2. The principal opens the report on this message, before the families do anything.
    principal = new_context(browser, base_url=live_server.url, viewport="desktop")
    report = principal.new_page()
    try:
        _sign_in(report, f"direction@{STAFF_DOMAIN}")
        report.goto(f"/staff/report?message={message_id}")
        expect(report.get_by_role("heading", level=1)).to_have_text("Rapport de distribution")
        acknowledged, answered = _count(report, "acknowledged"), _count(report, "answered")
        assert (acknowledged, answered) == (0, 0)

        # 3. Each separated parent opens their own link; the first answers and acknowledges.
        (first_name, first_token), (second_name, second_token) = parents
        family = new_context(browser, base_url=live_server.url)
        try:
            link = family.new_page()
            link.goto(f"/n/{first_token}")
            expect(link.get_by_text(f"pour {first_name}")).to_be_visible()
            link.get_by_role("button", name="J'ai lu ce message").click()
            expect(link.get_by_role("status")).to_contain_text("vous avez confirmé avoir lu ce message")
            slip = link.locator("#slip")
            slip.get_by_role("group", name="J'autorise mon enfant à participer.").get_by_label("Oui").check()
            slip.get_by_role("button", name="Envoyer mes réponses").click()
            expect(link.get_by_text("vos réponses sont enregistrées")).to_be_visible()
            assert_accessible(link, "journey-parent-answered")

            family.clear_cookies()
            link.goto(f"/n/{second_token}")
            expect(link.get_by_text(f"pour {second_name}")).to_be_visible()
            expect(link.locator("#slip")).to_contain_text(f"{first_name} a répondu le")
        finally:
            family.close()

        # 4. The principal's figures moved: one acknowledgement; both parents' notices count as answered.
        report.reload()
        assert _count(report, "acknowledged") == 1
        assert _count(report, "answered") == 2
        assert_accessible(report, "journey-report")
    finally:
        principal.close()

    # 5. The secretary prints the letters: the paper-only family of the class is in the queue.
    page.context.clear_cookies()
    _sign_in(page, f"secretariat@{STAFF_DOMAIN}")
    page.goto("/staff/print")
    row = page.get_by_role("row").filter(has_text=SUBJECT)
    expect(row).to_be_visible()
    row.get_by_role("button", name=f"Imprimer les lettres de « {SUBJECT} »").click()
    expect(page.get_by_role("status")).to_contain_text("Le lot est imprimé")
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger ses lettres (PDF)").click()
    pdf = download.value.path().read_bytes()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert SUBJECT in text
    assert any(name in text for name in paper_family), paper_family
    assert_accessible(page, "journey-print-queue")
