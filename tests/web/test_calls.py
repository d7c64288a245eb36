"""Call lists on the demo school: after an emergency to one class, the class's list holds exactly the families the
message did not reach and those reached only by paper, with their phone numbers, in the page, the PDF and the
CSV; the report links to it; only the office and the principal open it."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass

from pypdf import PdfReader

from hub.demo.school import STAFF_DOMAIN
from hub.enums import AudienceKind, Channel, ContactKind, DeliveryState, ErrorKind, GroupKind, StaffRole, Urgency
from hub.messaging.models import Delivery, Message, MessageAudience, Notice
from hub.messaging.planning import publish, record_outcome
from hub.people.models import Contact, Group, Guardian, Membership, Staff
from hub.web.kit import now
from tests.web.conftest import Site

SECRETARY = f"secretariat@{STAFF_DOMAIN}"
PRINCIPAL = f"direction@{STAFF_DOMAIN}"


@dataclass(frozen=True)
class Emergency:
    group_id: int
    message_id: int
    #: guardian id -> name, of every notice of the message
    everyone: dict[int, str]
    #: the families the list must hold, and their phone numbers
    expected: dict[int, set[str]]


async def _emergency() -> Emergency:
    """An emergency to the class holding the most families without internet. One family is reached by email, one
    has every electronic channel failed (and no letter), the others are still being sent to or only by paper."""
    emailed = set(await Contact.filter(kind=ContactKind.EMAIL).values_list("guardian_id", flat=True))
    classes = await Group.filter(kind=GroupKind.CLASS).order_by("code")
    best, best_count = classes[0], -1
    for group in classes:
        pupils = await Membership.filter(group=group).values_list("pupil_id", flat=True)
        guardians = set(await Guardian.filter(guardianships__pupil_id__in=list(pupils)).values_list("id", flat=True))
        if len(guardians - emailed) > best_count:
            best, best_count = group, len(guardians - emailed)
    assert best_count > 0, "the demo school has families without email"
    principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
    message = await Message.create(
        school_id=best.school_id,  # type: ignore[attr-defined]
        author=principal,
        subject="Fermeture de l'école",
        body="Une fuite de gaz : l'école est fermée.",
        urgency=Urgency.EMERGENCY,
        urgency_reason="Fuite de gaz",
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=best)
    await publish(message.id, now=now(), actor_staff_id=principal.id)

    notices = await Notice.filter(message=message).prefetch_related("guardian").order_by("id")
    everyone = {n.guardian_id: f"{n.guardian.first_name} {n.guardian.last_name}" for n in notices}
    electronic = {
        n.id: await Delivery.filter(notice=n).exclude(channel__in=[Channel.PORTAL, Channel.LETTER]).order_by("id")
        for n in notices
    }
    with_email = [n for n in notices if electronic[n.id]]
    assert len(with_email) >= 2
    reached, failed = with_email[0], with_email[1]
    await record_outcome(electronic[reached.id][0].id, now=now(), ok=True)
    await (
        Delivery.filter(notice=failed)
        .exclude(channel=Channel.PORTAL)
        .update(state=DeliveryState.FAILED, error="550 no such user", error_kind=ErrorKind.PERMANENT)
    )

    expected: dict[int, set[str]] = {}
    for n in notices:
        states = await Delivery.filter(notice=n).exclude(channel=Channel.PORTAL).values_list("channel", "state")
        ok = any(c != Channel.LETTER and s in (DeliveryState.SENT, DeliveryState.DELIVERED) for c, s in states)
        paper = any(c == Channel.LETTER and s != DeliveryState.FAILED for c, s in states)
        all_failed = bool(states) and all(s == DeliveryState.FAILED for _, s in states)
        if not ok and (paper or all_failed):
            phones = await Contact.filter(guardian_id=n.guardian_id, kind=ContactKind.PHONE).values_list(
                "value", flat=True
            )
            expected[n.guardian_id] = set(phones)
    assert failed.guardian_id in expected and reached.guardian_id not in expected
    assert len(expected) < len(everyone), "some families are being sent to electronically: not on the list"
    return Emergency(best.id, message.id, everyone, expected)


def test_the_call_list_after_an_emergency(site: Site) -> None:
    emergency = site.run(_emergency)
    expected_names = {emergency.everyone[g] for g in emergency.expected}
    site.login_staff(SECRETARY)
    base = f"/staff/report/calls/{emergency.group_id}"

    page = site.client.get(f"{base}?message={emergency.message_id}")
    assert page.status_code == 200, page.text
    listed = {int(g) for g in re.findall(r'data-guardian="(\d+)"', page.text)}
    assert listed == set(emergency.expected)
    for phones in emergency.expected.values():
        for phone in phones:
            assert f'href="tel:{phone}"' in page.text
    assert any(emergency.expected.values()), "some of them have a phone number to call"

    pdf = site.client.get(f"{base}.pdf?message={emergency.message_id}")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    flat = re.sub(r"\s+", " ", text)
    assert {name for name in emergency.everyone.values() if name in flat} == expected_names
    for phones in emergency.expected.values():
        assert all(phone in flat for phone in phones)

    sheet = site.client.get(f"{base}.csv?message={emergency.message_id}")
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig")), delimiter=";"))
    header, body = rows[0], rows[1:]
    name_at, phone_at = header.index("Responsable"), header.index("Téléphone(s)")
    assert {row[name_at] for row in body} == expected_names
    assert len(body) == len(expected_names), "one message: one line per family"
    by_name = {row[name_at]: row[phone_at] for row in body}
    for guardian_id, phones in emergency.expected.items():
        assert all(phone in by_name[emergency.everyone[guardian_id]] for phone in phones)
    assert all("Fermeture" in row[header.index("Message manqué")] for row in body)

    site.login_staff(PRINCIPAL)
    report = site.client.get(f"/staff/report?message={emergency.message_id}")
    assert f'href="{base}?' in report.text, "the report links to each class's call list"


def test_who_may_open_a_call_list(site: Site) -> None:
    group_id = site.run(_first_class)
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    assert site.client.get(f"/staff/report/calls/{group_id}").status_code == 403
    site.login_staff(SECRETARY)
    assert site.client.get(f"/staff/report/calls/{group_id}").status_code == 200
    assert site.client.get("/staff/report/calls/999999").status_code == 404
    assert site.client.get("/staff/report/calls/abc.csv").status_code == 404
    assert site.client.get(f"/staff/report/calls/{group_id}?from=2026-13-01").status_code == 400


async def _first_class() -> int:
    group = await Group.filter(kind=GroupKind.CLASS).order_by("code").first()
    assert group is not None
    return group.id
