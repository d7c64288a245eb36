"""Provider callbacks (Twilio status and replies, Telegram updates) turned into recorded facts, on SQLite and
PostgreSQL, with a tiny school built in each test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from channels.sms import ForgedCallback, Reply
from channels.telegram import ForgedButton, InvalidLinkCode, make_link_code, sign_callback
from hub.config import Settings
from hub.enums import (
    ActorKind,
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryState,
    GroupKind,
    Language,
    QuestionKind,
    Relation,
    StaffRole,
)
from hub.messaging import inbound
from hub.messaging.models import (
    Acknowledgement,
    Delivery,
    Message,
    MessageAudience,
    Notice,
    ReplySlip,
    SlipQuestion,
    SlipResponse,
    ThreadPost,
)
from hub.messaging.planning import publish, record_outcome
from hub.people.gdpr_models import OptOut
from hub.people.models import (
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Membership,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
)
from hub.people.optout_rules import STOPPABLE_TOPICS
from hub.store.audit import AuditEntry
from hub.web import create_app

MONDAY_10 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 10:00 in Brussels (UTC+1)
LATER = MONDAY_10 + timedelta(minutes=20)
TOKEN = "f" * 32
BASE_URL = "https://carnet.example.be"
STATUS_URL = BASE_URL + "/hooks/twilio/status"
INBOUND_URL = BASE_URL + "/hooks/twilio/inbound"
SID = "SM" + "a1" * 16
LINK_SECRET = "l" * 40
PHONE = "+32470111222"
CHAT, OTHER_CHAT = 424242, 515151


@dataclass
class School1:
    guardian: Guardian
    other: Guardian
    pupil: Pupil
    message: Message
    notice: Notice
    sms: Delivery


async def build(*, slip: bool = False) -> School1:
    school = await School.create(name="Athénée Royal")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email="t@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    group = await Group.create(school=school, kind=GroupKind.CLASS, code="3B", name="3B")
    pupil = await Pupil.create(school=school, external_id="P1", first_name="Lina", last_name="X")
    await Membership.create(group=group, pupil=pupil)
    guardian = await Guardian.create(school=school, external_id="G1", first_name="Anne", last_name="X")
    other = await Guardian.create(school=school, external_id="G2", first_name="Bob", last_name="Y")
    await Contact.create(guardian=guardian, kind=ContactKind.PHONE, value=PHONE, verified=True)
    await Contact.create(guardian=guardian, kind=ContactKind.TELEGRAM, value=str(CHAT), verified=True)
    await Contact.create(guardian=other, kind=ContactKind.TELEGRAM, value=str(OTHER_CHAT), verified=True)
    for purpose in (ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.SMS):
        await Consent.create(
            guardian=guardian,
            purpose=purpose,
            version="1",
            given_at=MONDAY_10 - timedelta(days=30),
            source=ConsentSource.PORTAL,
        )
    await Guardianship.create(pupil=pupil, guardian=guardian, relation=Relation.MOTHER)
    message = await Message.create(
        school=school, author=teacher, subject="Sortie", body="Sortie au musée vendredi.", needs_acknowledgement=True
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=group)
    if slip:
        reply_slip = await ReplySlip.create(message=message, deadline=MONDAY_10 + timedelta(days=5))
        await SlipQuestion.create(slip=reply_slip, position=1, kind=QuestionKind.YES_NO, text="Lina participe ?")
    await publish(
        message.id,
        now=MONDAY_10,
        available_channels=frozenset({Channel.SMS, Channel.PORTAL}),
        actor_staff_id=teacher.id,
    )
    notice = await Notice.get(message_id=message.id, guardian_id=guardian.id)
    sms = await Delivery.get(notice_id=notice.id, channel=Channel.SMS)
    await record_outcome(sms.id, now=MONDAY_10, ok=True, provider_id=SID)  # the adapter's outcome
    sms = await Delivery.get(id=sms.id)
    assert sms.state == DeliveryState.SENT and sms.contact_id is not None  # type: ignore[attr-defined]
    return School1(guardian, other, pupil, message, notice, sms)


def signed(url: str, params: dict[str, str]) -> str:
    return RequestValidator(TOKEN).compute_signature(url, params)


def status_params(status: str = "delivered", **extra: str) -> dict[str, str]:
    return {"MessageSid": SID, "MessageStatus": status, "AccountSid": "AC" + "0" * 32, **extra}


def sms_params(body: str) -> dict[str, str]:
    return {"MessageSid": "SM" + "b2" * 16, "From": PHONE, "To": "+32470000000", "Body": body}


# ------------------------------------------------------------------------------------------------ Twilio status


async def test_a_signed_delivered_callback_marks_the_delivery_delivered(db: str) -> None:
    s = await build()
    params = status_params()
    delivery = await inbound.twilio_status(STATUS_URL, params, signed(STATUS_URL, params), TOKEN, LATER)
    assert delivery is not None and delivery.id == s.sms.id
    stored = await Delivery.get(id=s.sms.id)
    assert stored.state == DeliveryState.DELIVERED and stored.delivered_at == LATER


async def test_a_forged_status_callback_raises_and_changes_nothing(db: str) -> None:
    s = await build()
    params = status_params()
    bad = signed(STATUS_URL, {**params, "MessageStatus": "failed"})
    with pytest.raises(ForgedCallback):
        await inbound.twilio_status(STATUS_URL, params, bad, TOKEN, LATER)
    with pytest.raises(ForgedCallback):  # signed for another URL
        await inbound.twilio_status(STATUS_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    stored = await Delivery.get(id=s.sms.id)
    assert stored.state == DeliveryState.SENT and stored.delivered_at is None


async def test_undelivered_fails_permanently_but_keeps_the_number_unless_it_is_dead(db: str) -> None:
    s = await build()
    params = status_params("undelivered", ErrorCode="30003")  # handset off
    await inbound.twilio_status(STATUS_URL, params, signed(STATUS_URL, params), TOKEN, LATER)
    stored = await Delivery.get(id=s.sms.id)
    assert stored.state == DeliveryState.FAILED and "30003" in stored.error
    contact = await Contact.get(id=stored.contact_id)  # type: ignore[attr-defined]
    assert contact.dead_at is None


async def test_an_unknown_handset_marks_the_contact_dead(db: str) -> None:
    s = await build()
    params = status_params("failed", ErrorCode="30005")
    await inbound.twilio_status(STATUS_URL, params, signed(STATUS_URL, params), TOKEN, LATER)
    contact = await Contact.get(id=s.sms.contact_id)  # type: ignore[attr-defined]
    assert contact.dead_at == LATER


# ----------------------------------------------------------------------------------------------- Twilio inbound


async def test_oui_acknowledges_the_notice(db: str) -> None:
    s = await build()
    params = sms_params("OUI")
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.reply is Reply.YES and result.notice_id == s.notice.id and result.acknowledged
    ack = await Acknowledgement.get(notice_id=s.notice.id)
    assert ack.channel == Channel.SMS and ack.at == LATER


async def test_oui_answers_a_yes_no_slip_and_non_answers_no(db: str) -> None:
    s = await build(slip=True)
    params = sms_params("Oui !")
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.answered_pupils == (s.pupil.id,)
    response = await SlipResponse.get(notice_id=s.notice.id, pupil_id=s.pupil.id)
    assert response.answers == {"1": "yes"} and response.channel == Channel.SMS
    # The slip is answered and the notice acknowledged: nothing is open any more, a later "non" changes nothing.
    params = sms_params("non")
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.notice_id is None
    assert (await SlipResponse.get(id=response.id)).answers == {"1": "yes"}


async def test_stop_stops_what_may_be_stopped_by_sms_and_keeps_the_sms_consent(db: str) -> None:
    s = await build()
    params = sms_params("STOP")
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.reply is Reply.OPT_OUT
    live = await Consent.filter(guardian_id=s.guardian.id, withdrawn_at__isnull=True).values_list("purpose", flat=True)
    assert sorted(live) == sorted([ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.SMS])  # emergencies still come
    stops = await OptOut.filter(guardian_id=s.guardian.id).values_list("topic", "channel")
    assert sorted(stops) == sorted((t, "sms") for t in STOPPABLE_TOPICS)
    assert "urgences" in result.response_text and "portail" in result.response_text
    assert not await Acknowledgement.filter(notice_id=s.notice.id).exists()


async def test_free_text_becomes_a_post_on_the_notice_sent_to_that_number(db: str) -> None:
    s = await build()
    params = sms_params("Lina sera absente vendredi\r\nMerci")
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.reply is Reply.FREE_TEXT and result.guardian_ids == (s.guardian.id,)
    assert result.notice_id == s.notice.id and result.post_id is not None and not result.response_text
    post = await ThreadPost.get(id=result.post_id)
    assert (post.notice_id, post.guardian_id, post.author_kind) == (s.notice.id, s.guardian.id, ActorKind.GUARDIAN)  # type: ignore[attr-defined]
    assert post.body == "Lina sera absente vendredi\nMerci" and post.channel == Channel.SMS and post.at == LATER
    assert post.read_at is None and post.staff_notified_at is None
    entry = await AuditEntry.get(action="thread.guardian_post", subject_id=str(post.id))
    assert entry.actor_id == s.guardian.id and "Lina" not in str(entry.details)  # ids, not the text
    assert inbound.twiml(result).endswith("<Response />")  # nothing to answer
    # Keywords keep their meaning: the notice is not acknowledged by free text, "OUI" still acknowledges it.
    assert not await Acknowledgement.filter(notice_id=s.notice.id).exists()
    params = sms_params("OUI")
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.acknowledged and result.post_id is None
    assert await ThreadPost.all().count() == 1


async def test_free_text_with_no_recent_notice_is_not_stored_and_answered_in_the_guardians_language(db: str) -> None:
    s = await build()
    await Guardian.filter(id=s.guardian.id).update(language=Language.NL)
    params = sms_params("Is er morgen school?")
    month_later = MONDAY_10 + timedelta(days=31)
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, month_later)
    assert result.notice_id is None and result.post_id is None
    assert result.response_text.startswith("Bedankt voor uw bericht")
    assert "<Message>Bedankt voor uw bericht" in inbound.twiml(result)
    assert not await ThreadPost.exists()
    # A number no guardian has: nothing stored, nothing answered (a stranger's SMS costs the school nothing).
    params = {**sms_params("Hello"), "From": "+32499999999"}
    result = await inbound.twilio_inbound(INBOUND_URL, params, signed(INBOUND_URL, params), TOKEN, LATER)
    assert result.guardian_ids == () and not result.response_text
    assert not await ThreadPost.exists()


async def test_a_forged_reply_raises_and_stores_nothing(db: str) -> None:
    s = await build()
    for body in ("OUI", "Lina sera absente"):
        with pytest.raises(ForgedCallback):
            await inbound.twilio_inbound(INBOUND_URL, sms_params(body), "bm90IGEgc2lnbmF0dXJl", TOKEN, LATER)
    assert not await Acknowledgement.filter(notice_id=s.notice.id).exists()
    assert not await ThreadPost.exists()


# ----------------------------------------------------------------------------------------------------- Telegram

TELEGRAM = Settings(data_dir=Path("/nonexistent"), telegram_link_secret=LINK_SECRET)


def button_update(chat_id: int, data: str) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Parent"}
    return {
        "update_id": 1,
        "callback_query": {
            "id": "771",
            "from": user,
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": 5,
                "date": int(MONDAY_10.timestamp()),
                "chat": {"id": chat_id, "type": "private", "first_name": "Parent"},
                "text": "Sortie",
            },
        },
    }


def start_update(chat_id: int, text: str) -> dict[str, Any]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Parent"}
    chat = {"id": chat_id, "type": "private", "first_name": "Parent"}
    message = {"message_id": 9, "date": int(LATER.timestamp()), "chat": chat, "from": user, "text": text}
    return {"update_id": 2, "message": message}


async def test_an_ack_button_from_the_guardians_chat_acknowledges(db: str) -> None:
    s = await build()
    data = sign_callback("ack", s.notice.token[:16], CHAT, LINK_SECRET)
    result = await inbound.telegram_update(button_update(CHAT, data), TELEGRAM, LATER)
    assert result.kind == "acknowledged" and result.notice_id == s.notice.id
    assert (await Acknowledgement.get(notice_id=s.notice.id)).channel == Channel.TELEGRAM


async def test_a_press_from_another_guardians_chat_is_refused(db: str) -> None:
    s = await build()
    # Validly signed for the other guardian's chat, naming a notice that is not theirs.
    data = sign_callback("ack", s.notice.token[:16], OTHER_CHAT, LINK_SECRET)
    with pytest.raises(inbound.Refused):
        await inbound.telegram_update(button_update(OTHER_CHAT, data), TELEGRAM, LATER)
    # The guardian's own data replayed from the other chat fails the signature.
    own = sign_callback("ack", s.notice.token[:16], CHAT, LINK_SECRET)
    with pytest.raises(ForgedButton):
        await inbound.telegram_update(button_update(OTHER_CHAT, own), TELEGRAM, LATER)
    assert not await Acknowledgement.filter(notice_id=s.notice.id).exists()


async def test_an_answer_button_records_the_answer(db: str) -> None:
    s = await build(slip=True)
    data = sign_callback("answer:1:no", s.notice.token[:16], CHAT, LINK_SECRET)
    result = await inbound.telegram_update(button_update(CHAT, data), TELEGRAM, LATER)
    assert result.kind == "answered"
    response = await SlipResponse.get(notice_id=s.notice.id, pupil_id=s.pupil.id)
    assert response.answers == {"1": "no"} and response.channel == Channel.TELEGRAM


async def test_a_choice_button_is_stored_as_the_choices_text_and_a_forged_index_is_refused(db: str) -> None:
    s = await build(slip=True)
    slip = await ReplySlip.get(message_id=s.notice.message_id)  # type: ignore[attr-defined]
    await SlipQuestion.create(
        slip=slip, position=2, kind=QuestionKind.ONE_CHOICE, text="Menu", choices=["Viande", "Végétarien"]
    )
    for action in ("answer:2:7", "answer:2:yes", "answer:9:0", "answer:1:1"):
        with pytest.raises(inbound.Refused):
            forged = sign_callback(action, s.notice.token[:16], CHAT, LINK_SECRET)
            await inbound.telegram_update(button_update(CHAT, forged), TELEGRAM, LATER)
    assert not await SlipResponse.filter(notice_id=s.notice.id).exists()
    data = sign_callback("answer:2:1", s.notice.token[:16], CHAT, LINK_SECRET)
    assert (await inbound.telegram_update(button_update(CHAT, data), TELEGRAM, LATER)).kind == "answered"
    response = await SlipResponse.get(notice_id=s.notice.id, pupil_id=s.pupil.id)
    assert response.answers == {"2": "Végétarien"}


async def test_a_start_code_links_a_verified_telegram_contact_once(db: str) -> None:
    s = await build()
    code = make_link_code(s.other.id, LINK_SECRET, MONDAY_10)
    result = await inbound.telegram_update(start_update(777, f"/start {code}"), TELEGRAM, LATER)
    assert result.kind == "linked" and result.guardian_id == s.other.id
    contact = await Contact.get(guardian_id=s.other.id, kind=ContactKind.TELEGRAM, value="777")
    assert contact.verified and contact.verified_at == LATER
    with pytest.raises(InvalidLinkCode):  # one-time
        await inbound.telegram_update(start_update(888, f"/start {code}"), TELEGRAM, LATER)
    assert not await Contact.filter(value="888").exists()


async def _telegram_delivery(s: School1, sent_at: datetime) -> Delivery:
    """The notice also went to the guardian's Telegram chat (the SMS school of :func:`build` plans none)."""
    contact = await Contact.get(guardian_id=s.guardian.id, kind=ContactKind.TELEGRAM)
    return await Delivery.create(
        notice_id=s.notice.id,
        channel=Channel.TELEGRAM,
        step=1,
        state=DeliveryState.SENT,
        contact=contact,
        due_at=sent_at,
        sent_at=sent_at,
    )


async def test_a_telegram_message_from_the_guardians_chat_becomes_a_post(db: str) -> None:
    s = await build()
    await _telegram_delivery(s, MONDAY_10)
    result = await inbound.telegram_update(start_update(CHAT, "Lina prendra le bus \u202eà 8h"), TELEGRAM, LATER)
    assert result.kind == "posted" and result.notice_id == s.notice.id and result.guardian_id == s.guardian.id
    post = await ThreadPost.get(id=result.post_id)
    assert post.body == "Lina prendra le bus à 8h" and post.channel == Channel.TELEGRAM  # the override is dropped
    assert inbound.telegram_webhook_answer(result) == {"ok": True, "result": "posted"}
    # A bot command is not a reply.
    assert (await inbound.telegram_update(start_update(CHAT, "/help"), TELEGRAM, LATER)).kind == "text"
    assert await ThreadPost.all().count() == 1


async def test_a_telegram_message_with_nothing_to_match_is_answered_not_stored(db: str) -> None:
    s = await build()
    await Guardian.filter(id=s.other.id).update(language=Language.EN)
    # The other guardian's chat is linked but no notice was sent there.
    result = await inbound.telegram_update(start_update(OTHER_CHAT, "Hello?"), TELEGRAM, LATER)
    assert result.kind == "unmatched" and result.guardian_id == s.other.id and result.post_id is None
    answer = inbound.telegram_webhook_answer(result)
    assert answer["method"] == "sendMessage" and answer["chat_id"] == OTHER_CHAT
    assert answer["text"].startswith("Thank you for your message. We could not match it")
    # The guardian's chat, but the only Telegram notice is older than the matching window: answered in French.
    await _telegram_delivery(s, MONDAY_10 - timedelta(days=40))
    result = await inbound.telegram_update(start_update(CHAT, "Bonjour"), TELEGRAM, LATER)
    assert result.kind == "unmatched" and result.response_text.startswith("Merci pour votre message")
    # A chat nobody linked: nothing stored, nothing answered.
    result = await inbound.telegram_update(start_update(999, "Bonjour"), TELEGRAM, LATER)
    assert result.kind == "text" and not result.response_text
    assert not await ThreadPost.exists()


async def test_a_too_long_telegram_message_is_refused_with_an_answer(db: str) -> None:
    s = await build()
    await _telegram_delivery(s, MONDAY_10)
    result = await inbound.telegram_update(start_update(CHAT, "a" * 4001), TELEGRAM, LATER)
    assert result.kind == "unmatched" and result.notice_id == s.notice.id
    assert "4000" in result.response_text and result.response_text.startswith("Votre message est trop long")
    assert not await ThreadPost.exists()


# ---------------------------------------------------------------------------------------------------- web routes


def test_forged_twilio_and_telegram_posts_get_403(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        base_url="http://testserver",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=TOKEN,
        twilio_from="+32470000000",
        telegram_token="123456:" + "T" * 35,
        telegram_bot_username="carnet_test_bot",
        telegram_link_secret=LINK_SECRET,
    )
    with TestClient(create_app(settings)) as client:
        params = status_params()
        forged = client.post("/hooks/twilio/status", data=params, headers={"X-Twilio-Signature": "AAAA"})
        assert forged.status_code == 403
        unsigned = client.post("/hooks/twilio/inbound", data=sms_params("OUI"))
        assert unsigned.status_code == 403
        url = "http://testserver/hooks/twilio/status"
        genuine = client.post("/hooks/twilio/status", data=params, headers={"X-Twilio-Signature": signed(url, params)})
        assert genuine.status_code == 204  # no delivery has that SID in this empty school: nothing to do
        url = "http://testserver/hooks/twilio/inbound"
        params = sms_params("bonjour")
        reply = client.post("/hooks/twilio/inbound", data=params, headers={"X-Twilio-Signature": signed(url, params)})
        assert reply.status_code == 200 and reply.text.endswith("<Response />")  # nobody has that number
        assert client.post("/hooks/telegram", json=start_update(1, "hi")).status_code == 403
        secret = inbound.telegram_webhook_secret(LINK_SECRET)
        ok = client.post(
            "/hooks/telegram", json=start_update(1, "hi"), headers={"X-Telegram-Bot-Api-Secret-Token": secret}
        )
        assert ok.status_code == 200 and ok.json() == {"ok": True, "result": "text"}
