"""End to end on the demo school: a whole-school message puts on the paper list exactly the families that no
electronic channel can reach (no internet, or no consent for their only contact), and others only once their
electronic channels failed for good."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import zxingcpp
from pypdf import PdfReader

from hub.demo.school import generate_demo
from hub.enums import (
    ActorKind,
    AudienceKind,
    Channel,
    DeliveryPurpose,
    DeliveryState,
    ErrorKind,
    GroupKind,
    QuestionKind,
    StaffRole,
    Urgency,
)
from hub.messaging.links import personal_link, short_code
from hub.messaging.models import (
    Acknowledgement,
    Delivery,
    Message,
    MessageAudience,
    Notice,
    NoticePupil,
    ReplySlip,
    SlipQuestion,
    SlipResponse,
)
from hub.messaging.paper import (
    PaperError,
    find_notice_by_code,
    households,
    letters_for_later,
    normalise_code,
    paper_list,
    print_batch,
    record_paper_answer,
)
from hub.messaging.planning import publish, record_outcome
from hub.people.models import Contact, Group, Guardian, Guardianship, Membership, School, Staff
from hub.store.audit import AuditEntry

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels


async def test_paper_list_for_a_whole_school_message(db: str) -> None:
    await generate_demo(seed=2026)
    school = await School.first()
    assert school is not None
    principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
    message = await Message.create(
        school=school,
        author=principal,
        subject="Journée pédagogique",
        body="L'école sera fermée.",
        urgency=Urgency.NORMAL,
    )
    await MessageAudience.create(message=message, kind=AudienceKind.SCHOOL)
    await publish(message.id, now=MONDAY_10, actor_staff_id=principal.id)

    with_contacts = set(await Contact.filter(guardian__school=school).values_list("guardian_id", flat=True))
    paper_only = set(await Guardian.filter(school=school).exclude(id__in=with_contacts).values_list("id", flat=True))
    plans = dict(await Notice.filter(message=message).values_list("guardian_id", "plan"))
    # A plan with no active electronic channel: the portal is an inbox nobody is alerted by.
    letter_only = {g for g, plan in plans.items() if [c for c in plan if c != "portal"] == ["letter"]}
    items = await paper_list(now=MONDAY_10, message_id=message.id)
    listed = {item.guardian_id for item in items}
    assert listed == letter_only
    assert paper_only & set(plans) <= listed, "every family without internet starts on paper"
    assert letter_only - paper_only, "so do families who withdrew the consent of their only channel"
    assert all(item.address_lines and item.reason == "only channel" for item in items)

    # An email that bounces for good puts that family on paper too.
    email_step = await Delivery.filter(
        notice__message_id=message.id, channel=Channel.EMAIL, state=DeliveryState.DUE
    ).first()
    assert email_step is not None
    await record_outcome(
        email_step.id, now=MONDAY_10, ok=False, error="550 No such user", error_kind=ErrorKind.PERMANENT
    )
    notice_guardian = (await email_step.notice).guardian_id  # type: ignore[attr-defined]
    # it falls back to the guardian's next channel; once only the letter is left it reaches the list
    while True:
        pending = (
            await Delivery.filter(
                notice_id=email_step.notice_id,
                state=DeliveryState.DUE,  # type: ignore[attr-defined]
            )
            .exclude(channel=Channel.LETTER)
            .first()
        )
        if pending is None:
            break
        await record_outcome(pending.id, now=MONDAY_10, ok=False, error="gone", error_kind=ErrorKind.PERMANENT)
    assert notice_guardian in {item.guardian_id for item in await paper_list(now=MONDAY_10, message_id=message.id)}


BASE_URL = "https://carnet.example.be"


async def _slip_message_to_a_paper_family(
    now: datetime = MONDAY_10,
    *,
    urgency: Urgency = Urgency.NORMAL,
    scheduled_at: datetime | None = None,
) -> tuple[Message, Guardian, Staff]:
    """The demo school, and a message with a yes/no reply slip to a class holding a family without internet,
    published at ``now`` (its sender may choose to send it at ``scheduled_at``)."""
    await generate_demo(seed=2026)
    school = await School.first()
    assert school is not None
    with_contacts = await Contact.filter(guardian__school=school).values_list("guardian_id", flat=True)
    links = (
        await Guardianship.filter(guardian__school=school, receives=True, may_answer=True, barred=False)
        .exclude(guardian_id__in=list(with_contacts))
        .values_list("guardian_id", "pupil_id")
    )
    assert links, "the demo school has families without internet"
    guardian_id, pupil_id = links[0]
    group = await Group.get(kind=GroupKind.CLASS, memberships__pupil_id=pupil_id)
    assert await Membership.filter(group=group, pupil_id=pupil_id).exists()
    principal = await Staff.get(roles__role=StaffRole.PRINCIPAL)
    message = await Message.create(
        school=school,
        author=principal,
        subject="Excursion à Bruges",
        body="La classe visitera Bruges le vendredi 4 décembre.",
        urgency=urgency,
        urgency_reason="Le car part plus tôt." if urgency is Urgency.EMERGENCY else "",
        scheduled_at=scheduled_at,
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    slip = await ReplySlip.create(message=message, deadline=(scheduled_at or now) + timedelta(days=7))
    await SlipQuestion.create(slip=slip, position=1, kind=QuestionKind.YES_NO, text="Votre enfant participe-t-il ?")
    await publish(message.id, now=now, actor_staff_id=principal.id)
    return message, await Guardian.get(id=guardian_id), principal


def _qr_links(pdf: bytes) -> set[str]:
    found = set()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            found |= {
                barcode.text for barcode in zxingcpp.read_barcodes(image.image, formats=zxingcpp.BarcodeFormat.QRCode)
            }
    return found


async def test_print_batch_prints_the_waiting_letters_once(db: str) -> None:
    message, guardian, _principal = await _slip_message_to_a_paper_family()
    notice = await Notice.get(message=message, guardian=guardian)
    waiting = await paper_list(now=MONDAY_10, message_id=message.id)
    assert guardian.id in {item.guardian_id for item in waiting}

    batch = await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    assert batch.count == len(batch.delivery_ids) == len(waiting)
    assert set(batch.delivery_ids) == {item.delivery_id for item in waiting}
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(batch.pdf)).pages)
    assert "Excursion à Bruges" in text
    assert guardian.last_name in text and guardian.first_name in text
    assert short_code(notice.token) in text
    # One letter per household: its QR code is the personal link of one of the guardians it names, and each
    # guardian's own code is printed beside their name.
    printed = await Notice.filter(deliveries__id__in=batch.delivery_ids)
    links = {personal_link(BASE_URL, n.token) for n in printed}
    found = _qr_links(batch.pdf)
    assert found <= links and len(found) == len(households(waiting))
    assert all(short_code(n.token) in text for n in printed)
    states = set(await Delivery.filter(id__in=batch.delivery_ids).values_list("state", flat=True))
    assert states == {DeliveryState.DELIVERED}
    assert await paper_list(now=MONDAY_10, message_id=message.id) == []

    again = await print_batch(now=MONDAY_10 + timedelta(minutes=5), base_url=BASE_URL)
    assert (again.count, again.pdf, again.delivery_ids) == (0, b"", [])


async def _letter_of(message: Message, guardian: Guardian) -> Delivery:
    return await Delivery.get(notice__message_id=message.id, notice__guardian_id=guardian.id, channel=Channel.LETTER)


async def test_a_letter_held_by_the_quiet_hours_prints_on_a_sunday(at_sunday_afternoon: datetime, db: str) -> None:
    """Printing is a person's action: a letter the charter holds until Monday prints on a Sunday when asked for,
    and is recorded as printed then."""
    now = at_sunday_afternoon
    message, guardian, _principal = await _slip_message_to_a_paper_family(now)
    letter = await _letter_of(message, guardian)
    assert letter.state == DeliveryState.HELD and letter.due_at > now, "the charter holds it until school hours"

    listed = await paper_list(now=now, message_id=message.id)
    assert letter.id in {item.delivery_id for item in listed}
    assert all(item.held for item in listed)
    batch = await print_batch(now=now, base_url=BASE_URL, message_id=message.id)
    assert sorted(batch.delivery_ids) == sorted(item.delivery_id for item in listed)
    assert "Excursion à Bruges" in "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(batch.pdf)).pages)
    printed = await Delivery.get(id=letter.id)
    assert (printed.state, printed.sent_at, printed.delivered_at) == (DeliveryState.DELIVERED, now, now)
    assert await paper_list(now=now, message_id=message.id) == []


async def test_an_emergency_letter_prints_on_saturday_night(at_saturday_night: datetime, db: str) -> None:
    now = at_saturday_night
    message, guardian, _principal = await _slip_message_to_a_paper_family(now, urgency=Urgency.EMERGENCY)
    letter = await _letter_of(message, guardian)
    assert letter.state == DeliveryState.DUE, "an emergency is never held"
    batch = await print_batch(now=now, base_url=BASE_URL, message_id=message.id)
    assert letter.id in batch.delivery_ids
    assert (await Delivery.get(id=letter.id)).state == DeliveryState.DELIVERED


async def test_a_letter_scheduled_by_its_sender_waits_for_that_time(db: str) -> None:
    """The sender's chosen time is not the charter's to waive: its letters are listed for later, not printed."""
    chosen = MONDAY_10 + timedelta(days=1)
    message, guardian, _principal = await _slip_message_to_a_paper_family(MONDAY_10, scheduled_at=chosen)
    letter = await _letter_of(message, guardian)
    assert letter.state == DeliveryState.HELD

    assert letter.id not in {item.delivery_id for item in await paper_list(now=MONDAY_10)}
    later = await letters_for_later(now=MONDAY_10, message_id=message.id)
    assert letter.id in {item.delivery_id for item in later}
    assert {item.due_at for item in later} == {chosen}
    early = await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    assert early.count == 0 and (await Delivery.get(id=letter.id)).state == DeliveryState.HELD

    at_last = chosen + timedelta(minutes=1)
    assert await letters_for_later(now=at_last, message_id=message.id) == []
    assert letter.id in (await print_batch(now=at_last, base_url=BASE_URL, message_id=message.id)).delivery_ids


async def test_a_step_whose_time_has_not_come_is_not_printed(db: str) -> None:
    """A PLANNED letter (a reminder, a retry's wait) joins the queue at its time, not before."""
    message, guardian, _principal = await _slip_message_to_a_paper_family(MONDAY_10)
    first = await _letter_of(message, guardian)
    await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    reminder = await Delivery.create(
        notice_id=first.notice_id,  # type: ignore[attr-defined]
        channel=Channel.LETTER,
        purpose=DeliveryPurpose.REMINDER,
        state=DeliveryState.PLANNED,
        due_at=MONDAY_10 + timedelta(days=5),
    )
    assert await paper_list(now=MONDAY_10, message_id=message.id) == []
    assert (await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)).count == 0
    due = MONDAY_10 + timedelta(days=5)
    assert [item.delivery_id for item in await paper_list(now=due, message_id=message.id)] == [reminder.id]
    assert (await print_batch(now=due, base_url=BASE_URL, message_id=message.id)).delivery_ids == [reminder.id]


async def test_the_list_is_what_a_batch_prints(db: str) -> None:
    """Due, held, being printed by someone else, left by a batch that crashed: the list at a moment names
    exactly the letters a batch at that moment prints, and a batch given the ids a page showed prints those."""
    message, _guardian, _principal = await _slip_message_to_a_paper_family(MONDAY_10)
    ids = [item.delivery_id for item in await paper_list(now=MONDAY_10, message_id=message.id)]
    assert len(ids) >= 3, "the class holds several paper families"
    held, busy, crashed, *_rest = ids
    await Delivery.filter(id=held).update(state=DeliveryState.HELD, due_at=MONDAY_10 + timedelta(hours=20))
    lease = {"claimed_by": "print-elsewhere", "state": DeliveryState.CLAIMED}
    await Delivery.filter(id=busy).update(**lease, lease_until=MONDAY_10 + timedelta(minutes=3))
    await Delivery.filter(id=crashed).update(**lease, lease_until=MONDAY_10 - timedelta(minutes=1))

    listed = {item.delivery_id for item in await paper_list(now=MONDAY_10, message_id=message.id)}
    assert listed == set(ids) - {busy}, "a letter another batch is printing right now is not offered twice"
    only = await print_batch(now=MONDAY_10, base_url=BASE_URL, delivery_ids=[held, crashed])
    assert sorted(only.delivery_ids) == sorted([held, crashed])
    rest = await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    assert set(rest.delivery_ids) == listed - {held, crashed}
    assert (await Delivery.get(id=busy)).state == DeliveryState.CLAIMED


async def test_a_paper_slip_typed_in_by_the_secretary(db: str) -> None:
    message, guardian, principal = await _slip_message_to_a_paper_family()
    await print_batch(now=MONDAY_10, base_url=BASE_URL, message_id=message.id)
    notice = await Notice.get(message=message, guardian=guardian)
    pupil_id = await NoticePupil.filter(notice=notice).first().values_list("pupil_id", flat=True)
    code = short_code(notice.token)
    assert await find_notice_by_code(f"{code[:4]} {code[5:]}".lower()) == notice  # as a secretary types it

    late = MONDAY_10 + timedelta(days=9)  # after the deadline: the letter took its time
    response = await record_paper_answer(
        code, pupil_id=pupil_id, answers={1: "oui"}, signed_name="A. Parent", staff_id=principal.id, now=late
    )
    stored = await SlipResponse.get(id=response.id)
    assert stored.channel == Channel.LETTER
    assert stored.answers == {"1": "yes"}
    assert stored.signed_name == "A. Parent"
    assert stored.recorded_by_id == principal.id  # type: ignore[attr-defined]
    assert await Acknowledgement.filter(notice=notice, channel=Channel.LETTER).exists()
    entry = await AuditEntry.get(action="paper.answer_recorded")
    assert (entry.actor_kind, entry.actor_id, entry.subject_id) == (ActorKind.STAFF, principal.id, str(response.id))

    with pytest.raises(PaperError, match="no letter"):
        await record_paper_answer(
            "ZZZZ-ZZZZ" if not code.startswith("ZZZZ") else "YYYY-YYYY",
            pupil_id=pupil_id,
            answers={1: "yes"},
            signed_name="",
            staff_id=principal.id,
            now=late,
        )
    with pytest.raises(PaperError, match="not named"):
        await record_paper_answer(code, pupil_id=-1, answers={1: "yes"}, signed_name="", staff_id=None, now=late)
    with pytest.raises(PaperError, match="question 2"):
        await record_paper_answer(code, pupil_id=pupil_id, answers={2: "yes"}, signed_name="", staff_id=None, now=late)
    with pytest.raises(PaperError, match="yes or no"):
        await record_paper_answer(
            code, pupil_id=pupil_id, answers={1: "peut-être"}, signed_name="", staff_id=None, now=late
        )


async def test_a_code_two_tokens_share_is_refused(db: str) -> None:
    message, guardian, _principal = await _slip_message_to_a_paper_family()
    notice = await Notice.get(message=message, guardian=guardian)
    await Notice.filter(id=notice.id).update(token="abCD_fgh" + notice.token[8:])
    other = await Notice.filter(message=message).exclude(id=notice.id).first()
    assert other is not None
    await Notice.filter(id=other.id).update(token="ABcd_FGH" + other.token[8:])
    with pytest.raises(PaperError, match="long link"):
        await find_notice_by_code("abcd_fgh")
    assert await find_notice_by_code("ABCD-FGHX") is None  # "_" is not a LIKE wildcard here


def test_codes_are_normalised() -> None:
    assert normalise_code("abcd efgh") == normalise_code(" ABCD-EFGH ") == normalise_code("abcdefgh") == "ABCDEFGH"
    assert normalise_code("AB-D-EFGH") == "AB-DEFGH"  # a token may hold "-"
    with pytest.raises(PaperError):
        normalise_code("ABC")


def test_cli_paper_on_an_empty_queue(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CARNET_DATABASE_URL": f"sqlite://{tmp_path / 'x.sqlite3'}",
        "CARNET_DATA_DIR": str(tmp_path),
    }

    def carnet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    assert carnet("demo-data").returncode == 0
    listed = carnet("paper", "list")
    assert listed.returncode == 0, listed.stderr
    assert "no letter waiting" in listed.stdout
    out = tmp_path / "batch.pdf"
    printed = carnet("paper", "print", "--out", str(out))
    assert printed.returncode == 0, printed.stderr
    assert "no letter waiting to be printed" in printed.stdout
    assert not out.exists()
    answered = carnet("paper", "answer", "ZZZZ-ZZZZ", "--pupil", "1", "--answer", "1=yes", "--signed", "Nom")
    assert answered.returncode == 2
    assert "no letter has the code" in answered.stderr
