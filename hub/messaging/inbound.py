"""Provider callbacks turned into recorded facts: the service functions behind the webhook routes of ``hub.web``.

Every function checks the callback's authenticity first (Twilio's signature, Telegram's signed button data or
link code) and records nothing when it fails: :class:`channels.sms.ForgedCallback`,
:class:`channels.telegram.ForgedButton` or :class:`channels.telegram.InvalidLinkCode` propagate to the caller.
A genuine callback that does not match what the hub knows (a button pressed in a chat that does not belong to the
notice's guardian) raises :class:`Refused`, also with nothing recorded.

Free text (an SMS that is no keyword, a Telegram message) becomes the guardian's post in the thread of the notice
last sent to that phone or chat (``hub.messaging.replies``); when there is none, or the text cannot be kept, the result
carries a polite answer in the guardian's language, which the webhook sends back (:func:`twiml`,
:func:`telegram_webhook_answer`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from tortoise.transactions import in_transaction
from twilio.twiml.messaging_response import MessagingResponse

from channels.sms import Reply, parse_inbound, parse_status_callback
from channels.telegram import ButtonPress, InvalidLinkCode, LinkRequest, TextReply, parse_update
from hub.config import Settings
from hub.enums import (
    ActorKind,
    Channel,
    ConsentPurpose,
    ContactKind,
    DeliveryState,
    ErrorKind,
    QuestionKind,
)
from hub.messaging.models import Acknowledgement, Delivery, Notice, NoticePupil, ReplySlip, SlipQuestion, SlipResponse
from hub.messaging.planning import AlreadyAnswered, record_acknowledgement, record_answer, record_outcome
from hub.messaging.replies import (
    ReplyError,
    guardian_language,
    notice_for_reply,
    record_guardian_reply,
    unmatched_reply_text,
)
from hub.people.models import Consent, Contact, Guardian, Guardianship
from hub.people.optout_rules import STOPPABLE_TOPICS, SmsCommand, parse_sms_command, sms_answer
from hub.people.optouts import resume, stop
from hub.store.audit import AuditEntry, audit
from hub.store.db import ids_of

__all__ = [
    "Refused",
    "SmsReplyResult",
    "TelegramResult",
    "telegram_update",
    "telegram_webhook_answer",
    "telegram_webhook_secret",
    "twilio_inbound",
    "twilio_status",
    "twiml",
    "verify_telegram_secret",
]

#: A button's notice reference must be at least this long to name a notice (tokens are 32 characters).
_MIN_REF = 8
#: How the answers of a yes/no question are stored.
YES, NO = "yes", "no"
_LINK_ACTION = "telegram.linked"


class Refused(ValueError):
    """A genuine callback that the hub will not act on (e.g. a button pressed in another guardian's chat)."""


# ---------------------------------------------------------------------------------------------- Twilio status


async def twilio_status(
    url: str, params: Mapping[str, str], signature: str, auth_token: str, now: dt.datetime
) -> Delivery | None:
    """A delivery status callback: the delivery whose ``provider_id`` is the message SID moves to DELIVERED
    (``delivered``, ``read``) or FAILED (permanent, with Twilio's error code; the contact is marked dead only
    when the code says the number cannot receive SMS). Returns the delivery, or None when no delivery has that
    SID. Raises ``ForgedCallback`` (nothing recorded) when the signature does not match."""
    update = parse_status_callback(url, params, signature, auth_token)
    delivery = await Delivery.filter(provider_id=update.provider_id, channel=Channel.SMS).order_by("-id").first()
    if delivery is None:
        return None
    if update.state is DeliveryState.FAILED:
        error = f"twilio {update.status}" + (f" error {update.error_code}" if update.error_code else "")
        return await record_outcome(
            delivery.id,
            now=now,
            ok=False,
            error=error,
            error_kind=ErrorKind.PERMANENT,
            dead_contact=update.dead_contact,
        )
    delivered = update.state is DeliveryState.DELIVERED
    return await record_outcome(delivery.id, now=now, ok=True, delivered=delivered)


# --------------------------------------------------------------------------------------------- Twilio inbound


@dataclass(frozen=True)
class SmsReplyResult:
    reply: Reply
    #: The guardians who own the number the reply came from.
    guardian_ids: tuple[int, ...] = ()
    #: The notice the reply was taken to be about (None: none open, or an opt-out or free text).
    notice_id: int | None = None
    acknowledged: bool = False
    #: Pupils for whom the answer was recorded.
    answered_pupils: tuple[int, ...] = ()
    #: The text as the guardian wrote it.
    text: str = ""
    #: The thread post free text became (None: not free text, or nothing to attach it to).
    post_id: int | None = None
    #: What to answer by SMS, in the guardian's language (empty: nothing to say).
    response_text: str = ""


@dataclass(frozen=True)
class _FreeText:
    #: The guardian who wrote (the notice's, when one was found).
    guardian_id: int
    notice_id: int | None = None
    post_id: int | None = None
    response_text: str = ""


async def _free_text(
    contact_ids: list[int], guardian_ids: tuple[int, ...], body: str, channel: Channel, now: dt.datetime
) -> _FreeText:
    """Store free text as a post on the notice last sent to these contacts on ``channel``. When there is no such
    notice or the text is too long, nothing is stored and the answer says so in the guardian's language; an
    empty text is dropped silently (an MMS with only a picture, a sticker)."""
    notice = await notice_for_reply(contact_ids, channel, now)
    if notice is None:
        language = await guardian_language(guardian_ids[0])
        return _FreeText(guardian_ids[0], response_text=unmatched_reply_text(language))
    guardian_id: int = notice.guardian_id
    try:
        post = await record_guardian_reply(notice.id, guardian_id, body, channel, now)
    except ReplyError as exc:
        if exc.code == "too_long":
            language = await guardian_language(guardian_id)
            return _FreeText(guardian_id, notice.id, None, unmatched_reply_text(language, "too_long"))
        return _FreeText(guardian_id, notice.id)
    return _FreeText(guardian_id, notice.id, post.id)


async def _first_question(message_id: int) -> tuple[ReplySlip, SlipQuestion] | None:
    slip = await ReplySlip.get_or_none(message_id=message_id)
    if slip is None:
        return None
    question = await SlipQuestion.filter(slip_id=slip.id).order_by("position").first()
    return (slip, question) if question is not None else None


async def _answerable_pupils(notice: Notice) -> list[int]:
    pupils = await ids_of(NoticePupil.filter(notice_id=notice.id), "pupil_id")
    return sorted(
        await ids_of(
            Guardianship.filter(
                pupil_id__in=list(pupils), guardian_id=notice.guardian_id, may_answer=True, barred=False
            ),
            "pupil_id",
        )
    )


async def _slip_open(notice: Notice, now: dt.datetime) -> bool:
    slip = await ReplySlip.get_or_none(message_id=notice.message_id)
    if slip is None or now > slip.deadline:
        return False
    pupils = await _answerable_pupils(notice)
    answered = set(
        await ids_of(
            SlipResponse.filter(slip_id=slip.id, guardian_id=notice.guardian_id),
            "pupil_id",
        )
    )
    return bool(set(pupils) - answered)


async def _open_sms_notice(contact_ids: list[int], now: dt.datetime) -> Notice | None:
    """The most recent notice sent by SMS to one of these contacts that is unacknowledged or has an open slip."""
    notice_ids = await ids_of(
        Delivery.filter(
            contact_id__in=contact_ids,
            channel=Channel.SMS,
            state__in=[DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.FAILED],
            sent_at__isnull=False,
        ).order_by("-sent_at", "-id"),
        "notice_id",
    )
    seen: set[int] = set()
    for notice_id in notice_ids:
        if notice_id in seen:
            continue
        seen.add(notice_id)
        notice = await Notice.get(id=notice_id).prefetch_related("message")
        if notice.message.needs_acknowledgement and not await Acknowledgement.filter(notice_id=notice_id).exists():
            return notice
        if await _slip_open(notice, now):
            return notice
    return None


async def _answer_yes_no(notice: Notice, value: str, *, channel: Channel, now: dt.datetime) -> tuple[int, ...]:
    """Record ``value`` as the answer to the notice's first question when it is a yes/no question of an open
    slip, for every pupil of the notice this guardian may answer for."""
    found = await _first_question(notice.message_id)
    if found is None:
        return ()
    slip, question = found
    if QuestionKind(question.kind) is not QuestionKind.YES_NO or now > slip.deadline:
        return ()
    answered = []
    for pupil_id in await _answerable_pupils(notice):
        try:
            await record_answer(notice.id, pupil_id, {str(question.position): value}, channel=channel, now=now)
        except AlreadyAnswered:  # one answer per pupil, and the other parent gave it: theirs stands
            continue
        answered.append(pupil_id)
    return tuple(answered)


#: An SMS answering a one-choice question by its number, optionally followed by a note: "1", "2 fièvre".
_CHOICE_SMS = re.compile(r"\s*(\d{1,2})(?:[\s.,:;)-]+(.*))?\s*", re.DOTALL)


async def _answer_choice(notice: Notice, body: str, *, now: dt.datetime) -> tuple[int, ...] | None:
    """When the notice's slip opens with a one-choice question, an SMS starting with a choice's number answers
    it (the rest of the text answers a free-text second question, e.g. an absence's note); None when the SMS is
    no such answer (the other keywords apply)."""
    found = await _first_question(notice.message_id)
    match = _CHOICE_SMS.fullmatch(body)
    if found is None or match is None:
        return None
    slip, question = found
    choices = list(question.choices or ())
    number = int(match.group(1))
    if QuestionKind(question.kind) is not QuestionKind.ONE_CHOICE or not 1 <= number <= len(choices):
        return None
    if now > slip.deadline:
        return ()
    answers: dict[str, Any] = {str(question.position): choices[number - 1]}
    note = " ".join((match.group(2) or "").split())
    if note:
        second = await SlipQuestion.filter(slip_id=slip.id, position=question.position + 1).first()
        if second is not None and QuestionKind(second.kind) is QuestionKind.FREE_TEXT:
            answers[str(second.position)] = note[:2000]
    answered = []
    for pupil_id in await _answerable_pupils(notice):
        try:
            await record_answer(notice.id, pupil_id, answers, channel=Channel.SMS, now=now)
        except AlreadyAnswered:  # one answer per pupil, and the other parent gave it: theirs stands
            continue
        answered.append(pupil_id)
    return tuple(answered)


async def twilio_inbound(
    url: str, params: Mapping[str, str], signature: str, auth_token: str, now: dt.datetime
) -> SmsReplyResult:
    """An SMS a guardian sent to our number. YES acknowledges their most recent open SMS notice (and answers
    yes to its slip's first question when that is a yes/no question), NO answers no, ``STOP NOTES`` (``STOP
    CIJFERS``, ``STOP GRADES``...) stops that topic by SMS and ``STOP`` alone every topic that may be stopped,
    never absences and emergencies (``START ...`` resumes; the answer says what stopped and what is kept),
    anything else becomes a post in the thread of the notice last sent by
    SMS to that number (within ``hub.messaging.replies.MATCH_WINDOW``), or, when there is none, an answer saying it
    could
    not be matched. A number no guardian has gets no answer. Raises ``ForgedCallback`` (nothing recorded) when
    the signature does not match."""
    reply = parse_inbound(url, params, signature, auth_token)
    contacts = await Contact.filter(kind=ContactKind.PHONE, value=reply.from_number.strip()).values_list(
        "id", "guardian_id"
    )
    guardian_ids = tuple(sorted({guardian_id for _c, guardian_id in contacts}))
    base = SmsReplyResult(reply.answer, guardian_ids, text=reply.body)
    if not contacts:
        return base
    if reply.answer is not Reply.OPT_OUT and _CHOICE_SMS.fullmatch(reply.body):
        open_notice = await _open_sms_notice([contact_id for contact_id, _g in contacts], now)
        if open_notice is not None:
            async with in_transaction():
                chosen = await _answer_choice(open_notice, reply.body, now=now)
            if chosen is not None:
                return SmsReplyResult(reply.answer, guardian_ids, open_notice.id, bool(chosen), chosen, reply.body)
    if reply.answer is Reply.FREE_TEXT and parse_sms_command(reply.body) is None:
        found = await _free_text([c for c, _g in contacts], guardian_ids, reply.body, Channel.SMS, now)
        return SmsReplyResult(
            reply.answer,
            guardian_ids,
            found.notice_id,
            text=reply.body,
            post_id=found.post_id,
            response_text=found.response_text,
        )
    command = parse_sms_command(reply.body)
    if command is None and reply.answer is Reply.OPT_OUT:  # CANCEL, END, QUIT...: a bare STOP
        command = SmsCommand(start=False, topics=frozenset(STOPPABLE_TOPICS))
    if command is not None:
        return replace(base, response_text=await _sms_command(command, guardian_ids, now))
    notice = await _open_sms_notice([contact_id for contact_id, _g in contacts], now)
    if notice is None:
        return base
    async with in_transaction():
        if reply.answer is Reply.YES:
            acknowledged = await record_acknowledgement(notice.id, channel=Channel.SMS, now=now)
            pupils = await _answer_yes_no(notice, YES, channel=Channel.SMS, now=now)
        else:
            acknowledged = False
            pupils = await _answer_yes_no(notice, NO, channel=Channel.SMS, now=now)
    return SmsReplyResult(reply.answer, guardian_ids, notice.id, acknowledged, pupils, reply.body)


async def _sms_command(command: SmsCommand, guardian_ids: tuple[int, ...], now: dt.datetime) -> str:
    """STOP or START by SMS: the topics named stop (or resume) on SMS only, for every guardian of the number;
    absences and emergencies go on. The answer, in the first guardian's language, says what stopped, what
    replaces it (the portal, or paper for a guardian without it) and what is kept."""
    for guardian_id in guardian_ids:
        if command.start:
            await resume(guardian_id, command.topics, Channel.SMS, source="sms", at=now)
        elif command.topics:
            await stop(guardian_id, command.topics, Channel.SMS, source="sms", at=now)
    first = guardian_ids[0]
    language = await guardian_language(first)
    has_portal = await Consent.filter(
        guardian_id=first, purpose=ConsentPurpose.SCHOOL_MESSAGES, withdrawn_at__isnull=True
    ).exists()
    return sms_answer(command, language, has_portal=has_portal)


def twiml(result: SmsReplyResult) -> str:
    """The TwiML the inbound webhook answers with: an SMS back to the guardian when there is something to say,
    else an empty ``<Response />``."""
    response = MessagingResponse()
    if result.response_text:
        response.message(result.response_text)
    return str(response)


# --------------------------------------------------------------------------------------------------- Telegram


def telegram_webhook_secret(link_secret: str) -> str:
    """The ``secret_token`` given to Telegram's ``setWebhook``, derived from the link secret (64 hex digits:
    Telegram allows 1-256 of A-Za-z0-9_-)."""
    return hmac.new(link_secret.encode(), b"carnet-telegram-webhook", hashlib.sha256).hexdigest()


def verify_telegram_secret(header: str | None, settings: Settings) -> bool:
    """Whether the ``X-Telegram-Bot-Api-Secret-Token`` header is ours (False when Telegram is not configured)."""
    if not settings.telegram_link_secret or not header:
        return False
    return hmac.compare_digest(header.encode(), telegram_webhook_secret(settings.telegram_link_secret).encode())


@dataclass(frozen=True)
class TelegramResult:
    #: "linked", "acknowledged", "answered", "posted" (free text stored in a thread), "unmatched" (free text
    #: from a linked chat, not stored: no recent notice to attach it to, or too long), "text" (from a chat no
    #: guardian linked, or a bot command) or "ignored".
    kind: str
    chat_id: int | None = None
    guardian_id: int | None = None
    notice_id: int | None = None
    contact_id: int | None = None
    text: str = ""
    callback_query_id: str = ""
    post_id: int | None = None
    #: What to answer in the chat, in the guardian's language (empty: nothing to say).
    response_text: str = ""


def telegram_webhook_answer(result: TelegramResult) -> dict[str, Any]:
    """The body of the webhook's response: Telegram runs a Bot API method given there (``sendMessage`` with the
    answer to the guardian) without another request; otherwise a small report."""
    if result.response_text and result.chat_id is not None:
        return {"method": "sendMessage", "chat_id": result.chat_id, "text": result.response_text}
    return {"ok": True, "result": result.kind}


async def _claim_link_code(code_id: str, guardian_id: int, chat_id: int, now: dt.datetime) -> bool:
    """One-time use of a link code, remembered in the audit log (no personal data: the code's id only)."""
    if await AuditEntry.filter(action=_LINK_ACTION, subject_id=code_id).exists():
        return False
    await audit(
        _LINK_ACTION,
        at=now,
        actor_kind=ActorKind.GUARDIAN,
        actor_id=guardian_id,
        subject_type="telegram_link_code",
        subject_id=code_id,
        guardian_id=guardian_id,
    )
    return True


async def _link(request: LinkRequest, now: dt.datetime) -> TelegramResult:
    async with in_transaction():
        guardian = await Guardian.get_or_none(id=request.guardian_id, erased_at__isnull=True)
        if guardian is None:
            raise InvalidLinkCode("telegram: the link code names no guardian")
        if not await _claim_link_code(request.code_id, guardian.id, request.chat_id, now):
            raise InvalidLinkCode("telegram: the link code was already used")
        value = str(request.chat_id)
        contact = await Contact.filter(guardian_id=guardian.id, kind=ContactKind.TELEGRAM, value=value).first()
        if contact is None:
            contact = await Contact.create(
                guardian=guardian, kind=ContactKind.TELEGRAM, value=value, verified=True, verified_at=now
            )
        else:
            await Contact.filter(id=contact.id).update(verified=True, verified_at=now, dead_at=None, dead_reason="")
    return TelegramResult("linked", request.chat_id, guardian.id, contact_id=contact.id)


async def _button_answer(notice: Notice, position: int, value: str) -> str:
    """The answer a button stands for, stored as every channel stores it: "yes"/"no", or the choice's text (the
    button carries the choice's index, Telegram limits callback data to 64 bytes)."""
    question = await SlipQuestion.filter(slip__message_id=notice.message_id, position=position).first()
    if question is None:
        raise Refused(f"telegram: the slip has no question {position}")
    if question.kind == QuestionKind.YES_NO and value in ("yes", "no"):
        return value
    choices = list(question.choices or ())
    if question.kind == QuestionKind.ONE_CHOICE and value.isdigit() and int(value) < len(choices):
        return str(choices[int(value)])
    raise Refused(f"telegram: {value!r} does not answer question {position}")


async def _press(press: ButtonPress, now: dt.datetime) -> TelegramResult:
    owners = await ids_of(
        Contact.filter(kind=ContactKind.TELEGRAM, value=str(press.chat_id), dead_at__isnull=True), "guardian_id"
    )
    notice = None
    if owners and len(press.notice_ref) >= _MIN_REF:
        notice = await Notice.filter(token__startswith=press.notice_ref, guardian_id__in=list(owners)).first()
    if notice is None:
        raise Refused("telegram: this chat is not linked to the guardian of that notice")
    guardian_id: int = notice.guardian_id

    def result(kind: str) -> TelegramResult:
        return TelegramResult(kind, press.chat_id, guardian_id, notice.id, callback_query_id=press.callback_query_id)

    if press.action == "ack":
        await record_acknowledgement(notice.id, channel=Channel.TELEGRAM, now=now)
        return result("acknowledged")
    kind, _, rest = press.action.partition(":")
    position, _, value = rest.partition(":")
    if kind != "answer" or not position.isdigit() or not value:
        raise Refused(f"telegram: unknown button action {press.action!r}")
    answer = await _button_answer(notice, int(position), value)
    pupils = await _answerable_pupils(notice)
    if not pupils:
        raise Refused("telegram: this guardian may not answer for the pupils of that notice")
    answered = 0
    for pupil_id in pupils:
        try:
            await record_answer(notice.id, pupil_id, {position: answer}, channel=Channel.TELEGRAM, now=now)
        except AlreadyAnswered:  # one answer per pupil, and the other parent gave it: theirs stands
            continue
        answered += 1
    if not answered:
        raise Refused("telegram: another guardian already answered this slip for these pupils")
    return result("answered")


async def _text(reply: TextReply, now: dt.datetime) -> TelegramResult:
    """A message typed in a chat: a linked guardian's text becomes a post (:func:`_free_text`); bot commands and
    chats nobody linked are only returned."""
    contacts = await Contact.filter(
        kind=ContactKind.TELEGRAM, value=str(reply.chat_id), dead_at__isnull=True
    ).values_list("id", "guardian_id")
    if not contacts or reply.text.lstrip().startswith("/"):
        return TelegramResult("text", reply.chat_id, text=reply.text)
    guardian_ids = tuple(sorted({guardian_id for _c, guardian_id in contacts}))
    found = await _free_text([c for c, _g in contacts], guardian_ids, reply.text, Channel.TELEGRAM, now)
    return TelegramResult(
        "posted" if found.post_id else "unmatched",
        reply.chat_id,
        found.guardian_id,
        found.notice_id,
        text=reply.text,
        post_id=found.post_id,
        response_text=found.response_text,
    )


async def telegram_update(update_json: dict[str, Any], settings: Settings, now: dt.datetime) -> TelegramResult:
    """A Telegram webhook update: ``/start <code>`` links the chat to the code's guardian (a verified TELEGRAM
    contact; each code once), a signed button press acknowledges or answers the notice, if that chat belongs to
    the notice's guardian. Raises ``InvalidLinkCode``, ``ForgedButton`` or :class:`Refused`, recording nothing.
    A linked guardian's text message becomes a post in the thread of the notice last sent to that chat."""
    if not settings.telegram_link_secret:
        raise Refused("telegram is not configured (CARNET_TELEGRAM_LINK_SECRET)")
    event = parse_update(update_json, settings.telegram_link_secret, now)
    if isinstance(event, LinkRequest):
        return await _link(event, now)
    if isinstance(event, ButtonPress):
        return await _press(event, now)
    if isinstance(event, TextReply):
        return await _text(event, now)
    return TelegramResult("ignored")
