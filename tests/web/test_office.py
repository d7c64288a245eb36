"""The school office's pages over the real app and the demo school: the print queue and its batches, paper reply
slips typed in by their code, onboarding and its welcome letters (whose QR code signs the right guardian in),
and the school's settings and staff with the two-administrator rule. Every page: 403 for a teacher, CSRF."""

from __future__ import annotations

import datetime as dt
import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from pypdf import PdfReader

from hub import clock
from hub.demo.school import DEMO_SCHOOL_NAME, STAFF_DOMAIN, publish_demo_messages
from hub.enums import ActorKind, AudienceKind, Channel, DeliveryState, StaffRole, Urgency
from hub.messaging.models import Delivery, Message, MessageAudience, Notice, NoticePupil, SlipResponse
from hub.messaging.paper import PaperItem, paper_list
from hub.messaging.planning import publish
from hub.people.models import Contact, Guardian, Guardianship, School, SignInLink, Staff, StaffRoleGrant
from hub.store.audit import AuditEntry
from tests.web.conftest import Site

TEACHER = f"prof.demo@{STAFF_DOMAIN}"
SECRETARY = f"secretariat@{STAFF_DOMAIN}"
PRINCIPAL = f"direction@{STAFF_DOMAIN}"
ADMIN = f"admin@{STAFF_DOMAIN}"
#: A Tuesday morning in school hours, before the tests run: the letters published then are due now.
PUBLISHED = dt.datetime(2026, 11, 17, 9, 0, tzinfo=dt.UTC)

PAGES = ["/staff/print", "/staff/paper", "/staff/onboarding", "/staff/settings"]
POSTS = [
    ("/staff/print", {}),
    ("/staff/paper", {"code": "ABCD-EFGH", "pupil_id": "1"}),
    ("/staff/onboarding/letters", {}),
    ("/staff/settings/school", {"name": "X"}),
    ("/staff/settings/staff", {"first_name": "X"}),
    ("/staff/settings/staff/1/roles", {"role": "admin", "action": "revoke"}),
    ("/staff/settings/staff/1/active", {"active": "0"}),
]


def _texts(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def _qr_links(pdf: bytes) -> list[str]:
    found: list[str] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            found += [
                barcode.text for barcode in zxingcpp.read_barcodes(image.image, formats=zxingcpp.BarcodeFormat.QRCode)
            ]
    return found


def _published(site: Site) -> None:
    site.run(publish_demo_messages, PUBLISHED)


async def _waiting() -> list[PaperItem]:
    """What a batch would print now."""
    return await paper_list(now=clock.now())


async def _paper_only_names() -> set[str]:
    return {item.guardian_name for item in await _waiting() if item.reason == "only channel"}


_FORM = re.compile(r'<form method="post" action="/staff/print"[^>]*>(.*?)</form>', re.S)
_FIELD = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
_BUTTON = re.compile(r"<button[^>]*>([^<]*)</button>")


@dataclass
class PrintForm:
    """A "print" button of the print queue, with the fields its form sends."""

    fields: dict[str, str]
    label: str

    @property
    def ids(self) -> set[int]:
        return {int(i) for i in self.fields["ids"].split()}


def _print_forms(html: str) -> list[PrintForm]:
    """The print queue's buttons: one per message, then the one for every letter."""
    forms = []
    for body in _FORM.findall(html):
        button = _BUTTON.search(body)
        assert button, body
        forms.append(PrintForm(dict(_FIELD.findall(body)), button.group(1)))
    return forms


def _click(site: Site, form: PrintForm) -> Any:
    return site.client.post("/staff/print", data=form.fields, follow_redirects=False)


async def _write_to_a_paper_family(
    subject: str, *, urgency: Urgency = Urgency.NORMAL, scheduled_at: dt.datetime | None = None
) -> tuple[int, str]:
    """The principal writes, now, to one pupil of a family reached by paper only: the message and that
    guardian's name."""
    school = await School.get(name=DEMO_SCHOOL_NAME)
    with_contacts = await Contact.filter(guardian__school=school).values_list("guardian_id", flat=True)
    link = (
        await Guardianship.filter(guardian__school=school, receives=True, barred=False)
        .exclude(guardian_id__in=list(with_contacts))
        .order_by("id")
        .first()
    )
    assert link is not None, "the demo school has families reached by paper only"
    guardian = await Guardian.get(id=link.guardian_id)  # type: ignore[attr-defined]
    principal = await Staff.get(email=PRINCIPAL)
    message = await Message.create(
        school=school,
        author=principal,
        subject=subject,
        body="Le message du jour.",
        urgency=urgency,
        urgency_reason="Fuite de gaz : l'école est évacuée." if urgency is Urgency.EMERGENCY else "",
        scheduled_at=scheduled_at,
    )
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=link.pupil_id)  # type: ignore[attr-defined]
    await publish(message.id, now=clock.now(), actor_staff_id=principal.id)
    return message.id, f"{guardian.first_name} {guardian.last_name}"


#: ``carnet ARGS`` with the product's clock at ``argv[1]``: the command as the tests' hour sees it.
_CARNET_AT = (
    "import datetime as dt, sys\n"
    "from hub import clock\n"
    "clock.use(clock.RunningClock(dt.datetime.fromisoformat(sys.argv[1])))\n"
    "from hub.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def _carnet(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    """``carnet ARGS`` on the site's database, in a process of its own whose clock reads this test's "now"."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CARNET_")},
        "CARNET_DATABASE_URL": site.settings.database_url,
        "CARNET_DATA_DIR": str(site.settings.data_dir),
        "CARNET_BASE_URL": site.settings.base_url,
    }
    return subprocess.run(
        [sys.executable, "-c", _CARNET_AT, clock.now().isoformat(), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def _letter_states() -> dict[str, int]:
    rows = await Delivery.filter(channel=Channel.LETTER).values_list("state", flat=True)
    return {str(state): rows.count(state) for state in set(rows)}


# ------------------------------------------------------------------------------------------ authorization


@pytest.mark.parametrize("path", PAGES)
def test_a_teacher_gets_403_on_every_office_page(site: Site, path: str) -> None:
    site.login_staff(TEACHER)
    assert site.client.get(path).status_code == 403


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_teacher_cannot_post_either(site: Site, path: str, data: dict[str, str]) -> None:
    site.login_staff(TEACHER)
    assert site.post(path, data).status_code == 403


def test_the_office_pages_need_a_signed_in_member(site: Site) -> None:
    for path in PAGES:
        response = site.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_a_post_without_its_csrf_token_is_refused_and_stores_nothing(
    site: Site, path: str, data: dict[str, str]
) -> None:
    _published(site)
    site.login_staff(ADMIN)
    before = site.run(AuditEntry.all().count), site.run(_letter_states), site.run(SignInLink.all().count)
    response = site.client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 403
    assert (site.run(AuditEntry.all().count), site.run(_letter_states), site.run(SignInLink.all().count)) == before


# ------------------------------------------------------------------------------------------------ printing


def test_a_paper_only_familys_letter_is_queued_printed_and_downloaded(site: Site) -> None:
    _published(site)
    names = site.run(_paper_only_names)
    assert names, "the demo school has families reached by paper only"
    site.login_staff(SECRETARY)
    queue = site.client.get("/staff/print")
    assert queue.status_code == 200
    assert "Réunion des parents du premier trimestre" in queue.text
    name = sorted(names)[0]
    assert name in queue.text

    every = _print_forms(queue.text)[-1]
    printed = _click(site, every)
    assert printed.status_code == 303
    batch_url = re.search(r"/staff/print/batches/\d+\.pdf", site.client.get(printed.headers["location"]).text)
    assert batch_url, "the page offers the batch's PDF"
    pdf = site.client.get(batch_url.group(0))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert name in _texts(pdf.content)

    # Printed: recorded as handed over, out of the queue, listed among the batches.
    assert site.run(_waiting) == []
    assert site.run(_letter_states).get(str(DeliveryState.DELIVERED), 0) >= len(names)
    again = site.client.get("/staff/print")
    assert name not in again.text and batch_url.group(0) in again.text
    entry = site.run(AuditEntry.filter(action="paper.batch_printed").first)
    assert entry is not None and entry.details["count"] >= len(names)
    assert entry.details["source"] == "page" and entry.actor_kind == ActorKind.STAFF


def test_print_one_messages_letters_only(site: Site) -> None:
    _published(site)
    site.login_staff(PRINCIPAL)

    async def by_message() -> dict[int, int]:
        counts: dict[int, int] = {}
        for item in await _waiting():
            counts[item.message_id] = counts.get(item.message_id, 0) + 1
        return counts

    counts = site.run(by_message)
    assert len(counts) == 2
    first, other = sorted(counts)
    assert site.post("/staff/print", {"message_id": first}, form_page="/staff/print").status_code == 303
    assert site.run(by_message) == {other: counts[other]}


def test_nothing_to_print_says_so_and_another_schools_batch_is_not_found(site: Site) -> None:
    site.login_staff(SECRETARY)
    response = site.post("/staff/print", {}, form_page="/staff/print")
    assert response.status_code == 200 and "Rien n’a été imprimé" in response.text
    assert site.client.get("/staff/print/batches/999999.pdf").status_code == 404


def test_the_print_queue_prints_on_a_sunday(at_sunday_afternoon: dt.datetime, site: Site) -> None:
    """The user's report: "Imprimer celles-ci" refused outside school hours. The charter holds the letters
    until Monday; the secretary prints them on a Sunday all the same, each recorded as printed then."""
    site.run(publish_demo_messages, at_sunday_afternoon)
    waiting = site.run(_waiting)
    assert waiting and all(item.held for item in waiting), "the charter holds them until school hours"
    site.login_staff(SECRETARY)
    queue = site.client.get("/staff/print").text
    assert "retenues par les heures de calme" in queue
    news = next(f for f in _print_forms(queue) if "message_id" in f.fields and "Réunion" in _subject_of(f, waiting))
    assert news.label == f"Imprimer celles-ci ({len(news.ids)})" and len(news.ids) > 1

    printed = _click(site, news)
    assert printed.status_code == 303
    page = site.client.get(printed.headers["location"]).text
    assert f"Le lot est imprimé\u202f: {len(news.ids)} lettres." in page  # French spacing (hub/typography.py)
    rows = site.run(lambda: Delivery.filter(id__in=sorted(news.ids)).values_list("state", "sent_at"))
    assert {state for state, _ in rows} == {DeliveryState.DELIVERED}
    assert all(at_sunday_afternoon <= sent_at <= clock.now() for _, sent_at in rows), "printed on the Sunday"


def _subject_of(form: PrintForm, items: list[PaperItem]) -> str:
    return next(item.subject for item in items if item.delivery_id in form.ids)


def test_the_count_shown_is_what_a_click_prints(at_saturday_night: dt.datetime, site: Site) -> None:
    """The page's buttons say how many letters they print, and print exactly those: not a letter that arrived
    after the page was shown, not one of a message its sender scheduled for later (listed apart)."""
    site.run(publish_demo_messages, at_saturday_night)
    later = at_saturday_night + dt.timedelta(days=3)
    site.run(lambda: _write_to_a_paper_family("Classes vertes", scheduled_at=later))
    site.login_staff(SECRETARY)
    queue = site.client.get("/staff/print").text
    every = _print_forms(queue)[-1]
    shown = {item.delivery_id for item in site.run(_waiting)}
    assert every.ids == shown and every.label == f"Imprimer toutes les lettres en attente ({len(shown)})"
    assert f"Lettres en attente\u202f: {len(shown)}." in queue
    assert "Programmées pour plus tard" in queue
    assert re.search(r"«\u202fClasses vertes\u202f»\u202f: \d+ lettres?, à partir du", queue)

    arrived, _name = site.run(lambda: _write_to_a_paper_family("Piscine annulée"))
    printed = _click(site, every)
    assert printed.status_code == 303
    assert f"Le lot est imprimé\u202f: {len(shown)} lettres." in site.client.get(printed.headers["location"]).text
    entry = site.run(AuditEntry.filter(action="paper.batch_printed").first)
    assert entry is not None and set(entry.details["delivery_ids"]) == shown
    left = site.run(_waiting)
    assert {item.message_id for item in left} == {arrived}, "the letter that came after the page waits its turn"
    assert "Classes vertes" not in {item.subject for item in left}


def test_an_emergency_letter_prints_on_saturday_night(at_saturday_night: dt.datetime, site: Site) -> None:
    message_id, name = site.run(lambda: _write_to_a_paper_family("Évacuation de l'école", urgency=Urgency.EMERGENCY))
    site.login_staff(SECRETARY)
    form = next(f for f in _print_forms(site.client.get("/staff/print").text) if "message_id" in f.fields)
    assert form.fields["message_id"] == str(message_id) and form.label == f"Imprimer celles-ci ({len(form.ids)})"
    printed = _click(site, form)
    assert printed.status_code == 303
    batch_url = re.search(r"/staff/print/batches/\d+\.pdf", site.client.get(printed.headers["location"]).text)
    assert batch_url
    text = _texts(site.client.get(batch_url.group(0)).content)
    assert name in text and "Évacuation de l'école" in text


def test_a_batch_printed_by_the_command_is_listed_on_the_page(
    at_sunday_afternoon: dt.datetime, site: Site, tmp_path: Path
) -> None:
    """``carnet paper print`` on a Sunday prints the letters the charter holds, and records its batch as the
    page does: the print queue lists it, and its PDF downloads there."""
    message_id, name = site.run(lambda: _write_to_a_paper_family("Photo de classe"))
    listed = _carnet(site, "paper", "list")
    assert listed.returncode == 0, listed.stderr
    waiting = site.run(_waiting)
    assert name in listed.stdout and f"{len(waiting)} letter(s) waiting" in listed.stdout

    out = tmp_path / "lettres.pdf"
    printed = _carnet(site, "paper", "print", "--out", str(out))
    assert printed.returncode == 0, printed.stderr
    assert f"{len(waiting)} letter(s) printed" in printed.stdout
    assert name in _texts(out.read_bytes())
    assert site.run(_waiting) == []

    site.login_staff(SECRETARY)
    page = site.client.get("/staff/print").text
    batch_url = re.search(r"/staff/print/batches/(\d+)\.pdf", page)
    assert batch_url, "the command's batch is listed with its PDF"
    assert "en ligne de commande" in page
    assert f"batch {batch_url.group(1)} " in printed.stdout
    pdf = site.client.get(batch_url.group(0))
    assert pdf.status_code == 200 and name in _texts(pdf.content) and "Photo de classe" in _texts(pdf.content)
    entry = site.run(AuditEntry.filter(action="paper.batch_printed").first)
    assert entry is not None and entry.details["source"] == "command" and entry.actor_kind == ActorKind.SYSTEM
    assert set(entry.details["delivery_ids"]) == {item.delivery_id for item in waiting}
    assert {item.message_id for item in waiting} == {message_id}

    # Who ran the command, when they say so, is named on the page.
    site.run(lambda: _write_to_a_paper_family("Photo de classe : rappel"))
    secretary = site.run(lambda: Staff.get(email=SECRETARY))
    again = _carnet(site, "paper", "print", "--out", str(tmp_path / "rappel.pdf"), "--staff", str(secretary.id))
    assert again.returncode == 0, again.stderr
    page = site.client.get("/staff/print").text.replace("&#39;", "'")
    assert f"{secretary.first_name} {secretary.last_name}, en ligne de commande" in page
    assert _carnet(site, "paper", "print", "--out", str(out), "--staff", "999999").returncode == 2


# ------------------------------------------------------------------------------------------- paper slips


async def _trip_letter() -> tuple[str, int, int]:
    """The code, guardian and pupil of a notice of the trip (it has a reply slip) its guardian may answer."""
    for notice in await Notice.filter(message__subject__startswith="Visite du musée").order_by("id"):
        pupil_ids = await NoticePupil.filter(notice=notice).values_list("pupil_id", flat=True)
        for pupil_id in pupil_ids:
            if await Guardianship.filter(
                guardian_id=notice.guardian_id,
                pupil_id=pupil_id,
                may_answer=True,
                barred=False,  # type: ignore[attr-defined]
            ).exists():
                code = notice.token[:8].upper()
                return f"{code[:4]}-{code[4:]}", notice.guardian_id, pupil_id  # type: ignore[attr-defined]
    raise AssertionError("no answerable trip notice")


def test_a_paper_slip_is_recorded_once_by_its_code(site: Site) -> None:
    _published(site)
    code, guardian_id, pupil_id = site.run(_trip_letter)
    site.login_staff(SECRETARY)
    form = site.client.get(f"/staff/paper?code={code.lower()}")
    assert form.status_code == 200
    assert "Visite du musée Félicien Rops" in form.text and "J&#39;autorise mon enfant" in form.text

    # A bad answer: clear error, nothing stored.
    bad = site.post(
        "/staff/paper",
        {"code": code, "pupil_id": pupil_id, "q1": "yes", "q2": "beaucoup", "signed_name": "A. Parent"},
        form_page=f"/staff/paper?code={code}",
    )
    assert bad.status_code == 400 and "indiquez combien" in bad.text  # 3 € a pupil: the letter asks how many
    assert site.run(SlipResponse.filter(pupil_id=pupil_id, channel=Channel.LETTER).count) == 0

    done = site.post(
        "/staff/paper",
        {"code": code, "pupil_id": pupil_id, "q1": "yes", "q2": "2", "signed_name": "A. Parent"},
        form_page=f"/staff/paper?code={code}",
    )
    assert done.status_code == 303
    response = site.run(SlipResponse.filter(pupil_id=pupil_id, guardian_id=guardian_id).first)
    assert response is not None
    assert response.answers == {"1": "yes", "2": 2} and response.channel == Channel.LETTER
    assert site.run(AuditEntry.filter(action="paper.answer_recorded").count) == 1
    shown = site.client.get(done.headers["location"])
    assert "La réponse est enregistrée" in shown.text and "2 × 3.00 €" in shown.text

    twice = site.post(
        "/staff/paper",
        {"code": code, "pupil_id": pupil_id, "q1": "no", "q2": "0", "signed_name": "Someone else"},
        form_page=f"/staff/paper?code={code}",
    )
    assert twice.status_code == 409 and "déjà reçu une réponse" in twice.text and "A. Parent" in twice.text
    again = site.run(SlipResponse.filter(pupil_id=pupil_id, guardian_id=guardian_id).first)
    assert again is not None and again.answers == {"1": "yes", "2": 2}


@pytest.mark.parametrize(
    ("code", "status", "words"),
    [("ZZZZ-ZZZZ", 404, "Aucune lettre de l’école n’a le code"), ("12", 400, "n’est pas un code de lettre")],
)
def test_a_wrong_code_says_so(site: Site, code: str, status: int, words: str) -> None:
    site.login_staff(SECRETARY)
    response = site.client.get(f"/staff/paper?code={code}")
    assert response.status_code == status
    assert words in response.text.replace("&#39;", "'")


def test_the_paper_page_in_dutch_and_english(site: Site) -> None:
    site.login_staff(SECRETARY)
    assert "Papieren antwoordstrookjes" in site.client.get("/staff/paper?lang=nl").text
    assert "Paper reply slips" in site.client.get("/staff/paper?lang=en").text


# ------------------------------------------------------------------------------------------------ onboarding


async def _class_3a_waiting() -> tuple[int, list[int]]:
    from hub.people import onboarding
    from hub.people.models import Group

    school = await School.first()
    assert school is not None
    group = await Group.get(code="3A", kind="class")
    return group.id, await onboarding.waiting_guardian_ids(school.id, group.id)


def test_onboarding_lists_who_has_not_onboarded_and_prints_their_letters(site: Site) -> None:
    site.login_staff(SECRETARY)
    page = site.client.get("/staff/onboarding")
    assert page.status_code == 200 and "3A" in page.text
    group_id, waiting = site.run(_class_3a_waiting)
    assert waiting, "the demo school has guardians who have not onboarded"

    response = site.post("/staff/onboarding/letters", {"group_id": group_id}, form_page="/staff/onboarding")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == len(waiting)
    links = _qr_links(response.content)
    assert len(links) == len(waiting)
    assert all(link.startswith("http://testserver/s/") for link in links)
    first = site.run(Guardian.filter(id=waiting[0]).first)
    assert first is not None and f"{first.first_name} {first.last_name}" in _texts(response.content)
    assert site.run(AuditEntry.filter(action="onboarding.letters_printed").count) == 1

    # The first page's QR code signs in that guardian, and lands on the onboarding page.
    site.logout()
    token = links[0].rsplit("/", 1)[1]
    used = site.post(f"/s/{token}", form_page=f"/s/{token}")
    assert used.status_code == 303 and used.headers["location"] == "/portal/onboarding"
    link = site.run(SignInLink.filter(used_at__isnull=False).order_by("-id").first)
    assert link is not None and link.guardian_id == waiting[0]  # type: ignore[attr-defined]


def test_a_welcome_letter_speaks_the_guardians_language(site: Site) -> None:
    async def dutch_waiting() -> int:
        guardian = await Guardian.filter(language="nl", onboarded_at__isnull=True).first()
        assert guardian is not None
        await Guardian.filter(onboarded_at__isnull=True).exclude(id=guardian.id).update(onboarded_at=PUBLISHED)
        return guardian.id

    site.run(dutch_waiting)
    site.login_staff(SECRETARY)
    response = site.post("/staff/onboarding/letters", {}, form_page="/staff/onboarding")
    assert response.status_code == 200
    text = _texts(response.content)
    assert "Welkom bij Carnet" in text and "communicatiecharter" in text
    assert len(PdfReader(io.BytesIO(response.content)).pages) == 1


def test_onboarding_of_another_schools_class_is_not_found(site: Site) -> None:
    site.login_staff(SECRETARY)
    assert (
        site.post("/staff/onboarding/letters", {"group_id": 999999}, form_page="/staff/onboarding").status_code == 404
    )


# -------------------------------------------------------------------------------------------------- settings


def test_the_principal_reads_the_settings_and_cannot_change_them(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    page = site.client.get("/staff/settings")
    assert page.status_code == 200
    assert "Athénée royal de Namur-Bomel" in page.text and "/charter.pdf" in page.text
    assert 'action="/staff/settings/school"' not in page.text
    refused = site.post("/staff/settings/school", {"name": "Autre"}, form_page="/staff/settings")
    assert refused.status_code == 403
    assert site.run(School.filter(name="Autre").exists) is False


def _school_form(**changes: str) -> dict[str, str]:
    values = {
        "name": "Athénée royal de Namur-Bomel",
        "address": "Rue de Bomel 154\n5000 Namur",
        "timezone": "Europe/Brussels",
        "default_language": "fr",
        "school_year": "2026-2027",
    }
    return {**values, **changes}


def test_an_admin_edits_the_school_and_bad_input_changes_nothing(site: Site) -> None:
    site.login_staff(ADMIN)
    for field, value, words in [
        ("timezone", "Mars/Olympus", "fuseau horaire"),
        ("school_year", "2026-2028", "2026-2027"),
        ("name", "  ", "obligatoire"),
    ]:
        bad = site.post("/staff/settings/school", _school_form(**{field: value}), form_page="/staff/settings")
        assert bad.status_code == 400 and words in bad.text and "Rien n’a été modifié" in bad.text.replace("&#39;", "'")
    assert site.run(AuditEntry.filter(action="school.updated").count) == 0

    good = site.post("/staff/settings/school", _school_form(school_year="2027-2028"), form_page="/staff/settings")
    assert good.status_code == 303
    school = site.run(School.first)
    assert school is not None and school.school_year == "2027-2028"
    entry = site.run(AuditEntry.filter(action="school.updated").first)
    assert entry is not None and "school_year" in entry.details["fields"]


async def _staff_actions() -> list[str]:
    return list(await AuditEntry.filter(subject_type="staff").values_list("action", flat=True))


async def _roles_of(staff_id: int) -> list[str]:
    return [str(role) for role in await StaffRoleGrant.filter(staff_id=staff_id).values_list("role", flat=True)]


async def _admins() -> list[Staff]:
    return await Staff.filter(roles__role=StaffRole.ADMIN, active=True).order_by("id")


def test_the_two_admin_rule_refuses_revoking_the_second_to_last_admin(site: Site) -> None:
    admins = site.run(_admins)
    assert len(admins) == 2
    me = next(a for a in admins if a.email == ADMIN)
    other = next(a for a in admins if a.email != ADMIN)
    site.login_staff(ADMIN)
    refused = site.post(
        f"/staff/settings/staff/{other.id}/roles", {"role": "admin", "action": "revoke"}, form_page="/staff/settings"
    )
    assert refused.status_code == 400 and "au moins deux administrateurs" in refused.text
    gone = site.post(f"/staff/settings/staff/{other.id}/active", {"active": "0"}, form_page="/staff/settings")
    assert gone.status_code == 400 and "au moins deux administrateurs" in gone.text
    assert len(site.run(_admins)) == 2

    # With a third administrator, one may go.
    secretary = site.run(Staff.filter(email=SECRETARY).first)
    assert secretary is not None
    granted = site.post(
        f"/staff/settings/staff/{secretary.id}/roles", {"role": "admin", "action": "grant"}, form_page="/staff/settings"
    )
    assert granted.status_code == 303
    revoked = site.post(
        f"/staff/settings/staff/{other.id}/roles", {"role": "admin", "action": "revoke"}, form_page="/staff/settings"
    )
    assert revoked.status_code == 303
    assert {a.id for a in site.run(_admins)} == {me.id, secretary.id}
    actions = site.run(_staff_actions)
    assert actions.count("staff.role_granted") == 1 and actions.count("staff.role_revoked") == 1


def test_an_admin_creates_a_member_who_signs_in(site: Site) -> None:
    site.login_staff(ADMIN)
    form = {
        "first_name": "Nadia",
        "last_name": "Lambert",
        "email": f"nadia.lambert@{STAFF_DOMAIN}",
        "language": "fr",
        "roles": ["teacher", "secretary"],
        "password": "short",
    }
    short = site.post("/staff/settings/staff", form, form_page="/staff/settings")
    assert short.status_code == 400 and "au moins 10 caractères" in short.text
    taken = site.post(
        "/staff/settings/staff", {**form, "email": TEACHER, "password": "a-long-password"}, form_page="/staff/settings"
    )
    assert taken.status_code == 400 and "a déjà cette adresse" in taken.text
    assert site.run(Staff.filter(last_name="Lambert", first_name="Nadia").exists) is False

    created = site.post("/staff/settings/staff", {**form, "password": "a-long-password"}, form_page="/staff/settings")
    assert created.status_code == 303
    member = site.run(Staff.filter(email=f"nadia.lambert@{STAFF_DOMAIN}").first)
    assert member is not None
    roles = site.run(_roles_of, member.id)
    assert set(roles) == {"teacher", "secretary"}
    site.login_staff(f"nadia.lambert@{STAFF_DOMAIN}", "a-long-password")
    assert site.client.get("/staff/print").status_code == 200


def test_an_admin_deactivates_and_reactivates_a_member_but_not_themselves(site: Site) -> None:
    site.login_staff(ADMIN)
    me = site.run(Staff.filter(email=ADMIN).first)
    teacher = site.run(Staff.filter(email=TEACHER).first)
    assert me is not None and teacher is not None
    assert (
        site.post(f"/staff/settings/staff/{me.id}/active", {"active": "0"}, form_page="/staff/settings").status_code
        == 400
    )
    assert (
        site.post(
            f"/staff/settings/staff/{teacher.id}/active", {"active": "0"}, form_page="/staff/settings"
        ).status_code
        == 303
    )
    assert site.run(Staff.filter(id=teacher.id, active=False).exists)
    assert (
        site.post(
            f"/staff/settings/staff/{teacher.id}/active", {"active": "1"}, form_page="/staff/settings"
        ).status_code
        == 303
    )
    assert site.run(Staff.filter(id=teacher.id, active=True).exists)
    assert site.run(AuditEntry.filter(action="staff.reactivated").count) == 1


def test_the_settings_in_dutch_and_english(site: Site) -> None:
    site.login_staff(ADMIN)
    assert "Personeel en rollen" in site.client.get("/staff/settings?lang=nl").text
    assert "Staff and roles" in site.client.get("/staff/settings?lang=en").text


async def _slip_with_every_kind() -> tuple[str, int]:
    """A letter to one family with a question of each kind but yes/no; its code and pupil."""
    from hub.enums import AudienceKind, QuestionKind
    from hub.messaging.models import Message, MessageAudience, ReplySlip, SlipQuestion
    from hub.messaging.planning import publish

    link = await Guardianship.filter(may_answer=True, barred=False, receives=True).order_by("id").first()
    assert link is not None
    secretary = await Staff.get(email=SECRETARY)
    message = await Message.create(
        school_id=secretary.school_id,  # type: ignore[attr-defined]
        author=secretary,
        subject="Repas du midi",
        body="Choisissez les repas.",
    )
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=link.pupil_id)  # type: ignore[attr-defined]
    slip = await ReplySlip.create(message=message, deadline=PUBLISHED + dt.timedelta(days=3))
    await SlipQuestion.create(
        slip=slip, position=1, kind=QuestionKind.ONE_CHOICE, text="Formule", choices=["Chaud", "Froid"]
    )
    await SlipQuestion.create(
        slip=slip, position=2, kind=QuestionKind.MANY_CHOICES, text="Jours", choices=["Lundi", "Mardi", "Jeudi"]
    )
    await SlipQuestion.create(slip=slip, position=3, kind=QuestionKind.FREE_TEXT, text="Allergies", required=False)
    await publish(message.id, now=PUBLISHED, actor_staff_id=secretary.id)
    notice = await Notice.get(message=message, guardian_id=link.guardian_id)  # type: ignore[attr-defined]
    return notice.token[:8], link.pupil_id  # type: ignore[attr-defined]


def test_choices_and_free_text_are_recorded_as_typed(site: Site) -> None:
    code, pupil_id = site.run(_slip_with_every_kind)
    site.login_staff(PRINCIPAL)
    page = f"/staff/paper?code={code}"
    assert "Froid" in site.client.get(page).text
    forged = site.post(
        "/staff/paper", {"code": code, "pupil_id": pupil_id, "q1": "Tiède", "q2": "Lundi"}, form_page=page
    )
    assert forged.status_code == 400 and "choisissez une des réponses proposées" in forged.text
    done = site.post(
        "/staff/paper",
        {"code": code, "pupil_id": pupil_id, "q1": "Froid", "q2": ["Jeudi", "Lundi"], "q3": "Arachides"},
        form_page=page,
    )
    assert done.status_code == 303
    response = site.run(SlipResponse.filter(pupil_id=pupil_id, channel=Channel.LETTER).first)
    assert response is not None
    assert response.answers == {"1": "Froid", "2": ["Lundi", "Jeudi"], "3": "Arachides"}


def test_the_onboarding_page_in_dutch_and_english(site: Site) -> None:
    site.login_staff(SECRETARY)
    assert "Per klas" in site.client.get("/staff/onboarding?lang=nl").text
    assert "By class" in site.client.get("/staff/onboarding?lang=en").text


async def _household_letter() -> tuple[str, int, int, int]:
    """A slip message to a pupil whose two guardians live together and have no internet: one letter for both.
    Returns its code, the two guardians (the code's first) and the pupil."""
    from hub.enums import QuestionKind
    from hub.messaging.models import ReplySlip, SlipQuestion

    emailed = set(await Contact.all().values_list("guardian_id", flat=True))
    links = await Guardianship.filter(receives=True, may_answer=True, barred=False).values_list(
        "pupil_id", "guardian_id", "guardian__household_id"
    )
    by_home: dict[tuple[int, int], list[int]] = {}
    for pupil_id, guardian_id, household_id in links:
        if household_id is not None and guardian_id not in emailed:
            by_home.setdefault((pupil_id, household_id), []).append(guardian_id)
    pupil_id, _home = next(key for key, guardians in sorted(by_home.items()) if len(guardians) == 2)
    principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
    message = await Message.create(
        school_id=principal.school_id,  # type: ignore[attr-defined]
        author=principal,
        subject="Photo de classe",
        body="Commandez-vous la photo ?",
    )
    await MessageAudience.create(message=message, kind=AudienceKind.PUPIL, pupil_id=pupil_id)
    slip = await ReplySlip.create(message=message, deadline=clock.now() + dt.timedelta(days=7))
    await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="Commandez-vous ?")
    await publish(message.id, now=clock.now(), actor_staff_id=principal.id)
    notices = await Notice.filter(message=message).order_by("guardian__first_name", "guardian__last_name")
    assert len(notices) == 2
    first, second = notices
    code = first.token[:8].upper()
    return f"{code[:4]}-{code[4:]}", first.guardian_id, second.guardian_id, pupil_id  # type: ignore[attr-defined]


def test_a_household_letter_is_answered_for_the_guardian_who_signed(site: Site) -> None:
    code, first, second, pupil_id = site.run(_household_letter)
    site.login_staff(SECRETARY)
    names = {g.id: f"{g.first_name} {g.last_name}" for g in site.run(Guardian.filter(id__in=[first, second]).all)}
    form = site.client.get(f"/staff/paper?code={code}")
    assert form.status_code == 200
    assert f'name="signer_id" value="{second}"' in form.text and names[second] in form.text
    done = site.post(
        "/staff/paper",
        {"code": code, "pupil_id": pupil_id, "q1": "yes", "signer_id": str(second), "signed_name": names[second]},
        form_page=f"/staff/paper?code={code}",
    )
    assert done.status_code == 303, done.text
    (response,) = site.run(SlipResponse.filter(pupil_id=pupil_id, channel=Channel.LETTER).all)
    assert response.guardian_id == second, "recorded for the guardian who signed, not the one whose code it is"  # type: ignore[attr-defined]
    stranger = site.post(
        "/staff/paper",
        {"code": code, "pupil_id": pupil_id, "q1": "no", "signer_id": "999999", "signed_name": "X"},
        form_page=f"/staff/paper?code={code}",
    )
    assert stranger.status_code in (400, 409)
