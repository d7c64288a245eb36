"""Reply threads in Chromium: a parent writes to the school from the portal (a refused empty post first), the
class's titulaire finds it in the inbox and answers, the parent reads the answer. The parent's thread page, the
refusal, the staff inbox and the staff thread are each checked with axe-core (screenshots saved)."""

from __future__ import annotations

from dataclasses import dataclass

from playwright.sync_api import Page, expect

from hub import clock
from hub.people import security
from hub.people.models import Staff
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer
from tests.messaging.test_threads import SUBJECT, separated_family


@dataclass(frozen=True)
class Conversation:
    guardian_id: int
    notice_id: int
    teacher_email: str


async def _conversation() -> Conversation:
    """A fresh class message to a separated family; its sender gets the demo password to sign in."""
    family = await separated_family(clock.now())
    demo = await Staff.filter(email__startswith="prof.demo@").first()
    assert demo is not None
    await Staff.filter(id=family.author_id).update(password_hash=demo.password_hash)
    first = family.home[0]
    teacher = await Staff.get(id=family.author_id)
    return Conversation(first, family.notices[first], teacher.email)


def _sign_in_guardian(page: Page, live_server: LiveServer, guardian_id: int) -> None:
    token = live_server.run(lambda: security.create_sign_in_link(guardian_id, clock.now()))
    page.goto(f"/s/{token}?lang=fr")  # this parent reads English: the test reads French
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def test_a_parent_writes_and_the_teacher_answers(page: Page, live_server: LiveServer) -> None:
    talk = live_server.run(_conversation)
    _sign_in_guardian(page, live_server, talk.guardian_id)
    page.goto(f"/portal/notices/{talk.notice_id}/reply")
    expect(page.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    assert_accessible(page, "thread-parent")

    box = page.get_by_label("Votre message à l’école")
    box.fill("   ")  # only spaces: the browser lets it through, the school refuses it
    page.get_by_role("button", name="Envoyer à l’école").click()
    expect(page.get_by_role("alert")).to_contain_text("Votre message est vide")
    assert_accessible(page, "thread-parent-refused")

    page.get_by_label("Votre message à l’école").fill("Notre fils peut-il venir à vélo ?")
    page.get_by_role("button", name="Envoyer à l’école").click()
    expect(page.get_by_role("status")).to_contain_text("Votre message est envoyé à l’école")
    expect(page.get_by_text("L’école vous répondra au plus tard le")).to_be_visible()

    page.context.clear_cookies()
    page.goto("/login?lang=fr")
    page.get_by_label("Adresse e-mail", exact=True).fill(talk.teacher_email)
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    page.goto("/staff/inbox")
    expect(page.get_by_role("heading", level=1)).to_have_text("Réponses des familles")
    assert_accessible(page, "thread-inbox")
    page.get_by_role("link", name=SUBJECT).first.click()
    expect(page.get_by_text("Notre fils peut-il venir à vélo ?")).to_be_visible()
    assert_accessible(page, "thread-staff")
    page.get_by_label("Votre réponse à la famille").fill("Oui, avec un casque.")
    page.get_by_role("button", name="Envoyer la réponse").click()
    expect(page.get_by_role("status")).to_contain_text("Votre réponse est publiée")

    page.context.clear_cookies()
    _sign_in_guardian(page, live_server, talk.guardian_id)
    page.goto(f"/portal/notices/{talk.notice_id}/reply")
    expect(page.get_by_text("Oui, avec un casque.")).to_be_visible()
