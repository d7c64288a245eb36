"""The composer in Chromium: a teacher writes to one of their classes with a reply slip (a yes/no question and a
one-choice question), previews it, sends it and sees the progress. The composer, the preview and the message page
are checked with axe-core, and the slip's "add a question" works in the page (JavaScript) as it does without."""

from __future__ import annotations

import datetime as dt
import re

from playwright.sync_api import Page, expect

from hub import clock
from hub.demo.school import STAFF_DOMAIN
from hub.enums import Channel, DeliveryPurpose, DeliveryState, MessageState
from hub.messaging.models import Delivery, Message, Notice, SlipQuestion
from hub.messaging.planning import record_outcome
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer

SUBJECT = "Visite de la citadelle (test navigateur)"


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(f"prof.demo@{STAFF_DOMAIN}")
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


async def _sent() -> tuple[str, int, list[tuple[str, list[str]]]]:
    message = await Message.get(subject=SUBJECT)
    questions = (
        await SlipQuestion.filter(slip__message_id=message.id).order_by("position").values_list("kind", "choices")
    )
    return str(message.state), await Notice.filter(message_id=message.id).count(), [(str(k), c) for k, c in questions]


async def _deliver_all() -> int:
    """Record the first step of every family as delivered; returns how many deliveries are now delivered."""
    now = clock.now()
    message = await Message.get(subject=SUBJECT)
    waiting = (DeliveryState.DUE, DeliveryState.HELD)  # held: when the test runs outside the charter's hours
    due = await Delivery.filter(
        notice__message_id=message.id, state__in=waiting, purpose=DeliveryPurpose.INITIAL
    ).exclude(channel=Channel.PORTAL)
    for delivery in due:
        await record_outcome(delivery.id, now=now, ok=True, delivered=True)
    return (
        await Delivery.filter(notice__message_id=message.id, state=DeliveryState.DELIVERED)
        .exclude(channel=Channel.PORTAL)
        .count()
    )


def test_a_teacher_sends_a_reply_slip_to_a_class(page: Page, live_server: LiveServer) -> None:
    _sign_in(page)
    page.goto("/staff")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Bonjour")
    assert_accessible(page, "staff-home")

    page.get_by_role("link", name="Écrire un message").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nouveau message")
    expect(page.locator("#slip-details")).to_be_hidden()  # the slip's details show once a slip is asked for
    assert_accessible(page, "compose")

    page.get_by_role("group", name="Classes").get_by_role("checkbox").first.check()
    page.get_by_label("Objet", exact=True).fill(SUBJECT)
    page.get_by_label("Message", exact=True).fill("Chers parents,\n\nLa classe visite la citadelle de Namur.")
    page.get_by_label("Catégorie").select_option("trip")
    page.get_by_label("Ajouter un talon-réponse à compléter").check()
    deadline = clock.now() + dt.timedelta(days=14)
    page.get_by_label("Répondre avant le").fill(deadline.strftime("%Y-%m-%dT12:00"))
    page.locator("#f-q1_text").fill("J'autorise mon enfant à participer à la visite.")
    page.locator("#f-q2_kind").select_option("one_choice")
    page.locator("#f-q2_text").fill("Repas de midi")
    page.locator("#f-q2_choices").fill("Pique-nique\nRepas chaud")
    page.get_by_role("button", name="Ajouter une question").click()
    expect(page.locator("#f-q4_text")).to_be_visible()  # added in the page, nothing posted
    expect(page.locator("input[name=question_rows]")).to_have_value("4")

    page.get_by_role("button", name="Aperçu avant l’envoi").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Aperçu avant l’envoi")
    expect(page.get_by_text("Repas de midi (Pique-nique / Repas chaud)")).to_be_visible()
    email = page.frame_locator("iframe.email")
    expect(email.get_by_role("heading", name=SUBJECT)).to_be_visible()
    expect(email.get_by_text("La classe visite la citadelle de Namur.")).to_be_visible()
    assert_accessible(page, "compose-preview")
    page.get_by_role("link", name="Néerlandais").click()
    expect(page.get_by_role("link", name="Néerlandais")).to_have_attribute("aria-current", "page")

    page.get_by_role("button", name=re.compile(r"^(Envoyer à|Programmer pour) \d+ famille")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    expect(page.get_by_role("status")).to_contain_text(re.compile("Le message est (en route|programmé)"))
    expect(page.get_by_role("heading", name="Progression")).to_be_visible()
    expect(page.get_by_role("heading", name="Famille par famille")).to_be_visible()
    assert_accessible(page, "message-sent")

    delivered = live_server.run(_deliver_all)  # as a worker would: the page follows without being reloaded
    assert delivered > 0
    expect(page.locator("[data-count=done]")).to_have_text(str(delivered), timeout=20_000)
    expect(page.locator("[data-count=sending]")).to_have_text("0")
    page.get_by_role("link", name="Messages envoyés").first.click()
    expect(page.get_by_role("link", name=SUBJECT)).to_be_visible()
    assert_accessible(page, "messages")

    state, notices, questions = live_server.run(_sent)
    assert state in (MessageState.PUBLISHED, MessageState.SCHEDULED)
    assert notices > 0
    assert questions == [("yes_no", []), ("one_choice", ["Pique-nique", "Repas chaud"])]


def test_the_composer_says_what_is_missing_in_dutch(page: Page) -> None:
    _sign_in(page)
    page.goto("/staff/compose?lang=nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Nieuw bericht")
    page.get_by_label("Onderwerp", exact=True).fill("Zwemmen")
    page.get_by_label("Een antwoordstrookje toevoegen").check()
    page.locator("#f-q1_choices").fill("Ja\nNee")
    page.get_by_role("button", name="Voorbeeld vóór verzending").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Schrijf het bericht.")
    expect(alert).to_contain_text("Schrijf de vraag.")
    expect(page.get_by_label("Onderwerp", exact=True)).to_have_value("Zwemmen")
    expect(page.locator("#f-q1_text")).to_have_attribute("aria-invalid", "true")
    assert_accessible(page, "compose-errors-nl")
