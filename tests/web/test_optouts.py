"""Stopping a topic on the web: the email's one-click unsubscribe (a real email through SMTP, its List-Unsubscribe
address POSTed as a mailbox provider does, without cookie or CSRF token) and the guardian's page of stops."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import Mailbox, SmtpPeer
from hub.delivery.dispatch import dispatch_due
from hub.demo.school import STAFF_DOMAIN
from hub.enums import AudienceKind, Category, Channel, ContactKind, Topic, Urgency
from hub.messaging.links import notice_views
from hub.messaging.models import Delivery, Message, MessageAudience, Notice
from hub.messaging.planning import publish
from hub.people.gdpr_models import OptOut
from hub.people.models import Contact, Guardianship, Staff
from hub.people.optouts import stops_of
from hub.store.audit import AuditEntry
from tests.web.conftest import Site

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
_ADDRESS = re.compile(r"^<(http://testserver(/u/\d+/[0-9a-f]+))>$")


async def _guardian_with_email() -> tuple[int, str, int]:
    """A demo guardian with a verified email, that address, and one of their pupils."""
    contact = await Contact.filter(kind=ContactKind.EMAIL, verified=True, dead_at__isnull=True).order_by("id").first()
    assert contact is not None
    link = await Guardianship.filter(guardian_id=contact.guardian_id, receives=True, barred=False).first()
    assert link is not None
    return contact.guardian_id, contact.value, link.pupil_id


async def _publish(pupil_id: int, subject: str, category: Category, urgency: Urgency = Urgency.NORMAL) -> Message:
    author = await Staff.get(
        email=f"direction@{STAFF_DOMAIN}" if urgency is Urgency.EMERGENCY else f"prof.demo@{STAFF_DOMAIN}"
    )
    message = await Message.create(
        school_id=author.school_id,
        author=author,
        subject=subject,
        body="Bonjour.",
        category=category,
        urgency=urgency,
        urgency_reason="Alerte" if urgency is Urgency.EMERGENCY else "",
    )
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=pupil_id)
    await publish(
        message.id,
        now=MONDAY_10,
        actor_staff_id=author.id,
        available_channels=frozenset({Channel.PORTAL, Channel.EMAIL, Channel.SMS}),
    )
    return message


async def _plan(message_id: int, guardian_id: int) -> list[str]:
    return list((await Notice.get(message_id=message_id, guardian_id=guardian_id)).plan)


async def _send_email(port: int) -> None:
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=port, starttls=False))
    try:
        await dispatch_due({Channel.EMAIL: adapter}, now=MONDAY_10, base_url="http://testserver")
    finally:
        await adapter.close()


def test_the_one_click_unsubscribe_stops_that_topic_by_email_only(
    site_with_smtp: tuple[Site, Mailbox], smtp_peer: SmtpPeer
) -> None:
    site, mailbox = site_with_smtp
    guardian_id, address, pupil_id = site.run(_guardian_with_email)
    grades = site.run(_publish, pupil_id, "Bulletin du premier trimestre", Category.REPORT_CARD)
    assert "email" in site.run(_plan, grades.id, guardian_id)
    site.run(_send_email, smtp_peer.port)
    (mail,) = [m for m in mailbox.to(address) if "Bulletin" in str(m["Subject"])]
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = _ADDRESS.match(str(mail["List-Unsubscribe"]))
    assert found, mail["List-Unsubscribe"]
    path = found.group(2)

    site.client.cookies.clear()  # a mailbox provider has no session and no CSRF token
    page = site.client.get(path)
    assert page.status_code == 200 and "Arrêter ces e-mails" in page.text
    assert site.run(stops_of, [guardian_id]) == {}  # looking stops nothing

    # what a mailbox provider sends (RFC 8058 section 3.2)
    done = site.client.post(
        path, content=b"List-Unsubscribe=One-Click", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert done.status_code == 200
    assert (
        "Notes et bulletins" in done.text and "Seul l" in done.text and "vos autres canaux ne changent pas" in done.text
    )
    assert "Les absences et les urgences ne peuvent pas être arrêtées" in done.text.replace("&#39;", "'")
    assert "boîte de réception" in done.text
    assert site.run(stops_of, [guardian_id]) == {guardian_id: frozenset({(Topic.RECORDS, Channel.EMAIL)})}
    assert site.client.post(path).status_code == 200  # again: idempotent, one stop, one audit entry
    entries = site.run(lambda: AuditEntry.filter(action="optout.stopped", subject_id=str(guardian_id)).count())
    assert entries == 1

    # email only: grades no longer go by email, other topics still do
    later = site.run(_publish, pupil_id, "Notes de mathématiques", Category.GRADES)
    trip = site.run(_publish, pupil_id, "Sortie au musée", Category.TRIP)
    assert "email" not in site.run(_plan, later.id, guardian_id)
    assert "email" in site.run(_plan, trip.id, guardian_id)

    # an address not signed by this hub: 404, nothing stored
    notice_id = int(path.split("/")[2])
    assert site.client.post(f"/u/{notice_id}/{'0' * 32}").status_code == 404
    assert site.client.get(f"/u/{notice_id}/{'x' * 500}").status_code == 404
    assert site.run(lambda: OptOut.filter(guardian_id=guardian_id).count()) == 1


def test_an_emergency_email_offers_no_unsubscribe(site: Site) -> None:
    guardian_id, _address, pupil_id = site.run(_guardian_with_email)
    emergency = site.run(_publish, pupil_id, "Fermeture", Category.INFORMATION, Urgency.EMERGENCY)
    absence = site.run(_publish, pupil_id, "Absence", Category.ABSENCE)

    async def unsubscribe_of(message_id: int) -> str:
        delivery = await Delivery.filter(notice__message_id=message_id, notice__guardian_id=guardian_id).first()
        assert delivery is not None
        return (await notice_views([delivery], "http://testserver"))[delivery.notice_id].unsubscribe

    assert site.run(unsubscribe_of, emergency.id) == ""
    assert site.run(unsubscribe_of, absence.id) == ""


def test_the_guardian_chooses_stops_on_the_portal_and_cannot_stop_absences(site: Site) -> None:
    guardian_id, _address, pupil_id = site.run(_guardian_with_email)
    assert site.client.get("/portal/stops", follow_redirects=False).status_code == 303
    site.login_guardian(guardian_id)
    page = site.client.get("/portal/stops")
    assert page.status_code == 200
    assert "Notes et bulletins" in page.text and "Ne peut pas être arrêté" in page.text
    assert "boîte de réception" in page.text
    assert "Wat ik niet wil ontvangen" in site.client.get("/portal/stops?lang=nl").text
    site.client.get("/portal/stops?lang=fr")

    saved = site.post("/portal/stops", {"stop": ["records:all", "events:sms"]}, form_page="/portal/stops")
    assert saved.status_code == 303 and saved.headers["location"] == "/portal/stops?done=saved"
    assert site.run(stops_of, [guardian_id]) == {
        guardian_id: frozenset({(Topic.RECORDS, None), (Topic.EVENTS, Channel.SMS)})
    }
    checked = site.client.get("/portal/stops").text
    assert 'value="records:all" id="stop-records-all" checked' in checked

    refused = site.post("/portal/stops", {"stop": ["absences:all"]}, form_page="/portal/stops")
    assert refused.status_code == 400
    forged = site.post("/portal/stops", {"stop": ["records:letter"]}, form_page="/portal/stops")
    assert forged.status_code == 400
    assert len(site.run(stops_of, [guardian_id])[guardian_id]) == 2  # nothing changed

    # stopped everywhere: the portal holds the notice, nothing rings and nothing is printed
    grades = site.run(_publish, pupil_id, "Bulletin", Category.REPORT_CARD)
    assert site.run(_plan, grades.id, guardian_id) == ["portal"]
    cleared = site.post("/portal/stops", {}, form_page="/portal/stops")
    assert cleared.status_code == 303 and site.run(stops_of, [guardian_id]) == {}


def test_the_office_erases_a_guardian_on_a_page_and_it_is_audited(site: Site) -> None:
    guardian_id, address, _pupil = site.run(_guardian_with_email)
    page = f"/staff/guardians/{guardian_id}/erase"
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    assert site.client.get(page, follow_redirects=False).status_code in (303, 403)  # a teacher may not
    site.login_staff(f"secretariat@{STAFF_DOMAIN}")
    assert "Ce qui est gardé, sans identité" in site.client.get(page).text
    done = site.post(page, form_page=page)
    assert done.status_code == 303
    assert "ont été effacées" in site.client.get(page).text
    assert site.run(lambda: Contact.filter(value=address).count()) == 0
    entries = site.run(lambda: AuditEntry.filter(action="guardian.erased", subject_id=str(guardian_id)).count())
    assert entries == 1
    assert site.client.post(page, data={"csrf_token": "x"}, follow_redirects=False).status_code == 403


def test_an_administrator_sets_the_retention_periods_and_a_principal_reads_them(site: Site) -> None:
    from hub.people.settings_admin import Periods, retention_periods

    page = "/staff/settings/retention"
    site.login_staff(f"direction@{STAFF_DOMAIN}")
    assert 'value="550"' in site.client.get(page).text
    assert (
        site.post(
            page, {"deliveries": "400", "notices": "700", "threads": "700", "attachments": "365"}, form_page=page
        ).status_code
        == 403
    )

    async def an_admin() -> str:
        from hub.enums import StaffRole
        from hub.people.models import StaffRoleGrant

        grant = await StaffRoleGrant.filter(role=StaffRole.ADMIN).prefetch_related("staff").first()
        assert grant is not None
        return str(grant.staff.email)

    site.login_staff(site.run(an_admin))
    school_id = site.run(lambda: Staff.get(email=f"direction@{STAFF_DOMAIN}")).school_id
    bad = site.post(page, {"deliveries": "5", "notices": "700", "threads": "700", "attachments": "365"}, form_page=page)
    assert bad.status_code == 400 and site.run(retention_periods, school_id) == Periods(550, 730, 730, 730)
    good = site.post(
        page, {"deliveries": "400", "notices": "700", "threads": "700", "attachments": "365"}, form_page=page
    )
    assert good.status_code == 303
    assert site.run(retention_periods, school_id) == Periods(400, 700, 700, 365)
    assert site.run(lambda: AuditEntry.filter(action="retention.periods").count()) == 1
