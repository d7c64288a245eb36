"""Messages addressed to pupils, on the demo school: the composer and the API say who reads a message (the families,
the pupils, or both); a pupil reads on /pupil the published messages addressed to pupils that name them (their
class, a level above it, themselves), from their time, and never a families-only message, another class's, a
sibling's or their guardians' notices. A message to the pupils only makes no notice: pupils are sent nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from hub.demo.school import STAFF_DOMAIN
from hub.enums import ActorKind, AudienceKind, GroupKind, MessageState
from hub.messaging import planning, pupil_messages
from hub.messaging.models import Attachment, Message, MessageAudience, Notice
from hub.people import security
from hub.people.models import Group, Guardianship, Membership, Staff
from hub.web.kit import now
from tests.web.conftest import Site

TEACHER = f"prof.demo@{STAFF_DOMAIN}"
PRINCIPAL = f"direction@{STAFF_DOMAIN}"


async def _classes() -> dict[str, Any]:
    """3A and 3B, a pupil of each, 3A's level, and a pupil of 3A with a sibling (a pupil sharing a guardian)."""
    a = await Group.get(kind=GroupKind.CLASS, code="3A")
    b = await Group.get(kind=GroupKind.CLASS, code="3B")
    in_a = sorted(await Membership.filter(group_id=a.id).values_list("pupil_id", flat=True))
    in_b = sorted(await Membership.filter(group_id=b.id).values_list("pupil_id", flat=True))
    links = await Guardianship.all().values("guardian_id", "pupil_id")
    by_guardian: dict[int, set[int]] = {}
    for row in links:
        by_guardian.setdefault(row["guardian_id"], set()).add(row["pupil_id"])
    with_sibling = next(
        (p, min(family - {p}))
        for p in in_a
        for family in by_guardian.values()
        if p in family and len(family) >= 2 and not (family - {p}) <= set(in_a)
    )
    return {
        "a": a.id,
        "b": b.id,
        "level": a.parent_id,
        "pupil_a": in_a[0],
        "other_a": in_a[1],
        "pupil_b": in_b[0],
        "named": with_sibling[0],
        "sibling": with_sibling[1],
    }


async def _message(message_id: int) -> Message:
    return await Message.get(id=message_id)


def _as_pupil(site: Site, pupil_id: int) -> None:
    site.client.cookies.clear()
    session = site.run(security.start_session, ActorKind.PUPIL, pupil_id, now())
    site.client.cookies.set("carnet_session", session.token)


def _compose_and_send(site: Site, group: int, subject: str, recipients: str | None) -> int:
    site.login_staff(TEACHER)
    form: dict[str, Any] = {
        "action": "preview",
        "subject": subject,
        "body": "Bonjour à tous,\n\nN'oubliez pas vos bottes jeudi.",
        "category": "information",
        "urgency": "normal",
        "group": str(group),
    }
    if recipients is not None:
        form["recipients"] = recipients
    response = site.post("/staff/compose", form, form_page="/staff/compose")
    assert response.status_code == 303, response.text
    message_id = int(response.headers["location"].split("/")[3])
    preview = site.client.get(f"/staff/compose/{message_id}/preview").text
    if recipients == "pupils":  # the preview says no family is sent anything, and finds no fault with that
        assert "Aux élèves seulement" in preview and "aucune famille" not in preview
    sent = site.post(f"/staff/compose/{message_id}/send", form_page=f"/staff/compose/{message_id}/preview")
    assert sent.status_code == 303, sent.text
    return message_id


def _notices(site: Site, message_id: int) -> int:
    return site.run(lambda: Notice.filter(message_id=message_id).count())


def test_a_message_to_3a_pupils_shows_to_a_3a_pupil_and_not_to_a_3b_pupil(site: Site) -> None:
    c = site.run(_classes)
    message_id = _compose_and_send(site, c["a"], "Sortie nature des 3A", "pupils")
    stored = site.run(_message, message_id)
    assert (stored.to_families, stored.to_pupils, stored.state) == (False, True, MessageState.PUBLISHED)
    assert _notices(site, message_id) == 0  # pupils are sent nothing, and the families were not addressed

    _as_pupil(site, c["pupil_a"])
    page = site.client.get("/pupil")
    assert page.status_code == 200 and "Sortie nature des 3A" in page.text
    assert f'href="/pupil/messages/{message_id}"' in page.text
    opened = site.client.get(f"/pupil/messages/{message_id}")
    assert opened.status_code == 200 and "bottes jeudi" in opened.text

    _as_pupil(site, c["pupil_b"])
    assert "Sortie nature des 3A" not in site.client.get("/pupil").text
    assert site.client.get(f"/pupil/messages/{message_id}").status_code == 404
    assert site.client.get("/pupil/messages/99999999999999999999").status_code == 404

    site.client.cookies.clear()  # a visitor without a pupil's session is sent to the sign-in page
    assert site.client.get(f"/pupil/messages/{message_id}", follow_redirects=False).status_code == 303


def test_a_families_only_message_shows_to_no_pupil_and_their_notices_stay_the_guardians(site: Site) -> None:
    c = site.run(_classes)
    families = _compose_and_send(site, c["a"], "Réunion des parents de 3A", None)  # the default: families
    both = _compose_and_send(site, c["a"], "Carnaval des 3A", "families_and_pupils")
    stored = site.run(_message, families)
    assert (stored.to_families, stored.to_pupils) == (True, False)
    assert _notices(site, families) > 0 and _notices(site, both) > 0
    for pupil in (c["pupil_a"], c["other_a"], c["pupil_b"]):
        _as_pupil(site, pupil)
        page = site.client.get("/pupil").text
        assert "Réunion des parents de 3A" not in page
        assert site.client.get(f"/pupil/messages/{families}").status_code == 404
        assert ("Carnaval des 3A" in page) == (pupil != c["pupil_b"])
    # The guardians' own copies are theirs: a pupil's session opens no notice, and the pupil's page lists none.
    _as_pupil(site, c["pupil_a"])
    notice = site.run(lambda: Notice.filter(message_id=families).first().values_list("id", flat=True))
    assert site.client.get(f"/portal/notices/{notice}", follow_redirects=False).status_code == 303


def test_a_message_to_one_pupil_or_their_level_never_reaches_a_sibling(site: Site) -> None:
    c = site.run(_classes)

    async def write() -> tuple[int, int]:
        principal = await Staff.get(email=PRINCIPAL)
        named = await Message.create(
            school_id=principal.school_id,
            author_id=principal.id,
            subject="Pour toi seulement",
            body="Passe au secrétariat.",
            to_families=False,
            to_pupils=True,
        )
        await MessageAudience.create(message_id=named.id, kind=AudienceKind.PUPIL, pupil_id=c["named"])
        await Attachment.create(
            message_id=named.id,
            filename="plan.pdf",
            content_type="application/pdf",
            size=9,
            sha256="0",
            data=b"%PDF-1.4\n",
        )
        level = await Message.create(
            school_id=principal.school_id,
            author_id=principal.id,
            subject="Aux élèves de troisième",
            body="Journée sportive.",
            to_families=False,
            to_pupils=True,
        )
        await MessageAudience.create(message_id=level.id, kind=AudienceKind.GROUP, group_id=c["level"])
        for message in (named, level):
            await planning.publish(message.id, now=now(), actor_staff_id=principal.id)
        return named.id, level.id

    named, level = site.run(write)
    _as_pupil(site, c["named"])
    page = site.client.get("/pupil").text
    assert "Pour toi seulement" in page and "Aux élèves de troisième" in page  # the level holds the class
    opened = site.client.get(f"/pupil/messages/{named}").text
    file_id = site.run(lambda: Attachment.get(message_id=named).values_list("id", flat=True))
    assert f"/pupil/attachments/{file_id}" in opened
    download = site.client.get(f"/pupil/attachments/{file_id}")
    assert download.status_code == 200 and download.content == b"%PDF-1.4\n"

    _as_pupil(site, c["sibling"])
    page = site.client.get("/pupil").text
    assert "Pour toi seulement" not in page
    assert site.client.get(f"/pupil/messages/{named}").status_code == 404
    assert site.client.get(f"/pupil/attachments/{file_id}").status_code == 404
    _as_pupil(site, c["other_a"])
    assert "Pour toi seulement" not in site.client.get("/pupil").text
    assert site.run(Notice.filter(message_id__in=[named, level]).count) == 0


def test_a_scheduled_message_shows_only_from_its_time(site: Site) -> None:
    c = site.run(_classes)
    at = dt.datetime(2026, 12, 8, 9, 0, tzinfo=dt.UTC)  # a Tuesday in term, 10:00 in Brussels
    later = at + dt.timedelta(days=2)

    async def schedule() -> int:
        teacher = await Staff.get(email=TEACHER)
        message = await Message.create(
            school_id=teacher.school_id,
            author_id=teacher.id,
            subject="Rappel : piscine",
            body="Maillot et bonnet.",
            scheduled_at=later,
            to_families=False,
            to_pupils=True,
        )
        await MessageAudience.create(message_id=message.id, kind=AudienceKind.GROUP, group_id=c["a"])
        await planning.publish(message.id, now=at, actor_staff_id=teacher.id)
        return message.id

    message_id = site.run(schedule)
    assert site.run(_message, message_id).state == MessageState.SCHEDULED

    async def seen(when: dt.datetime) -> tuple[list[int], bool]:
        listed = [m.id for m in await pupil_messages.for_pupil(c["pupil_a"], when)]
        return listed, await pupil_messages.pupil_message(c["pupil_a"], message_id, when) is not None

    assert site.run(seen, at) == ([], False)
    assert site.run(seen, later - dt.timedelta(minutes=1)) == ([], False)
    assert site.run(seen, later) == ([message_id], True)


async def _taught_class() -> int:
    return (await Group.get(kind=GroupKind.CLASS, code="3A")).id


@pytest.mark.parametrize("bad", ["teachers", "", "PUPILS"])
def test_the_composer_refuses_an_unknown_choice_and_stores_nothing(site: Site, bad: str) -> None:
    site.login_staff(TEACHER)
    form = {
        "action": "preview",
        "subject": "Essai",
        "body": "Texte.",
        "group": str(site.run(_taught_class)),
        "recipients": bad,
    }
    response = site.post("/staff/compose", form, form_page="/staff/compose")
    if bad == "":  # nothing chosen: the families, as before
        assert response.status_code == 303
        assert site.run(Message.first).to_families is True  # type: ignore[union-attr]
        return
    assert response.status_code == 422
    assert 'id="err-recipients"' in response.text and "qui lit le message" in response.text
    assert site.run(Message.all().count) == 0


def test_the_composer_keeps_the_choice_of_a_saved_draft(site: Site) -> None:
    site.login_staff(TEACHER)
    form = {
        "action": "save",
        "subject": "Brouillon",
        "body": "Texte.",
        "group": str(site.run(_taught_class)),
        "recipients": "families_and_pupils",
    }
    response = site.post("/staff/compose", form, form_page="/staff/compose")
    assert response.status_code == 303, response.text
    page = site.client.get(response.headers["location"]).text
    assert 'value="families_and_pupils" checked' in page


def test_the_api_accepts_the_choice_and_refuses_a_bad_value(site: Site) -> None:
    c = site.run(_classes)
    site.client.cookies.clear()
    signed = site.client.post(
        "/api/v1/session", json={"kind": "staff", "email": TEACHER, "password": "demo"}, follow_redirects=False
    )
    assert signed.status_code == 200, signed.text
    headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
    body = {"subject": "Atelier théâtre", "body": "Mardi midi.", "audience": [{"kind": "group", "id": c["a"]}]}

    refused = site.client.post("/api/v1/messages", json={**body, "recipients": "teachers"}, headers=headers)
    assert refused.status_code == 422 and "recipients" in refused.json()["fields"]
    assert site.run(Message.all().count) == 0

    created = site.client.post("/api/v1/messages", json={**body, "recipients": "pupils"}, headers=headers)
    assert created.status_code == 201, created.text
    sent = created.json()
    assert sent["notices"] == 0
    stored = site.run(_message, sent["id"])
    assert (stored.to_families, stored.to_pupils) == (False, True)
    _as_pupil(site, c["pupil_a"])
    assert "Atelier théâtre" in site.client.get("/pupil").text


@pytest.mark.parametrize("asks", ["slip", "needs_acknowledgement"])
def test_the_composer_refuses_a_slip_or_an_acknowledgement_to_the_pupils_only(site: Site, asks: str) -> None:
    site.login_staff(TEACHER)
    deadline = (now() + dt.timedelta(days=10)).strftime("%Y-%m-%dT12:00")
    form: dict[str, Any] = {
        "action": "preview",
        "subject": "Sortie au musée",
        "body": "Texte.",
        "group": str(site.run(_taught_class)),
        "recipients": "pupils",
        asks: "1",
    }
    if asks == "slip":
        form |= {"slip_deadline": deadline, "q1_kind": "yes_no", "q1_text": "Vient-il ?"}
    response = site.post("/staff/compose", form, form_page="/staff/compose")
    assert response.status_code == 422, response.text
    assert 'id="err-recipients"' in response.text and "aux seuls élèves" in response.text
    assert site.run(Message.all().count) == 0
    # The same message to the families and the pupils is accepted.
    accepted = site.post("/staff/compose", {**form, "recipients": "families_and_pupils"}, form_page="/staff/compose")
    assert accepted.status_code == 303, accepted.text


def test_the_api_refuses_a_slip_to_the_pupils_only_and_says_who_reads_each_message(site: Site) -> None:
    c = site.run(_classes)
    site.client.cookies.clear()
    signed = site.client.post(
        "/api/v1/session", json={"kind": "staff", "email": TEACHER, "password": "demo"}, follow_redirects=False
    )
    headers = {"X-CSRF-Token": signed.json()["csrf_token"]}
    body = {"subject": "Atelier théâtre", "body": "Mardi midi.", "audience": [{"kind": "group", "id": c["a"]}]}
    slip = {"deadline": (now() + dt.timedelta(days=10)).isoformat(), "questions": [{"kind": "yes_no", "text": "Oui ?"}]}

    for extra in ({"slip": slip}, {"needs_acknowledgement": True}):
        refused = site.client.post("/api/v1/messages", json={**body, "recipients": "pupils", **extra}, headers=headers)
        assert refused.status_code == 422 and "recipients" in refused.json()["fields"], refused.text
    assert site.run(Message.all().count) == 0

    to_pupils = site.client.post("/api/v1/messages", json={**body, "recipients": "pupils"}, headers=headers)
    to_both = site.client.post(
        "/api/v1/messages", json={**body, "recipients": "families_and_pupils", "slip": slip}, headers=headers
    )
    assert to_pupils.status_code == to_both.status_code == 201, (to_pupils.text, to_both.text)
    detail = site.client.get(f"/api/v1/messages/{to_pupils.json()['id']}").json()
    assert detail["recipients"] == "pupils"
    listed = {m["id"]: m["recipients"] for m in site.client.get("/api/v1/messages").json()["items"]}
    assert listed[to_pupils.json()["id"]] == "pupils" and listed[to_both.json()["id"]] == "families_and_pupils"
