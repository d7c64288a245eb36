"""The periodic passes and the publish at the size of a network of schools, on PostgreSQL: asyncpg refuses a query
of more than 32,767 arguments, so a query whose arguments follow the data fails there past that size.

Rows are made with ``executemany`` (``hub.testing.scale``) so that 40,000 notices take seconds. Nothing is timed:
the statements are counted, with the number of arguments of each.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer
from charter import default_charter
from hub.delivery.dispatch import notify_staff_of_replies
from hub.enums import ActorKind, Channel, DeliveryPurpose, DeliveryState, MessageState
from hub.messaging import fanout
from hub.messaging.models import Delivery, Message, ThreadPost
from hub.messaging.planning import due_escalations, publish
from hub.store import sql
from hub.testing.scale import big_school, count_statements, insert_deliveries, insert_notices

CHARTER = default_charter()
MONDAY_09 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Brussels, a school day
MONDAY_14 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
TUESDAY_10 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
PLAN = (Channel.PORTAL, Channel.EMAIL, Channel.LETTER)
#: Past asyncpg's 32,767 arguments: an id list of these notices in one query would be refused.
FAMILIES = 1_000
MESSAGES = 42


@pytest.mark.postgres
async def test_escalations_and_staff_digests_past_the_driver_limit_create_exactly_what_is_due(pg_db: str) -> None:
    school = await big_school(FAMILIES, now=MONDAY_09)
    families = school.guardian_ids
    kinds = {"acknowledged": range(0, 10), "escalated": range(10, 20), "recent": range(20, 30), "due": range(30, 42)}
    notices: dict[str, list[int]] = {kind: [] for kind in kinds}
    for kind, numbers in kinds.items():
        for _ in numbers:
            message = await school.message(needs_ack=True)
            await Message.filter(id=message.id).update(state=MessageState.PUBLISHED, published_at=MONDAY_09)
            ids = await insert_notices(message.id, families, now=MONDAY_09, plan=PLAN)
            sent = MONDAY_14 if kind == "recent" else MONDAY_09
            await insert_deliveries(
                ids, channel=Channel.EMAIL, step=1, state=DeliveryState.SENT, due_at=sent, sent_at=sent
            )
            notices[kind].extend(ids)
    await sql.insert_many(
        "acknowledgement", ("notice_id", "at", "channel"), ((n, MONDAY_14, "portal") for n in notices["acknowledged"])
    )
    await insert_deliveries(
        notices["escalated"], channel=Channel.LETTER, step=2, state=DeliveryState.DUE, due_at=MONDAY_14,
        purpose=DeliveryPurpose.ESCALATION,
    )  # fmt: skip
    # A message that asks for nothing is never escalated.
    quiet = await school.message(needs_ack=False)
    await Message.filter(id=quiet.id).update(state=MessageState.PUBLISHED, published_at=MONDAY_09)
    plain = await insert_notices(quiet.id, families, now=MONDAY_09, plan=PLAN)
    await insert_deliveries(
        plain, channel=Channel.EMAIL, step=1, state=DeliveryState.SENT, due_at=MONDAY_09, sent_at=MONDAY_09
    )
    assert sum(map(len, notices.values())) == FAMILIES * MESSAGES > 40_000

    with count_statements() as statements:
        created = await due_escalations(TUESDAY_10, charter=CHARTER)
    assert sorted(d.notice_id for d in created) == sorted(notices["due"])
    stored = await Delivery.filter(purpose=DeliveryPurpose.ESCALATION, step=2, state=DeliveryState.DUE).count()
    assert stored == len(notices["due"]) + len(notices["escalated"])
    assert {(d.channel, d.step, d.state) for d in created} == {(Channel.LETTER, 2, DeliveryState.DUE)}
    assert statements.most_arguments < 100  # never one argument per notice
    assert statements.count < 20

    # The next pass reads what may still be due, finds nothing to do, and creates nothing more.
    with count_statements() as again:
        assert await due_escalations(TUESDAY_10 + timedelta(minutes=5), charter=CHARTER) == []
    assert again.most_arguments < 100
    assert await Delivery.filter(purpose=DeliveryPurpose.ESCALATION).count() == stored

    # Staff digests: 300 replies from families to one message, told to its sender in one email.
    replied = notices["due"][:300]
    await sql.insert_many(
        "thread_post", ("notice_id", "author_kind", "guardian_id", "body", "channel", "at"),
        ((n, ActorKind.GUARDIAN.value, g, "Merci", "portal", MONDAY_14)
         for n, g in zip(replied, families, strict=False)),
    )  # fmt: skip
    peer = SmtpPeer().start()
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port, sender="Carnet <carnet@example.be>"))
    try:
        with count_statements() as told:
            digests = await notify_staff_of_replies(
                {Channel.EMAIL: adapter}, TUESDAY_10, base_url="https://carnet.example.be", charter=CHARTER
            )
        assert digests == 1
        (mail,) = peer.mailbox.to(school.teacher.email)
        assert "(300)" in str(mail["Subject"])
        assert told.most_arguments < 100
        assert await ThreadPost.filter(staff_notified_at=TUESDAY_10).count() == 300
    finally:
        await adapter.close()
        peer.stop()


async def _capped_publish(families: int, tag: str) -> int:
    """Statements of the fifth normal message of a day to ``families`` families: the daily limit (three) is in
    play, and each family already has a digest for the next day."""
    school = await big_school(families, now=MONDAY_09, tag=tag)
    for _ in range(4):
        message = await school.message()
        await publish(message.id, now=MONDAY_09, charter=CHARTER, actor_staff_id=school.teacher.id)
    fifth = await school.message()
    with count_statements() as statements:
        result = await publish(fifth.id, now=MONDAY_09, charter=CHARTER, actor_staff_id=school.teacher.id)
    assert result.notices == families and result.digested == families
    assert statements.most_arguments < 100
    return statements.count


@pytest.mark.postgres
async def test_a_publish_under_the_daily_limit_sends_statements_in_proportion_to_the_families(pg_db: str) -> None:
    small = await _capped_publish(300, "A")
    large = await _capped_publish(2_400, "B")
    # Eight times the families: one more chunk of statements (a chunk is 2,000 families and costs a fixed number
    # of statements, fewer than a whole publish), never eight times as many.
    assert fanout.CHUNK < 2_400 and large - small <= small, (small, large)


async def _publish_statements(families: int, tag: str) -> tuple[int, int]:
    school = await big_school(families, now=MONDAY_09, tag=tag)
    message = await school.message(needs_ack=True)
    with count_statements() as statements:
        result = await publish(message.id, now=MONDAY_09, charter=CHARTER, actor_staff_id=school.teacher.id)
    assert result.notices == families and result.deliveries == 2 * families  # the inbox and the email
    assert await Delivery.filter(notice__message_id=message.id, channel=Channel.EMAIL).count() == families
    return statements.count, statements.most_arguments


async def test_a_publish_sends_a_fixed_number_of_statements_per_chunk_of_families(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "CHUNK", 100)
    one_chunk, arguments = await _publish_statements(80, "A")
    five_chunks, more_arguments = await _publish_statements(480, "B")
    # Each chunk: three reads (links; guardians with their contacts, preferences and stops; consents), the notices
    # returning their ids and their pupils (two), the day's load (one) and the deliveries (one).
    assert five_chunks - one_chunk <= 4 * 7, (one_chunk, five_chunks)
    assert max(arguments, more_arguments) < 50  # whatever the number of families
