"""The staff side of messages through the real app on the demo school: the composer, its preview, sending, the
message pages, the CSV of answers, and who may do what (a teacher only for the classes they teach)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from typing import Any

import pytest

from hub import clock
from hub.demo.school import STAFF_DOMAIN
from hub.enums import AudienceKind, Channel, GroupKind, MessageState, QuestionKind
from hub.messaging import access
from hub.messaging.models import Attachment, Message, MessageAudience, Notice, NoticePupil, ReplySlip, SlipQuestion
from hub.messaging.planning import record_answer
from hub.people.models import Group, Guardianship, Membership, Staff
from hub.store.audit import AuditEntry
from tests.web.conftest import Site

TEACHER = f"prof.demo@{STAFF_DOMAIN}"
PRINCIPAL = f"direction@{STAFF_DOMAIN}"
SECRETARY = f"secretariat@{STAFF_DOMAIN}"

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
PDF = b"%PDF-1.4\n" + b"x" * 200


# ------------------------------------------------------------------------------------------------ helpers


async def _taught_class() -> int:
    """A class the demo teacher teaches."""
    staff = await Staff.get(email=TEACHER)
    taught = await access.taught_group_ids(staff.id)
    return (
        await Group.filter(id__in=list(taught), kind=GroupKind.CLASS)
        .order_by("code")
        .first()
        .values_list("id", flat=True)
    )


async def _untaught_class() -> int:
    staff = await Staff.get(email=TEACHER)
    taught = await access.taught_group_ids(staff.id)
    return (await Group.filter(kind=GroupKind.CLASS).exclude(id__in=list(taught)).order_by("code").first()).id  # type: ignore[union-attr]


async def _untaught_pupil() -> int:
    staff = await Staff.get(email=TEACHER)
    taught = list(await access.taught_group_ids(staff.id))
    mine = await Membership.filter(group_id__in=taught).values_list("pupil_id", flat=True)
    return await Membership.exclude(pupil_id__in=list(mine)).first().values_list("pupil_id", flat=True)


async def _two_parent_pupil(group_id: int) -> tuple[int, list[int]]:
    """A pupil of this class with two guardians who receive and may answer (each gets their own notice)."""
    pupils = await Membership.filter(group_id=group_id).values_list("pupil_id", flat=True)
    for pupil in sorted(pupils):
        guardians = await Guardianship.filter(pupil_id=pupil, receives=True, may_answer=True, barred=False).values_list(
            "guardian_id", flat=True
        )
        if len(guardians) >= 2:
            return pupil, sorted(guardians)
    raise AssertionError("the demo class has no pupil with two answering guardians")


def _message_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "action": "preview",
        "subject": "Sortie au musée",
        "body": "Chers parents,\n\nLa classe visite le musée jeudi.",
        "category": "trip",
        "urgency": "normal",
    }
    form.update(changes)
    return form


def _slip_fields(**changes: Any) -> dict[str, Any]:
    deadline = (clock.now() + dt.timedelta(days=10)).strftime("%Y-%m-%dT12:00")
    fields: dict[str, Any] = {
        "slip": "1",
        "slip_deadline": deadline,
        "answer_mode": "one_per_pupil",
        "reminder": ["24"],
        "q1_kind": "yes_no",
        "q1_text": "J'autorise mon enfant à participer.",
        "q2_kind": "one_choice",
        "q2_text": "Repas de midi",
        "q2_choices": "Chaud\nFroid",
    }
    fields.update(changes)
    return fields


def _compose(site: Site, form: dict[str, Any], files: Any = None) -> Any:
    return site.post("/staff/compose", form, form_page="/staff/compose", files=files)


def _draft_id(response: Any) -> int:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/staff/compose/") and location.endswith("/preview"), location
    return int(location.split("/")[3])


def _send(site: Site, message_id: int) -> Any:
    return site.post(f"/staff/compose/{message_id}/send", form_page=f"/staff/compose/{message_id}/preview")


def _count(site: Site, model: Any, **filters: Any) -> int:
    return site.run(lambda: model.filter(**filters).count())


async def _message(message_id: int) -> Message:
    return await Message.get(id=message_id)


# --------------------------------------------------------------------------------------- the whole flow


def test_a_teacher_composes_a_reply_slip_previews_sends_and_follows_it(
    at_school_hours: dt.datetime, site: Site
) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    message_id = _draft_id(_compose(site, _message_form(group=str(group), needs_acknowledgement="1", **_slip_fields())))

    stored = site.run(_message, message_id)
    assert stored.state == MessageState.DRAFT
    slip = site.run(lambda: ReplySlip.get(message_id=message_id))
    assert slip.reminder_hours == [24]
    questions = site.run(lambda: SlipQuestion.filter(slip_id=slip.id).order_by("position").values("kind", "choices"))
    assert questions == [
        {"kind": QuestionKind.YES_NO, "choices": []},
        {"kind": QuestionKind.ONE_CHOICE, "choices": ["Chaud", "Froid"]},
    ]

    preview = site.client.get(f"/staff/compose/{message_id}/preview")
    assert preview.status_code == 200
    pupils = site.run(lambda: Membership.filter(group_id=group).count())
    assert f'<p class="big">{pupils}</p>' in preview.text  # pupils concerned
    assert "Lettre imprimée" in preview.text  # no electronic channel configured in this app: letters first
    assert "Repas de midi (Chaud / Froid)" in preview.text  # the slip as the Telegram text shows it
    assert "Envoyer à" in preview.text
    nl = site.client.get(f"/staff/compose/{message_id}/preview?show=nl")
    assert '<div lang="nl">' in nl.text and "Betrokken leerling: " in nl.text  # the families' words, in Dutch
    letter = site.client.get(f"/staff/compose/{message_id}/letter.pdf?show=fr")
    assert letter.status_code == 200 and letter.content.startswith(b"%PDF")

    sent = _send(site, message_id)
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/staff/messages/{message_id}?sent=1"
    stored = site.run(_message, message_id)
    assert stored.state == MessageState.PUBLISHED
    families = _count(site, Notice, message_id=message_id)
    assert families > 0
    assert _count(site, AuditEntry, action="message.published", subject_id=str(message_id)) == 1

    page = site.client.get(sent.headers["location"])
    assert page.status_code == 200
    assert "Le message est en route." in page.text  # school hours: the letters are due (see test_held_state)
    assert "Programmé" not in page.text
    assert f'data-url="/staff/messages/{message_id}/progress.json"' in page.text
    progress = site.client.get(f"/staff/messages/{message_id}/progress.json").json()
    assert progress["message_id"] == message_id
    assert progress["counts"]["families"] == families
    assert progress["summary"]["total"] == sum(progress["states"].values()) > 0
    assert progress["families"]["families"] == families == progress["families"]["sending"]
    assert progress["families"]["phase"] == "sending" and len(progress["rows"]) == min(families, 50)

    listing = site.client.get("/staff/messages")
    assert f'href="/staff/messages/{message_id}"' in listing.text
    home = site.client.get("/staff")
    assert f'href="/staff/messages/{message_id}"' in home.text

    again = _send(site, message_id)  # a second click: the draft is gone, nothing is sent twice
    assert again.status_code == 404
    assert _count(site, Notice, message_id=message_id) == families


def test_a_scheduled_message_waits_for_its_time(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    later = clock.now() + dt.timedelta(days=3)
    when = later.astimezone(dt.timezone(dt.timedelta(hours=1))).strftime("%Y-%m-%dT%H:%M")
    message_id = _draft_id(_compose(site, _message_form(group=str(group), scheduled_at=when)))
    preview = site.client.get(f"/staff/compose/{message_id}/preview")
    assert "Programmer pour" in preview.text
    _send(site, message_id)
    assert site.run(_message, message_id).state == MessageState.SCHEDULED


def test_add_a_question_without_javascript_keeps_what_was_typed(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    response = _compose(
        site, _message_form(action="add_question", group=str(group), question_rows="3", **_slip_fields())
    )
    assert response.status_code == 200
    assert 'name="q4_text"' in response.text and 'name="q5_text"' not in response.text
    assert 'value="Sortie au musée"' in response.text
    assert "Repas de midi" in response.text
    assert _count(site, Message) == 0


def test_save_as_draft_then_edit_it(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    saved = _compose(site, _message_form(action="save", group=str(group), **_slip_fields()))
    assert saved.status_code == 303
    message_id = int(saved.headers["location"].split("draft=")[1].split("&")[0])
    form = site.client.get(saved.headers["location"])
    assert "Le brouillon est enregistré." in form.text
    assert f'value="{group}" checked' in form.text
    assert "Repas de midi" in form.text and "Chaud\nFroid" in form.text

    edited = _compose(site, _message_form(draft=str(message_id), subject="Sortie reportée", group=str(group)))
    assert _draft_id(edited) == message_id
    stored = site.run(_message, message_id)
    assert stored.subject == "Sortie reportée"
    assert _count(site, ReplySlip, message_id=message_id) == 0  # the slip was unticked
    assert _count(site, Message) == 1

    deleted = site.post(f"/staff/compose/{message_id}/delete", form_page=f"/staff/compose?draft={message_id}")
    assert deleted.status_code == 303
    assert _count(site, Message) == 0


# ----------------------------------------------------------------------------------------- authorization


def test_a_teacher_cannot_address_a_class_they_do_not_teach(site: Site) -> None:
    site.login_staff(TEACHER)
    other = site.run(_untaught_class)
    form = site.client.get("/staff/compose").text
    assert f'id="group-{other}"' not in form
    refused = _compose(site, _message_form(group=str(other)))
    assert refused.status_code == 403
    mixed = _compose(site, _message_form(group=[str(site.run(_taught_class)), str(other)]))
    assert mixed.status_code == 403
    assert _count(site, Message) == 0


def test_a_teacher_cannot_address_a_pupil_they_do_not_teach_nor_the_whole_school(site: Site) -> None:
    site.login_staff(TEACHER)
    assert _compose(site, _message_form(pupil=str(site.run(_untaught_pupil)))).status_code == 403
    assert _compose(site, _message_form(school="1")).status_code == 403
    assert _count(site, Message) == 0


def test_a_teacher_cannot_send_an_emergency(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    form = site.client.get("/staff/compose").text
    assert 'value="emergency"' not in form
    response = _compose(site, _message_form(group=str(group), urgency="emergency", urgency_reason="Fuite de gaz"))
    assert response.status_code == 403
    assert _count(site, Message) == 0


def test_a_teacher_cannot_read_a_message_to_another_class(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    other = site.run(_untaught_class)
    message_id = _draft_id(_compose(site, _message_form(group=str(other), **_slip_fields())))
    assert _send(site, message_id).status_code == 303
    png = _compose(site, _message_form(group=str(other)), files=[("attachments", ("plan.png", PNG, "image/png"))])
    file_id = site.run(lambda: Attachment.filter(message_id=_draft_id(png)).first().values_list("id", flat=True))

    site.login_staff(TEACHER)
    for path in (
        f"/staff/messages/{message_id}",
        f"/staff/messages/{message_id}/progress.json",
        f"/staff/messages/{message_id}/responses.csv",
        f"/staff/compose/{message_id}/preview",
        f"/staff/compose?draft={_draft_id(png)}",
        f"/staff/attachments/{file_id}",
    ):
        assert site.client.get(path).status_code == 404, path
    assert f'href="/staff/messages/{message_id}"' not in site.client.get("/staff/messages").text
    assert _send(site, _draft_id(png)).status_code == 404
    assert site.run(_message, _draft_id(png)).state == MessageState.DRAFT


def test_the_pages_need_a_staff_session(site: Site) -> None:
    for path in ("/staff", "/staff/compose", "/staff/messages", "/staff/messages/1"):
        response = site.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    guardian = site.run(lambda: Guardianship.first().values_list("guardian_id", flat=True))
    site.login_guardian(guardian)
    assert site.client.get("/staff/compose", follow_redirects=False).headers["location"].startswith("/login")


def test_a_post_without_its_csrf_token_is_refused_and_stores_nothing(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    response = site.client.post("/staff/compose", data=_message_form(group=str(group)), follow_redirects=False)
    assert response.status_code == 403
    assert _count(site, Message) == 0

    message_id = _draft_id(_compose(site, _message_form(group=str(group))))
    forged = site.client.post(f"/staff/compose/{message_id}/send", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    assert site.run(_message, message_id).state == MessageState.DRAFT
    assert _count(site, Notice, message_id=message_id) == 0


# --------------------------------------------------------------------------------------------- bad input


def test_an_emergency_without_its_reason_is_refused_with_the_form_refilled(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    group = site.run(_taught_class)
    response = _compose(site, _message_form(group=str(group), urgency="emergency", subject="Fermeture de l'école"))
    assert response.status_code == 422
    assert "Une urgence grave demande sa raison" in response.text
    assert 'value="Fermeture de l&#39;école"' in response.text
    assert 'id="urgency-emergency" name="urgency" value="emergency" checked' in response.text
    assert _count(site, Message) == 0

    message_id = _draft_id(
        _compose(site, _message_form(group=str(group), urgency="emergency", urgency_reason="Tempête annoncée"))
    )
    assert _send(site, message_id).status_code == 303
    assert _count(site, AuditEntry, action="message.emergency", subject_id=str(message_id)) == 1


def test_a_slip_question_without_text_is_refused(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    response = _compose(site, _message_form(group=str(group), **_slip_fields(q2_text="")))
    assert response.status_code == 422
    assert 'id="err-q2_text"' in response.text and "Écrivez la question." in response.text
    assert "Chaud\nFroid" in response.text  # the choices typed are still there
    assert _count(site, Message) == 0


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"subject": "  "}, "subject", "Écrivez un objet."),
        ({"body": ""}, "body", "Écrivez le message."),
        ({"group": []}, "audience", "Choisissez qui reçoit le message"),
        ({"scheduled_at": "2020-01-01T10:00"}, "scheduled_at", "Choisissez un moment à venir"),
        ({"scheduled_at": "demain"}, "scheduled_at", "Indiquez une date et une heure"),
        ({"slip": "1", "slip_deadline": ""}, "slip_deadline", "Indiquez la date et l’heure"),
        ({"slip": "1", "slip_deadline": "2030-01-01T10:00"}, "questions", "au moins une question"),
        ({"category": "gossip"}, "category", "Choisissez une catégorie"),
    ],
)
def test_bad_input_gets_an_error_on_its_field(site: Site, changes: dict[str, Any], field: str, words: str) -> None:
    site.login_staff(TEACHER)
    form = _message_form(group=str(site.run(_taught_class)))
    form.update(changes)
    response = _compose(site, form)
    assert response.status_code == 422
    assert f'id="err-{field}"' in response.text and words in response.text
    assert _count(site, Message) == 0


def test_a_choice_question_needs_two_choices_and_only_an_amount_has_a_price(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    fields = _slip_fields(q2_choices="Chaud", q3_kind="yes_no", q3_text="Combien ?", q3_price="3,50")
    response = _compose(site, _message_form(group=str(group), **fields))
    assert response.status_code == 422
    assert 'id="err-q2_choices"' in response.text and 'id="err-q3_price"' in response.text
    good = _slip_fields(q3_kind="amount", q3_text="Tickets de bus", q3_price="3,50")
    message_id = _draft_id(_compose(site, _message_form(group=str(group), **good)))
    price = site.run(
        lambda: (
            SlipQuestion.filter(slip__message_id=message_id, position=3)
            .first()
            .values_list("unit_price_cents", flat=True)
        )
    )
    assert price == 350


def test_attachments_are_checked_stored_with_their_checksum_and_downloaded(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    too_big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    response = _compose(
        site, _message_form(group=str(group)), files=[("attachments", ("big.pdf", too_big, "application/pdf"))]
    )
    assert response.status_code == 422
    assert "Un fichier est trop volumineux" in response.text and "choisissez-les à nouveau" in response.text
    exe = _compose(
        site, _message_form(group=str(group)), files=[("attachments", ("menu.pdf", b"MZ\x90\x00", "application/pdf"))]
    )
    assert exe.status_code == 422 and "Seuls les fichiers PDF, JPEG et PNG" in exe.text
    assert _count(site, Message) == 0
    assert _count(site, Attachment) == 0

    files = [
        ("attachments", ("../../menu de la semaine.pdf", PDF, "text/plain")),
        ("attachments", ("plan.png", PNG, "image/png")),
    ]
    message_id = _draft_id(_compose(site, _message_form(group=str(group)), files=files))
    stored = site.run(
        lambda: (
            Attachment.filter(message_id=message_id)
            .order_by("id")
            .values("id", "filename", "content_type", "size", "sha256")
        )
    )
    assert [(a["filename"], a["content_type"], a["size"]) for a in stored] == [
        ("menu de la semaine.pdf", "application/pdf", len(PDF)),
        ("plan.png", "image/png", len(PNG)),
    ]
    assert stored[0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    download = site.client.get(f"/staff/attachments/{stored[0]['id']}")
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "menu de la semaine.pdf" in site.client.get(f"/staff/compose/{message_id}/preview").text

    kept = _compose(
        site, _message_form(group=str(group), draft=str(message_id), remove_attachment=str(stored[1]["id"]))
    )
    assert _draft_id(kept) == message_id
    assert _count(site, Attachment, message_id=message_id) == 1


# --------------------------------------------------------------------------------------- answers and CSV


async def _answer(message_id: int, guardian_id: int, pupil_id: int, answers: dict[str, Any]) -> None:
    notice = await Notice.get(message_id=message_id, guardian_id=guardian_id)
    await record_answer(notice.id, pupil_id, answers, channel=Channel.PORTAL, now=clock.now())


@pytest.mark.parametrize("mode", ["one_per_pupil", "every_guardian"])
def test_the_family_table_follows_the_answer_mode(site: Site, mode: str) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    pupil, (first, _second) = site.run(_two_parent_pupil, group)
    fields = _slip_fields(answer_mode=mode, q3_kind="free_text", q3_text="Remarque")
    message_id = _draft_id(_compose(site, _message_form(pupil=str(pupil), **fields)))
    _send(site, message_id)
    site.run(_answer, message_id, first, pupil, {"1": "yes", "2": "Froid", "3": '=HYPERLINK("http://x")'})

    page = site.client.get(f"/staff/messages/{message_id}").text
    assert "a répondu le" in page
    if mode == "one_per_pupil":
        assert "répondu par un autre responsable" in page and "pas encore de réponse" not in page
    else:
        assert "pas encore de réponse" in page and "répondu par un autre responsable" not in page

    response = site.client.get(f"/staff/messages/{message_id}/responses.csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "Élève",
        "Classe",
        "Responsable",
        "Répondu le",
        "Canal",
        "Signé par",
        "Question",
        "Réponse",
        "Montant (€)",
        "Nombre",
    ]
    # One line per pupil and question, as a spreadsheet expects; the channel in words.
    assert len(rows) == 4
    assert [r[6] for r in rows[1:]] == ["1. J'autorise mon enfant à participer.", "2. Repas de midi", "3. Remarque"]
    assert [r[7] for r in rows[1:]] == ["Oui", "Froid", '\'=HYPERLINK("http://x")']
    assert {r[4] for r in rows[1:]} == {"Portail"}


def test_a_teacher_of_the_class_follows_a_message_written_by_someone_else(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    group = site.run(_taught_class)
    message_id = _draft_id(_compose(site, _message_form(group=str(group))))
    _send(site, message_id)
    site.login_staff(TEACHER)
    page = site.client.get(f"/staff/messages/{message_id}")
    assert page.status_code == 200
    assert "Vous voyez les familles des élèves à qui vous enseignez." in page.text


# ------------------------------------------------------------------------------------ home and languages


def test_the_home_shows_the_print_queue_to_the_office_only(site: Site) -> None:
    site.login_staff(SECRETARY)
    assert 'href="/staff/print"' in site.client.get("/staff").text.split("<main")[1]
    site.login_staff(TEACHER)
    home = site.client.get("/staff").text
    assert 'href="/staff/print"' not in home.split("<main")[1]
    assert 'href="/staff/inbox"' in home


@pytest.mark.parametrize(
    ("lang", "words"),
    [("fr", "Nouveau message"), ("nl", "Nieuw bericht"), ("en", "New message")],
)
def test_the_composer_speaks_the_page_language(site: Site, lang: str, words: str) -> None:
    site.login_staff(TEACHER)
    page = site.client.get(f"/staff/compose?lang={lang}")
    assert f'<html lang="{lang}">' in page.text
    assert f"<h1>{words}</h1>" in page.text


def test_the_whole_school_is_offered_to_the_principal_only(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    assert 'name="school"' in site.client.get("/staff/compose").text
    site.login_staff(SECRETARY)
    form = site.client.get("/staff/compose").text
    assert 'name="school"' not in form
    level = site.run(lambda: Group.filter(kind=GroupKind.LEVEL).first().values_list("id", flat=True))
    assert f'id="group-{level}"' in form
    assert _compose(site, _message_form(school="1")).status_code == 403
    message_id = _draft_id(_compose(site, _message_form(group=str(level))))
    terms = site.run(lambda: MessageAudience.filter(message_id=message_id).values_list("kind", "group_id"))
    assert terms == [(AudienceKind.GROUP, level)]
    assert _count(site, NoticePupil) == 0  # a draft plans nobody yet


async def _class_pupils(group_id: int) -> list[int]:
    return list(await Membership.filter(group_id=group_id).values_list("pupil_id", flat=True))


async def _letter_answer(message_id: int, pupil_id: int, answers: dict[str, Any]) -> None:
    notice = await Notice.filter(message_id=message_id, pupils__pupil_id=pupil_id).order_by("id").first()
    assert notice is not None
    await record_answer(notice.id, pupil_id, answers, channel=Channel.LETTER, now=clock.now(), late_ok=True)


def test_responses_csv_lists_every_pupil_one_line_per_question_with_amounts_as_numbers(site: Site) -> None:
    site.login_staff(TEACHER)
    group = site.run(_taught_class)
    fields = _slip_fields(q3_kind="amount", q3_text="Tickets", q3_price="3.50", q4_kind="amount", q4_text="Don")
    message_id = _draft_id(_compose(site, _message_form(group=str(group), **fields)))
    assert _send(site, message_id).status_code == 303
    pupils = site.run(_class_pupils, group)
    answered = pupils[0]
    site.run(_letter_answer, message_id, answered, {"1": "yes", "2": "Chaud", "3": 2, "4": "12.5"})

    response = site.client.get(f"/staff/messages/{message_id}/responses.csv")
    header, *rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert header[-4:] == ["Question", "Réponse", "Montant (€)", "Nombre"]
    assert len(rows) == 4 * len(pupils), "every pupil of the class, answered or not, one line per question"
    names = {r[0] for r in rows}
    assert len(names) == len(pupils)
    mine = [r for r in rows if r[3]]  # answered: the date is filled
    assert len(mine) == 4 and {r[4] for r in mine} == {"Lettre imprimée"}
    tickets, gift = mine[2], mine[3]
    assert (tickets[-2], tickets[-1]) == ("7,00", "2"), "2 tickets at 3.50 €: 7,00 € and the count"
    assert gift[-2] == "12,50" and gift[-1] == ""
    unanswered = [r for r in rows if not r[3]]
    assert len(unanswered) == 4 * (len(pupils) - 1) and all(r[7] == "" for r in unanswered)
