"""The guardians' portal over the real app and the demo school: the inbox shows only one's own notices, another
family's notice or pupil is 404, a barred guardian sees neither the notice nor the child, separated parents each
answer for themselves, a late answer is refused clearly, a forged form stores nothing, the data export holds one's
own data and nothing of the other household, and the pages speak French, Dutch and English."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from dataclasses import dataclass

from hub.demo.guide import demo_guide
from hub.demo.school import STAFF_DOMAIN, publish_demo_messages
from hub.enums import AbsenceReason, AnswerMode, AudienceKind, Channel, ContactKind, QuestionKind
from hub.messaging.models import (
    Acknowledgement,
    Attachment,
    Message,
    MessageAudience,
    Notice,
    NoticePupil,
    ReplySlip,
    SlipQuestion,
    SlipResponse,
)
from hub.messaging.planning import publish
from hub.people.models import Contact, Guardian, Guardianship, Pupil, Staff
from hub.records.models import Absence, Grade, ReportCard
from hub.store.audit import AuditEntry
from hub.web.kit import now
from tests.web.conftest import Site


@dataclass(frozen=True)
class Family:
    """The demo's separated parents of a pupil of 3A and their notices of the trip (one answer per pupil)."""

    pupil_id: int
    mother: int
    father: int
    trip_id: int
    notices: dict[int, int]  #: guardian id -> notice id of the trip
    tokens: dict[int, str]  #: guardian id -> token of the trip


async def _family() -> Family:
    trip_id, _news = await publish_demo_messages(now())
    guide = await demo_guide()
    assert guide is not None and len(guide.separated_parents) == 2
    first, second = (p.guardian_id for p in guide.separated_parents)
    notices = {
        n.guardian_id: n  # type: ignore[attr-defined]
        for n in await Notice.filter(message_id=trip_id, guardian_id__in=[first, second])
    }
    pupil_ids = set(await NoticePupil.filter(notice_id=notices[first].id).values_list("pupil_id", flat=True))
    pupil_ids &= set(await NoticePupil.filter(notice_id=notices[second].id).values_list("pupil_id", flat=True))
    return Family(
        pupil_id=min(pupil_ids),
        mother=first,
        father=second,
        trip_id=trip_id,
        notices={g: n.id for g, n in notices.items()},
        tokens={g: n.token for g, n in notices.items()},
    )


async def _barred() -> tuple[int, int]:
    link = await Guardianship.filter(barred=True).first()
    assert link is not None
    return link.guardian_id, link.pupil_id  # type: ignore[attr-defined]


async def _other_family_notice(family: Family) -> int:
    notice = (
        await Notice.filter(message_id=family.trip_id)
        .exclude(guardian_id__in=[family.mother, family.father])
        .order_by("id")
        .first()
    )
    assert notice is not None
    return notice.id


async def _responses(trip_id: int) -> list[tuple[int, int, dict[str, object], str]]:
    rows = await SlipResponse.filter(slip__message_id=trip_id).order_by("id")
    return [(r.guardian_id, r.pupil_id, r.answers, r.signed_name) for r in rows]  # type: ignore[attr-defined]


def test_the_inbox_shows_only_my_notices_with_what_needs_doing(site: Site) -> None:
    family = site.run(_family)
    site.login_guardian(family.mother)
    page = site.client.get("/portal")
    assert page.status_code == 200
    assert "Visite du musée Félicien Rops" in page.text and "Réunion des parents" in page.text
    assert f'href="/portal/notices/{family.notices[family.mother]}"' in page.text
    assert f'href="/portal/notices/{family.notices[family.father]}"' not in page.text  # the other parent's copy
    assert "Non lu" in page.text  # unread said in words, not only by colour
    assert "À faire" in page.text and "talon à remplir avant le" in page.text
    own = site.run(lambda: Notice.filter(guardian_id=family.mother).count())
    # Each notice once in the list; the trip (a slip to answer, to acknowledge) once more in "to do", not the news.
    assert page.text.count('href="/portal/notices/') == own + 1
    assert page.text.count(f'href="/portal/notices/{family.notices[family.mother]}"') == 2

    filtered = site.client.get(f"/portal?pupil={family.pupil_id}")
    assert filtered.status_code == 200 and "Visite du musée" in filtered.text
    assert site.client.get("/portal?pupil=999999").status_code == 404
    _guardian, barred_pupil = site.run(_barred)  # another family's pupil
    assert site.client.get(f"/portal?pupil={barred_pupil}").status_code == 404


def test_the_inbox_needs_a_signed_in_guardian(site: Site) -> None:
    response = site.client.get("/portal", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/signin?next=/portal")
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    assert site.client.get("/portal", follow_redirects=False).status_code == 303


def test_another_familys_notice_is_not_found(site: Site) -> None:
    family = site.run(_family)
    other = site.run(lambda: _other_family_notice(family))
    site.login_guardian(family.mother)
    assert site.client.get(f"/portal/notices/{other}").status_code == 404
    assert site.client.get(f"/portal/notices/{family.notices[family.father]}").status_code == 404
    csrf = site.csrf("/portal")
    for action in ("ack", "answer"):
        refused = site.client.post(
            f"/portal/notices/{other}/{action}", data={"csrf_token": csrf, "target": "1"}, follow_redirects=False
        )
        assert refused.status_code == 404
    assert site.run(lambda: Acknowledgement.filter(notice_id=other).exists()) is False
    assert site.client.get("/portal/children/999999").status_code == 404


def test_the_message_page_marks_reading_and_acknowledges(site: Site) -> None:
    family = site.run(_family)
    notice_id = family.notices[family.mother]
    site.login_guardian(family.mother)
    page = site.client.get(f"/portal/notices/{notice_id}")
    assert page.status_code == 200
    assert "Visite du musée Félicien Rops" in page.text and "Martine Denis" in page.text
    assert "Talon" in page.text and "J'ai lu ce message" in page.text
    assert f'action="/portal/notices/{notice_id}/reply"' in page.text  # the reply thread, at the bottom
    assert site.run(lambda: Notice.get(id=notice_id)).first_read_at is not None
    done = site.post(f"/portal/notices/{notice_id}/ack", form_page=f"/portal/notices/{notice_id}")
    assert done.status_code == 303
    again = site.client.get(f"/portal/notices/{notice_id}").text
    assert "vous avez confirmé avoir lu ce message" in again and "J'ai lu ce message</button>" not in again
    acks = site.run(lambda: Acknowledgement.filter(notice_id=notice_id).values_list("channel", flat=True))
    assert [str(c) for c in acks] == [str(Channel.PORTAL)]
    audited = site.run(lambda: AuditEntry.filter(action="notice.acknowledged", subject_id=str(notice_id)).count())
    assert audited == 1


def test_a_barred_guardian_sees_neither_the_notice_nor_the_child(site: Site) -> None:
    guardian_id, pupil_id = site.run(_barred)

    async def message_to_the_barred_pupil() -> tuple[int, str]:
        """A message to the pupil, published while the guardian was not barred yet, then the court order."""
        await Guardianship.filter(guardian_id=guardian_id, pupil_id=pupil_id).update(barred=False, receives=True)
        pupil = await Pupil.get(id=pupil_id)
        teacher = await Staff.filter(email__startswith="direction@").first()
        assert teacher is not None
        message = await Message.create(
            school_id=pupil.school_id, author=teacher, subject="Entretien individuel", body="Rendez-vous."
        )
        await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=pupil_id)
        await publish(message.id, now=now(), actor_staff_id=teacher.id)
        await Guardianship.filter(guardian_id=guardian_id, pupil_id=pupil_id).update(barred=True, receives=False)
        notice = await Notice.get(message_id=message.id, guardian_id=guardian_id)
        return notice.id, notice.token

    notice_id, token = site.run(message_to_the_barred_pupil)
    site.login_guardian(guardian_id)
    assert "Entretien individuel" not in site.client.get("/portal").text
    assert site.client.get(f"/portal/notices/{notice_id}").status_code == 404
    assert site.client.get(f"/portal/children/{pupil_id}").status_code == 404
    assert f"/portal/children/{pupil_id}" not in site.client.get("/portal/children").text
    pupil = site.run(lambda: Pupil.get(id=pupil_id))
    data = site.client.get("/portal/data").text
    assert "lien suspendu par une décision de justice" in data and pupil.first_name not in data
    site.logout()
    assert site.client.get(f"/n/{token}").status_code == 404  # the personal link stops working too


def test_separated_parents_each_answer_for_themselves(site: Site) -> None:
    family = site.run(_family)
    mother_page = f"/portal/notices/{family.notices[family.mother]}"
    site.login_guardian(family.mother)
    form = site.client.get(mother_page).text
    assert f'name="target" value="{family.pupil_id}"' in form
    answered = site.post(
        f"{mother_page}/answer",
        {"target": str(family.pupil_id), "q1": "yes", "q2": "1", "signed_name": "  Maman   Demo "},
        form_page=mother_page,
    )
    assert answered.status_code == 303 and answered.headers["location"].endswith("?done=answered#slip")
    assert site.run(lambda: _responses(family.trip_id)) == [
        (family.mother, family.pupil_id, {"1": "yes", "2": 1}, "Maman Demo")
    ]
    shown = site.client.get(f"{mother_page}?done=answered").text
    assert "vos réponses sont enregistrées" in shown and "Modifier mes réponses" in shown
    assert "1 × 3,00 € = 3,00 €" in shown

    # The mother may change her own answer before the deadline: replaced, not added.
    site.post(
        f"{mother_page}/answer",
        {"target": str(family.pupil_id), "q1": "yes", "q2": "2", "signed_name": "Maman Demo"},
        form_page=mother_page,
    )
    assert site.run(lambda: _responses(family.trip_id))[0][2] == {"1": "yes", "2": 2}

    # The father, on his own copy by his personal link: he sees who answered, when and what; he cannot overwrite.
    site.logout()
    token_page = f"/n/{family.tokens[family.father]}"
    father_view = site.client.get(token_page)
    assert father_view.status_code == 200
    assert "a répondu le" in father_view.text and "2 × 3,00 € = 6,00 €" in father_view.text
    assert 'name="target"' not in father_view.text
    refused = site.post(
        f"{token_page}/answer",
        {"target": str(family.pupil_id), "q1": "no", "q2": "0", "signed_name": "Papa"},
        form_page=token_page,
    )
    assert refused.status_code == 409 and "a déjà répondu" in refused.text
    assert [r[0] for r in site.run(lambda: _responses(family.trip_id))] == [family.mother]
    site.login_guardian(family.father)  # nothing left to answer in his inbox either
    inbox = site.client.get("/portal").text
    assert "Talon rempli" in inbox and "talon à remplir" not in inbox


def test_every_question_kind_and_bad_input(site: Site) -> None:
    family = site.run(_family)

    async def survey() -> int:
        """A slip every guardian answers, with every kind of question, to the separated pupil."""
        teacher = await Staff.filter(email__startswith="prof.demo@").first()
        assert teacher is not None
        pupil = await Pupil.get(id=family.pupil_id)
        message = await Message.create(school_id=pupil.school_id, author=teacher, subject="Sondage", body="Merci.")
        await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=family.pupil_id)
        slip = await ReplySlip.create(
            message=message, deadline=now() + dt.timedelta(days=3), answer_mode=AnswerMode.EVERY_GUARDIAN
        )
        questions = [
            (QuestionKind.YES_NO, "Présent ?", [], None, True),
            (QuestionKind.ONE_CHOICE, "Repas", ["Viande", "Végétarien"], None, True),
            (QuestionKind.MANY_CHOICES, "Activités", ["Piscine", "Musée", "Théâtre"], None, False),
            (QuestionKind.FREE_TEXT, "Remarques", [], None, False),
            (QuestionKind.AMOUNT, "Repas supplémentaires", [], 450, True),
            (QuestionKind.AMOUNT, "Don libre", [], None, False),
        ]
        for position, (kind, text, choices, price, required) in enumerate(questions, start=1):
            await SlipQuestion.create(
                slip=slip,
                position=position,
                kind=kind,
                text=text,
                choices=choices,
                unit_price_cents=price,
                required=required,
            )
        await publish(message.id, now=now(), actor_staff_id=teacher.id)
        return (await Notice.get(message_id=message.id, guardian_id=family.mother)).id

    notice_id = site.run(survey)
    page = f"/portal/notices/{notice_id}"
    site.login_guardian(family.mother)
    form = site.client.get(page).text
    assert 'type="checkbox"' in form and "<textarea" in form and "4,50 €" in form and 'value="all"' in form

    wrong = site.post(
        f"{page}/answer",
        {"target": "all", "q1": "maybe", "q2": "7", "q3": ["0", "9"], "q5": "-2", "q6": "12,345", "q4": "x" * 2001},
        form_page=page,
    )
    assert wrong.status_code == 400
    for message in (
        "Veuillez choisir parmi les options proposées.",
        "Veuillez taper un nombre entier de 0 à 1000.",
        "Veuillez taper un montant en euros, par exemple 12,50.",
        "Cette réponse est trop longue.",
    ):
        assert message in wrong.text
    assert 'value="12,345"' in wrong.text  # what was typed is kept
    assert site.run(lambda: SlipResponse.filter(notice_id=notice_id).exists()) is False
    missing = site.post(f"{page}/answer", {"target": "all"}, form_page=page)
    assert missing.status_code == 400 and "Veuillez répondre à cette question." in missing.text

    ok = site.post(
        f"{page}/answer",
        {"target": "all", "q1": "no", "q2": "1", "q3": ["2", "0"], "q4": "Allergie", "q5": "2", "q6": "12,50"},
        form_page=page,
    )
    assert ok.status_code == 303
    (stored,) = site.run(lambda: SlipResponse.filter(notice_id=notice_id).values_list("answers", flat=True))
    assert stored == {"1": "no", "2": "Végétarien", "3": ["Piscine", "Théâtre"], "4": "Allergie", "5": 2, "6": 12.5}
    shown = site.client.get(page).text
    assert "2 × 4,50 € = 9,00 €" in shown and "12,50 €" in shown and "Piscine, Théâtre" in shown
    assert 'value="12.5"' in shown and "Allergie</textarea>" in shown  # the form starts from the stored answer

    # A wrong change, or a forged target, keeps the stored answer as it was.
    assert (
        site.post(f"{page}/answer", {"target": "all", "q1": "no", "q2": "1", "q5": "x"}, form_page=page).status_code
        == 400
    )
    forged = site.post(f"{page}/answer", {"target": "12345", "q1": "yes", "q2": "0", "q5": "1"}, form_page=page)
    assert forged.status_code == 400 and "Ce formulaire ne peut pas être envoyé" in forged.text
    assert site.run(lambda: SlipResponse.filter(notice_id=notice_id).values_list("answers", flat=True)) == [stored]


def test_an_answer_after_the_deadline_is_refused_clearly(site: Site) -> None:
    family = site.run(_family)
    page = f"/portal/notices/{family.notices[family.mother]}"
    site.login_guardian(family.mother)
    form_page = site.client.get(page)
    csrf = site.csrf(page)
    assert form_page.status_code == 200
    site.run(lambda: ReplySlip.filter(message_id=family.trip_id).update(deadline=now() - dt.timedelta(minutes=1)))
    late = site.client.post(
        f"{page}/answer",
        data={"csrf_token": csrf, "target": str(family.pupil_id), "q1": "yes", "q2": "1", "signed_name": "M"},
        follow_redirects=False,
    )
    assert late.status_code == 409
    assert "Le talon a été clôturé le" in late.text and "vos réponses n'ont pas été enregistrées" in late.text
    assert site.run(lambda: _responses(family.trip_id)) == []
    assert 'name="target"' not in site.client.get(page).text  # no form any more, the deadline is shown


def test_without_the_right_to_answer_the_slip_is_read_only(site: Site) -> None:
    family = site.run(_family)
    site.run(lambda: Guardianship.filter(guardian_id=family.father, pupil_id=family.pupil_id).update(may_answer=False))
    token_page = f"/n/{family.tokens[family.father]}"
    page = site.client.get(token_page).text
    assert "mais pas y répondre" in page and 'name="target"' not in page
    refused = site.post(
        f"{token_page}/answer", {"target": str(family.pupil_id), "q1": "yes", "q2": "1"}, form_page=token_page
    )
    assert refused.status_code == 403 and site.run(lambda: _responses(family.trip_id)) == []


def test_a_forged_form_stores_nothing(site: Site) -> None:
    family = site.run(_family)
    notice_id = family.notices[family.mother]
    fields = {"target": str(family.pupil_id), "q1": "yes", "q2": "1", "signed_name": "M"}
    token = family.tokens[family.mother]
    site.client.get(f"/n/{token}")  # the anonymous CSRF cookie is set
    for path in (f"/n/{token}/answer", f"/n/{token}/ack"):
        assert site.client.post(path, data=fields, follow_redirects=False).status_code == 403
        wrong = {**fields, "csrf_token": "forged"}
        assert site.client.post(path, data=wrong, follow_redirects=False).status_code == 403
    site.login_guardian(family.mother)
    for path in (f"/portal/notices/{notice_id}/answer", f"/portal/notices/{notice_id}/ack"):
        assert site.client.post(path, data=fields, follow_redirects=False).status_code == 403
        cross = site.client.post(
            path,
            data={**fields, "csrf_token": site.csrf("/portal")},
            headers={"origin": "https://evil.example"},
            follow_redirects=False,
        )
        assert cross.status_code == 403
    assert site.run(lambda: _responses(family.trip_id)) == []
    assert site.run(lambda: Acknowledgement.filter(notice_id=notice_id).exists()) is False


def test_the_personal_link_answers_and_acknowledges_without_signing_in(site: Site) -> None:
    family = site.run(_family)
    token = family.tokens[family.father]
    page = site.client.get(f"/n/{token}")
    assert page.status_code == 200 and "Visite du musée Félicien Rops" in page.text
    assert page.headers["referrer-policy"] == "same-origin" and "no-store" in page.headers["cache-control"]
    assert 'href="/portal/notices/' not in page.text  # the link opens this notice only
    assert f'action="/n/{token}/reply"' in page.text  # its reply thread posts to the link too
    answered = site.post(
        f"/n/{token}/answer",
        {"target": str(family.pupil_id), "q1": "no", "q2": "0", "signed_name": "Papa Demo"},
        form_page=f"/n/{token}",
    )
    assert answered.status_code == 303 and answered.headers["location"].startswith(f"/n/{token}?done=answered")
    assert site.run(lambda: _responses(family.trip_id)) == [
        (family.father, family.pupil_id, {"1": "no", "2": 0}, "Papa Demo")
    ]
    ack = site.post(f"/n/{token}/ack", form_page=f"/n/{token}")
    assert ack.status_code == 303 and ack.headers["location"] == f"/n/{token}"
    audited = site.run(lambda: AuditEntry.filter(action="slip.answered", actor_id=family.father).values("details"))
    assert audited and audited[0]["details"]["via"] == "link"
    assert site.client.get("/n/not-a-real-token").status_code == 404
    assert site.post("/n/not-a-real-token/answer", {"target": "1"}, form_page=f"/n/{token}").status_code == 404


def test_attachments_only_for_a_guardian_who_received_the_message(site: Site) -> None:
    family = site.run(_family)

    async def attach() -> int:
        file = await Attachment.create(
            message_id=family.trip_id,
            filename="autorisation.pdf",
            content_type="application/pdf",
            size=9,
            sha256="0" * 64,
            data=b"%PDF-1.4\n",
        )
        return file.id

    file_id = site.run(attach)
    other = site.run(lambda: _other_family_notice(family))
    token = family.tokens[family.mother]
    by_link = site.client.get(f"/n/{token}/attachments/{file_id}")
    assert by_link.status_code == 200 and by_link.content == b"%PDF-1.4\n"
    assert by_link.headers["content-disposition"].startswith("attachment;")
    site.login_guardian(family.mother)
    assert (
        f'href="/portal/attachments/{file_id}"'
        in site.client.get(f"/portal/notices/{family.notices[family.mother]}").text
    )
    assert site.client.get(f"/portal/attachments/{file_id}").status_code == 200
    assert site.client.get(f"/portal/attachments/{file_id + 1}").status_code == 404

    async def guardian_of(notice_id: int) -> int:
        return (await Notice.get(id=notice_id)).guardian_id  # type: ignore[attr-defined,no-any-return]

    async def unrelated_guardian() -> int:
        received = await Notice.filter(message_id=family.trip_id).values_list("guardian_id", flat=True)
        notice = await Notice.exclude(guardian_id__in=list(received)).first()
        assert notice is not None
        return notice.guardian_id  # type: ignore[attr-defined,no-any-return]

    assert site.run(lambda: guardian_of(other)) != family.mother
    site.login_guardian(site.run(unrelated_guardian))
    assert site.client.get(f"/portal/attachments/{file_id}").status_code == 404


def test_children_pages_show_published_records_only(site: Site) -> None:
    family = site.run(_family)

    async def unpublished_grade() -> str:
        grade = await Grade.filter(pupil_id=family.pupil_id, published_at__isnull=False).first()
        assert grade is not None
        await Grade.create(
            pupil_id=family.pupil_id,
            subject=grade.subject,
            title="Interrogation pas encore publiée",
            term="T1",
            score=1,
            max_score=20,
            assessed_on=grade.assessed_on,
        )
        return grade.title

    async def absence_and_report_cards() -> None:
        start = now().replace(hour=7, minute=0, second=0, microsecond=0)
        await Absence.create(
            pupil_id=family.pupil_id,
            starts_at=start,
            ends_at=start + dt.timedelta(hours=4),
            reason=AbsenceReason.UNKNOWN,
            justified=False,
        )
        results = {"Mathématiques": {"score": 14.5, "max": 20, "comment": "Bien"}}
        await ReportCard.create(
            pupil_id=family.pupil_id, school_year="2026-2027", term="T1", results=results, published_at=now()
        )
        await ReportCard.create(pupil_id=family.pupil_id, school_year="2026-2027", term="T2", results=results)

    published_title = site.run(unpublished_grade)
    site.run(absence_and_report_cards)
    site.login_guardian(family.mother)
    listing = site.client.get("/portal/children")
    assert listing.status_code == 200 and f'href="/portal/children/{family.pupil_id}"' in listing.text
    assert "absence non justifiée" in listing.text and "à venir" in listing.text
    page = site.client.get(f"/portal/children/{family.pupil_id}")
    assert page.status_code == 200
    assert published_title in page.text and "Interrogation pas encore publiée" not in page.text
    assert "Devoirs et interrogations" in page.text and "Non justifiée" in page.text
    assert "Bulletin T1, 2026-2027" in page.text and "14,5 / 20" in page.text and "Bulletin T2" not in page.text
    other_pupil = site.run(lambda: Pupil.exclude(id=family.pupil_id).order_by("id").first())
    assert other_pupil is not None
    mine = site.run(lambda: Guardianship.filter(guardian_id=family.mother).values_list("pupil_id", flat=True))
    if other_pupil.id not in mine:
        assert site.client.get(f"/portal/children/{other_pupil.id}").status_code == 404


def test_my_data_and_its_export_hold_nothing_of_the_other_household(site: Site) -> None:
    family = site.run(_family)

    async def emails(guardian_id: int) -> list[str]:
        return list(
            await Contact.filter(guardian_id=guardian_id, kind=ContactKind.EMAIL).values_list("value", flat=True)
        )

    mine, theirs = site.run(lambda: emails(family.mother)), site.run(lambda: emails(family.father))
    assert mine and theirs and set(mine).isdisjoint(theirs)
    # The father answers first, so his answer exists for the export to leave out.
    token = family.tokens[family.father]
    site.post(
        f"/n/{token}/answer",
        {"target": str(family.pupil_id), "q1": "no", "q2": "0", "signed_name": "Papa Secret"},
        form_page=f"/n/{token}",
    )
    site.login_guardian(family.mother)
    page = site.client.get("/portal/data")
    assert page.status_code == 200 and mine[0] in page.text and theirs[0] not in page.text
    exported = site.post("/portal/data/export", {"format": "json"}, form_page="/portal/data")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/json")
    assert "attachment" in exported.headers["content-disposition"]
    data = json.loads(exported.content)
    assert data["guardian"]["id"] == family.mother and {c["value"] for c in data["contacts"]} >= set(mine)
    assert any(n["id"] == family.notices[family.mother] for n in data["notices"])
    assert data["sessions"] and data["consents"] is not None
    text = exported.content.decode()
    for absent in (*theirs, "Papa Secret", family.tokens[family.mother]):
        assert absent not in text
    assert all(n["id"] != family.notices[family.father] for n in data["notices"])

    archive = site.post("/portal/data/export", {"format": "zip"}, form_page="/portal/data")
    assert archive.status_code == 200
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        names = set(zipped.namelist())
        assert {"carnet-data.json", "guardian.csv", "contacts.csv", "notices.csv", "consents.csv"} <= names
        assert mine[0] in zipped.read("contacts.csv").decode("utf-8-sig")
        assert all(theirs[0] not in zipped.read(name).decode("utf-8-sig") for name in names)
    audits = site.run(lambda: AuditEntry.filter(action="guardian.data_exported", actor_id=family.mother).count())
    assert audits == 2


def test_the_pages_speak_french_dutch_and_english(site: Site) -> None:
    family = site.run(_family)
    site.login_guardian(family.mother)
    notice = f"/portal/notices/{family.notices[family.mother]}"
    expected = {
        "fr": ("Mes messages", "Talon", "Mes enfants", "Mes données"),
        "nl": ("Mijn berichten", "Antwoordstrookje", "Mijn kinderen", "Mijn gegevens"),
        "en": ("My messages", "Reply slip", "My children", "My data"),
    }
    for lang, (inbox, slip, children, data) in expected.items():
        assert inbox in site.client.get(f"/portal?lang={lang}").text
        assert slip in site.client.get(notice).text
        assert children in site.client.get("/portal/children").text
        assert data in site.client.get("/portal/data").text


def test_the_inbox_pages_newest_first_and_reading_clears_unread(site: Site) -> None:
    family = site.run(_family)

    async def many_messages() -> list[int]:
        """25 more messages about the child, published one after the other (the newest has the largest id)."""
        teacher = await Staff.filter(email__startswith="prof.demo@").first()
        assert teacher is not None
        pupil = await Pupil.get(id=family.pupil_id)
        for number in range(1, 26):
            message = await Message.create(
                school_id=pupil.school_id, author=teacher, subject=f"Information n° {number:02d}", body="Texte."
            )
            await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=family.pupil_id)
            await publish(message.id, now=now() + dt.timedelta(seconds=number), actor_staff_id=teacher.id)
        return list(
            await Notice.filter(guardian_id=family.mother, message__subject__startswith="Information")
            .order_by("-message_id")
            .values_list("id", flat=True)
        )

    newest_first = site.run(many_messages)
    site.login_guardian(family.mother)
    first = site.client.get("/portal").text
    assert "Page 1 sur 2" in first and 'href="/portal?page=2"' in first
    assert first.index("Information n° 25") < first.index("Information n° 24") < first.index("Information n° 06")
    assert "Information n° 05" not in first and "Visite du musée" in first  # in "to do", on every page
    second = site.client.get("/portal?page=2").text
    assert "Information n° 05" in second and "Information n° 06" not in second and "Page 2 sur 2" in second
    assert "Réunion des parents" in second  # the oldest, last
    assert site.client.get("/portal?page=99").status_code == 200  # past the end: the last page

    unread = first.count("Non lu")
    site.client.get(f"/portal/notices/{newest_first[0]}")
    assert site.client.get("/portal").text.count("Non lu") == unread - 1


def test_the_personal_link_page_in_dutch_and_english(site: Site) -> None:
    family = site.run(_family)
    token = family.tokens[family.mother]
    dutch = site.client.get(f"/n/{token}?lang=nl")
    assert dutch.status_code == 200 and '<html lang="nl">' in dutch.text
    assert (
        "Antwoordstrookje" in dutch.text
        and "Ik heb dit bericht gelezen" in dutch.text
        and "Mijn antwoorden verzenden" in dutch.text
    )
    english = site.client.get(f"/n/{token}?lang=en")
    assert "Reply slip" in english.text and "I have read this message" in english.text and "€3.00" in english.text
    unknown = site.client.get("/n/no-such-link?lang=nl")
    assert unknown.status_code == 404 and "Deze link is niet geldig" in unknown.text


def test_the_personal_link_of_an_erased_guardian_opens_nothing(site: Site) -> None:
    family = site.run(_family)
    token = family.tokens[family.father]
    csrf = site.csrf(f"/n/{token}")
    site.run(lambda: Guardian.filter(id=family.father).update(erased_at=now()))
    assert site.client.get(f"/n/{token}").status_code == 404
    refused = site.client.post(f"/n/{token}/ack", data={"csrf_token": csrf}, follow_redirects=False)
    assert refused.status_code == 404
    assert site.run(lambda: Acknowledgement.filter(notice_id=family.notices[family.father]).exists()) is False
