"""One letter per household: guardians who live together (one household of the roster, one address) get one copy
naming them all, whose slip either signs (or each, when every guardian must answer); separated parents get one
each. The acknowledgement box is on the tear-off part, below the cut line. A paper answer is recorded for the
guardian who signed."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from hub.enums import (
    AnswerMode,
    AudienceKind,
    ConsentPurpose,
    ConsentSource,
    GroupKind,
    QuestionKind,
    Relation,
    StaffRole,
)
from hub.messaging import office
from hub.messaging.links import short_code
from hub.messaging.models import Message, MessageAudience, Notice, ReplySlip, SlipQuestion, SlipResponse
from hub.messaging.paper import print_batch
from hub.messaging.planning import publish
from hub.people.models import (
    Consent,
    Group,
    Guardian,
    Guardianship,
    Household,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
)

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BASE_URL = "https://carnet.example.be"


@dataclass
class Families:
    school: School
    principal: Staff
    group: Group
    guardians: dict[str, Guardian] = field(default_factory=dict)
    pupils: dict[str, Pupil] = field(default_factory=dict)


async def _guardian(school: School, first: str, last: str, home: Household) -> Guardian:
    """A family without internet: no contact at all, so every message reaches them on paper."""
    guardian = await Guardian.create(
        school=school,
        external_id=f"G-{first}",
        first_name=first,
        last_name=last,
        household=home,
        street=home.street,
        postal_code=home.postal_code,
        city=home.city,
    )
    await Consent.create(
        guardian=guardian,
        purpose=ConsentPurpose.SCHOOL_MESSAGES,
        version="1",
        given_at=MONDAY_10 - timedelta(days=60),
        source=ConsentSource.PAPER,
    )
    return guardian


async def _families() -> Families:
    """Lina lives with Joris and Veerle (one household, one address); Tom's parents Marc and Ann are separated."""
    school = await School.create(name="Athénée Royal", address="Rue des Écoliers 12, 5000 Namur")
    principal = await Staff.create(school=school, first_name="Paula", last_name="P", email="p@school.be")
    await StaffRoleGrant.create(staff=principal, role=StaffRole.PRINCIPAL)
    group = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    found = Families(school, principal, group)
    homes = {}
    for code, street in (("H1", "Kerkstraat 3"), ("H2", "Markt 1"), ("H3", "Rue Haute 9")):
        homes[code] = await Household.create(
            school=school, external_id=code, street=street, postal_code="1000", city="Bruxelles"
        )
    for first, last, home in (
        ("Joris", "Wouters", "H1"),
        ("Veerle", "Smets", "H1"),
        ("Marc", "Dubois", "H2"),
        ("Ann", "Dubois", "H3"),
    ):
        found.guardians[first] = await _guardian(school, first, last, homes[home])
    for first, last, parents in (("Lina", "Wouters", ("Joris", "Veerle")), ("Tom", "Dubois", ("Marc", "Ann"))):
        pupil = await Pupil.create(school=school, external_id=f"P-{first}", first_name=first, last_name=last)
        await Membership.create(group=group, pupil=pupil)
        found.pupils[first] = pupil
        for parent in parents:
            guardian = found.guardians[parent]
            await Guardianship.create(
                pupil=pupil, guardian=guardian, relation=Relation.OTHER, household_id=guardian.household_id
            )
    return found


async def _message(families: Families, mode: AnswerMode = AnswerMode.ONE_PER_PUPIL) -> Message:
    message = await Message.create(
        school=families.school,
        author=families.principal,
        subject="Excursion à Bruges",
        body="La classe visitera Bruges le vendredi 4 décembre.",
        needs_acknowledgement=True,
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=families.group)
    slip = await ReplySlip.create(
        message=message, deadline=MONDAY_10 + timedelta(days=7), answer_mode=mode, needs_signature=True
    )
    await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="Votre enfant participe-t-il ?")
    await publish(message.id, now=MONDAY_10, actor_staff_id=families.principal.id)
    return message


def _pages(pdf: bytes) -> list[list[tuple[float, str]]]:
    """Each page's text runs with their height on the page (PDF points from the bottom), read by a visitor."""
    pages = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        runs: list[tuple[float, str]] = []

        def visit(
            text: str, cm: list[float], tm: list[float], _font: object, _size: object, runs: list[Any] = runs
        ) -> None:
            if text.strip():
                runs.append((tm[5] * cm[3] + cm[5], text.strip()))

        page.extract_text(visitor_text=visit)
        pages.append(runs)
    return pages


def _letters(pdf: bytes) -> list[str]:
    """The letters of a batch, one text each (a letter starts on the page that bears its address window)."""
    texts: list[str] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        text = page.extract_text()
        if "Objet" in text or not texts:
            texts.append(text)
        else:
            texts[-1] += text
    return texts


async def test_cohabiting_guardians_get_one_letter_separated_ones_two(db: str) -> None:
    families = await _families()
    message = await _message(families)
    batch = await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    assert batch.count == 4, "four guardians, four deliveries printed"
    letters = _letters(batch.pdf)
    assert len(letters) == 3, "Joris and Veerle share one letter; Marc and Ann, separated, get one each"
    together = [text for text in letters if "Joris Wouters" in text]
    assert len(together) == 1 and "Veerle Smets" in together[0]
    assert "Joris Wouters et Veerle Smets" in together[0]
    assert "Signé par (cochez)" in together[0], "the slip asks which of them signed"
    assert sum("Marc Dubois" in text for text in letters) == 1
    assert sum("Ann Dubois" in text for text in letters) == 1
    assert not any("Marc Dubois" in text and "Ann Dubois" in text for text in letters)


async def test_the_acknowledgement_box_is_below_the_cut_line(db: str) -> None:
    families = await _families()
    message = await _message(families)
    batch = await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    checked = 0
    for runs in _pages(batch.pdf):
        cut = [y for y, text in runs if "découper" in text]
        ack = [y for y, text in runs if "pris connaissance" in text]
        if ack:
            assert cut, "the acknowledgement is on a page with the cut line"
            assert max(ack) < min(cut), "the acknowledgement box is below the cut line: on the part that comes back"
            checked += 1
    assert checked == 3, "every letter asks for its acknowledgement on the tear-off part"


async def test_either_guardians_paper_answer_is_recorded_for_them(db: str) -> None:
    families = await _families()
    message = await _message(families)
    await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    joris, veerle = families.guardians["Joris"], families.guardians["Veerle"]
    code = short_code((await Notice.get(message=message, guardian=joris)).token)
    letter = await office.find_letter(code, families.school.id)
    assert [s.name for s in letter.signers] == ["Joris Wouters", "Veerle Smets"]
    lina = families.pupils["Lina"].id

    response = await office.record_letter_answer(
        letter,
        pupil_id=lina,
        answers={"1": "yes"},
        signed_name="V. Smets",
        staff_id=families.principal.id,
        now=MONDAY_10 + timedelta(days=1),
        signer_id=veerle.id,
    )
    stored = await SlipResponse.get(id=response.id)
    assert stored.guardian_id == veerle.id, "recorded for Veerle, who signed, though the code is Joris's"
    veerle_notice = await Notice.get(message=message, guardian=veerle)
    assert stored.notice_id == veerle_notice.id  # type: ignore[attr-defined]
    again = await office.find_letter(code, families.school.id)
    with pytest.raises(office.AlreadyAnswered):  # one answer per pupil: Lina is answered for
        await office.record_letter_answer(
            again,
            pupil_id=lina,
            answers={"1": "no"},
            signed_name="J. Wouters",
            staff_id=families.principal.id,
            now=MONDAY_10 + timedelta(days=1),
            signer_id=joris.id,
        )
    marc = families.guardians["Marc"]
    with pytest.raises(office.paper.PaperError):  # Marc is not named on Joris and Veerle's letter
        await office.record_letter_answer(
            again, pupil_id=lina, answers={"1": "no"}, signed_name="", staff_id=1, now=MONDAY_10, signer_id=marc.id
        )


async def test_every_guardian_signs_on_their_own_line(db: str) -> None:
    families = await _families()
    message = await _message(families, AnswerMode.EVERY_GUARDIAN)
    batch = await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    (together,) = [text for text in _letters(batch.pdf) if "Joris Wouters" in text]
    assert "Chaque responsable signe sur sa ligne" in together
    joris, veerle = families.guardians["Joris"], families.guardians["Veerle"]
    code = short_code((await Notice.get(message=message, guardian=joris)).token)
    lina = families.pupils["Lina"].id
    for signer in (joris, veerle):
        letter = await office.find_letter(code, families.school.id)
        await office.record_letter_answer(
            letter,
            pupil_id=lina,
            answers={"1": "yes"},
            signed_name=signer.first_name,
            staff_id=families.principal.id,
            now=MONDAY_10,
            signer_id=signer.id,
        )
    answered = set(await SlipResponse.filter(pupil_id=lina).values_list("guardian_id", flat=True))
    assert answered == {joris.id, veerle.id}, "each guardian's own answer, from the one letter"
