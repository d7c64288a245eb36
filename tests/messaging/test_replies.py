"""A guardian's free-text reply stored in the notice's thread (``hub.messaging.replies``), whatever channel brought
it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hub.enums import Channel, ContactKind, DeliveryState
from hub.messaging.models import Delivery, ThreadPost
from hub.messaging.replies import (
    MAX_LENGTH,
    ReplyError,
    clean_body,
    notice_for_reply,
    record_guardian_reply,
    unmatched_reply_text,
)
from hub.people.models import Contact, Guardian
from hub.store.audit import AuditEntry
from tests.messaging.test_inbound import LATER, MONDAY_10, build


def test_clean_body_keeps_lines_and_drops_controls() -> None:
    assert clean_body("  Bonjour\r\nLina\tsera\x00 là\x1b[31m  \n") == "Bonjour\nLina\tsera là[31m"
    assert clean_body("pay \u202egnp.exe") == "pay gnp.exe"  # no right-to-left override
    assert clean_body("👨\u200d👩\u200d👧 merci") == "👨\u200d👩\u200d👧 merci"  # joiners stay: emoji hold together
    assert clean_body("é" * MAX_LENGTH) == "é" * MAX_LENGTH


@pytest.mark.parametrize(("body", "code"), [("", "empty"), (" \r\n\x07\t ", "empty"), ("x" * 4001, "too_long")])
def test_clean_body_refuses_empty_and_too_long(body: str, code: str) -> None:
    with pytest.raises(ReplyError) as refused:
        clean_body(body)
    assert refused.value.code == code


def test_the_unmatched_answer_speaks_the_guardians_language() -> None:
    assert unmatched_reply_text("nl").startswith("Bedankt")
    assert unmatched_reply_text("en").startswith("Thank you")
    assert unmatched_reply_text("de").startswith("Merci")  # no German text: French, the school's language
    assert unmatched_reply_text("fr", "too_long").startswith("Votre message est trop long")


async def test_a_portal_reply_is_stored_with_an_audit_entry(db: str) -> None:
    s = await build()
    post = await record_guardian_reply(s.notice.id, s.guardian.id, " Merci, bien reçu.\x00 ", Channel.PORTAL, LATER)
    stored = await ThreadPost.get(id=post.id)
    assert stored.body == "Merci, bien reçu." and stored.channel == Channel.PORTAL
    assert stored.notice_id == s.notice.id and stored.guardian_id == s.guardian.id  # type: ignore[attr-defined]
    entry = await AuditEntry.get(action="thread.guardian_post")
    assert entry.subject_id == str(post.id) and entry.details["notice_id"] == s.notice.id
    assert entry.details["length"] == len("Merci, bien reçu.")


async def test_a_reply_to_someone_elses_notice_or_by_an_erased_guardian_stores_nothing(db: str) -> None:
    s = await build()
    with pytest.raises(ReplyError) as refused:
        await record_guardian_reply(s.notice.id, s.other.id, "Je ne suis pas le parent", Channel.PORTAL, LATER)
    assert refused.value.code == "unknown_notice"
    with pytest.raises(ReplyError):
        await record_guardian_reply(s.notice.id + 1000, s.guardian.id, "Quelle notice ?", Channel.PORTAL, LATER)
    with pytest.raises(ReplyError):
        await record_guardian_reply(s.notice.id, s.guardian.id, "\x00\x01", Channel.PORTAL, LATER)
    await Guardian.filter(id=s.guardian.id).update(erased_at=LATER)
    with pytest.raises(ReplyError):
        await record_guardian_reply(s.notice.id, s.guardian.id, "Bonjour", Channel.PORTAL, LATER)
    assert not await ThreadPost.exists()
    assert not await AuditEntry.filter(action="thread.guardian_post").exists()


async def test_the_notice_matched_is_the_latest_sent_on_that_channel_within_the_window(db: str) -> None:
    s = await build()
    phone = await Contact.get(guardian_id=s.guardian.id, kind=ContactKind.PHONE)
    chat = await Contact.get(guardian_id=s.guardian.id, kind=ContactKind.TELEGRAM)
    assert (await notice_for_reply([phone.id], Channel.SMS, LATER)).id == s.notice.id  # type: ignore[union-attr]
    assert await notice_for_reply([chat.id], Channel.TELEGRAM, LATER) is None  # nothing went to that chat
    assert await notice_for_reply([phone.id], Channel.SMS, MONDAY_10 + timedelta(days=30, seconds=1)) is None
    assert await notice_for_reply([phone.id], Channel.SMS, MONDAY_10 - timedelta(seconds=1)) is None  # not yet sent
    assert await notice_for_reply([], Channel.SMS, LATER) is None
    # A later SMS reminder of the same notice counts as the latest thing sent.
    await Delivery.create(
        notice_id=s.notice.id,
        channel=Channel.SMS,
        step=0,
        state=DeliveryState.SENT,
        contact=phone,
        due_at=LATER,
        sent_at=MONDAY_10 + timedelta(days=20),
    )
    late = MONDAY_10 + timedelta(days=45)
    assert (await notice_for_reply([phone.id], Channel.SMS, late)).id == s.notice.id  # type: ignore[union-attr]
    await Guardian.filter(id=s.guardian.id).update(erased_at=LATER)
    assert await notice_for_reply([phone.id], Channel.SMS, LATER) is None
