"""The delivery report at scale, counted and compared, not timed: its queries do not depend on the page of families
asked for, and its tallies (hub.reports.tally) follow the rows however they change, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tortoise.transactions import in_transaction

from hub.enums import AnswerMode, Channel, DeliveryState, ErrorKind, GroupKind
from hub.messaging.models import Message, Notice, ReplySlip
from hub.messaging.planning import record_acknowledgement, record_answer, record_outcome
from hub.people.models import Group, Membership
from hub.reports.delivery import UNREACHED_PAGE, Report, delivery_report, period_of
from hub.store import sql
from hub.testing.scale import big_school, count_statements, insert_deliveries, insert_notices
from tests.reports.test_reports import AUTUMN, MONDAY_10, build_small, message_to_both_classes, notice, step

TUESDAY_10 = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
FAMILIES = 60


async def _school_with_many_families_not_reached() -> tuple[int, list[int]]:
    """Four messages to 60 families: every third family's email failed (nothing else tried), the others' was sent."""
    school = await big_school(FAMILIES, now=TUESDAY_10)
    notice_ids: list[int] = []
    for i in range(4):
        message = await school.message(subject=f"Message {i}")
        await sql.execute(
            "UPDATE message SET state = 'published', published_at = $1 WHERE id = $2",
            [TUESDAY_10 - dt.timedelta(days=4 - i), message.id],
        )
        notice_ids += await insert_notices(message.id, school.guardian_ids, now=TUESDAY_10, plan=(Channel.EMAIL,))
        await sql.execute(
            "INSERT INTO notice_pupil (notice_id, pupil_id) SELECT n.id, gs.pupil_id FROM notice n "
            "JOIN guardianship gs ON gs.guardian_id = n.guardian_id WHERE n.message_id = $1",
            [message.id],
        )
    failed = notice_ids[::3]
    sent = [n for n in notice_ids if n not in set(failed)]
    await insert_deliveries(failed, channel=Channel.EMAIL, step=0, state=DeliveryState.FAILED, due_at=TUESDAY_10)
    await insert_deliveries(
        sent, channel=Channel.EMAIL, step=0, state=DeliveryState.SENT, due_at=TUESDAY_10, sent_at=TUESDAY_10
    )
    return school.school.id, failed


PERIOD = period_of("2026-09-01", "2026-12-31", now=TUESDAY_10, tz="Europe/Brussels")


async def test_the_fortieth_page_costs_what_the_first_does(db: str) -> None:
    school_id, failed = await _school_with_many_families_not_reached()
    first = await delivery_report(school_id, PERIOD, now=TUESDAY_10)  # also computes the tallies once
    assert first.not_reached.failed_everywhere == len(failed) == 80
    assert [u.notice_id for u in first.unreached] == failed[:UNREACHED_PAGE]

    # Page by page with the links' keys, to the last: each page the one its position says.
    pages, offset, after = [], 0, None
    while offset < len(failed):
        with count_statements() as statements:
            page = await delivery_report(school_id, PERIOD, now=TUESDAY_10, offset=offset, after=after)
        pages.append(statements)
        assert [u.notice_id for u in page.unreached] == failed[offset : offset + UNREACHED_PAGE]
        offset, after = offset + UNREACHED_PAGE, page.unreached[-1].notice_id
    assert len(pages) == 2
    # And back: the page before the second page's first family is the first page.
    back = await delivery_report(school_id, PERIOD, now=TUESDAY_10, before=failed[UNREACHED_PAGE])
    assert [u.notice_id for u in back.unreached] == failed[:UNREACHED_PAGE]

    # A small page size gives many pages: the 40th page after its key sends what the first and the second send,
    # the very same statements as the second (only the key's value differs), none with an OFFSET to count.
    with count_statements() as page_1:
        one = await delivery_report(school_id, PERIOD, now=TUESDAY_10, limit=2)
    with count_statements() as page_2:
        two = await delivery_report(school_id, PERIOD, now=TUESDAY_10, offset=2, limit=2, after=failed[1])
    with count_statements() as page_40:
        forty = await delivery_report(school_id, PERIOD, now=TUESDAY_10, offset=78, limit=2, after=failed[77])
    assert [u.notice_id for u in one.unreached] == failed[:2]
    assert [u.notice_id for u in two.unreached] == failed[2:4]
    assert [u.notice_id for u in forty.unreached] == failed[78:80]
    assert page_1.count == page_2.count == page_40.count
    assert page_40.sent == page_2.sent  # the same texts, the same number of arguments
    assert page_40.most_arguments == page_1.most_arguments  # the key is one argument, not the families before it
    for text, _arguments in page_40.sent:
        assert not re.search(r"\bOFFSET\b", text, re.IGNORECASE), text


async def test_the_tallies_follow_every_change(db: str) -> None:
    """Deliveries moved by raw SQL (as a worker's batch would), a notice read, a pupil moved to another class:
    the next report shows each, as computing everything afresh would."""
    school_id, failed = await _school_with_many_families_not_reached()
    before = await delivery_report(school_id, PERIOD, now=TUESDAY_10)
    assert before.funnel[1].count == 160 and before.not_reached.failed_everywhere == 80

    # A batch of ten failed deliveries sent after all (raw SQL: no ORM on the way).
    assert failed == sorted(failed)
    await sql.execute(
        "UPDATE delivery SET state = 'sent', sent_at = $1 WHERE state = 'failed' AND notice_id <= $2",
        [TUESDAY_10, failed[9]],
    )
    # One family reads another notice on the portal.
    await Notice.filter(id=failed[10]).update(first_read_at=TUESDAY_10)
    after = await delivery_report(school_id, PERIOD, now=TUESDAY_10)
    assert [s.count for s in after.funnel[:4]] == [240, 171, 1, 1]
    assert after.not_reached.failed_everywhere == 69
    assert {c.channel: (c.sent, c.failed_transient) for c in after.channels} == {"email": (170, 70)}

    # A pupil changes class: the class lines follow (the class of the pupil's four notices).
    notice = await Notice.get(id=failed[0]).prefetch_related("pupils")
    (pupil_link,) = notice.pupils
    other = await Group.create(school_id=school_id, kind=GroupKind.CLASS, code="2B", name="2B")
    await Membership.filter(pupil_id=pupil_link.pupil_id).update(group_id=other.id)
    moved_class = await delivery_report(school_id, PERIOD, now=TUESDAY_10)
    lines = {c.code: (c.guardians, c.reached) for c in moved_class.classes}
    assert lines["2B"] == (4, 1)  # their four notices; the first one's email was in the batch sent
    assert sum(g for g, _ in lines.values()) == 240


async def _afresh(school_id: int, **kwargs: Any) -> Report:
    """The report with every tally recomputed from the rows (what the report showed before tallies existed)."""
    await sql.execute(
        "INSERT INTO report_dirty (message_id) SELECT id FROM message "
        "WHERE id NOT IN (SELECT message_id FROM report_dirty)"
    )
    return await delivery_report(school_id, AUTUMN, **kwargs)


async def test_the_tallies_equal_a_report_computed_afresh_at_every_step(db: str) -> None:
    """The small school's story step by step through the product's own functions: after each change the report
    from the tallies is the report computed afresh from every row."""
    small = await build_small()
    g, later = small.guardians, MONDAY_10 + timedelta(minutes=5)
    at = {"now": MONDAY_10 + timedelta(hours=1)}

    async def same() -> Report:
        incremental = await delivery_report(small.school.id, AUTUMN, **at)
        assert incremental == await _afresh(small.school.id, **at)
        return incremental

    message = await message_to_both_classes(small)
    assert (await same()).funnel[0].count == 4
    await record_outcome((await step(message, g["mother"], Channel.EMAIL)).id, now=later, ok=True, delivered=True)
    await same()
    bounced = await step(message, g["carla"], Channel.EMAIL)
    await record_outcome(bounced.id, now=later, ok=False, error="550 no such user", error_kind=ErrorKind.PERMANENT)
    await same()
    sms = await step(message, g["carla"], Channel.SMS)
    await record_outcome(sms.id, now=later, ok=True, cost=Decimal("0.15"), segments=2)
    assert (await same()).sms_cost == Decimal("0.1500")
    await record_acknowledgement((await notice(message, g["father"])).id, channel=Channel.SMS, now=later)
    await same()
    mother = await notice(message, g["mother"])
    await record_answer(mother.id, small.pupils["alice"].id, {"1": "yes"}, channel=Channel.PORTAL, now=later)
    await same()
    await Notice.filter(id=(await notice(message, g["carla"])).id).update(opened_at=later)
    await same()
    # Alice moves to 3B; the slip becomes one answer per guardian; the message no longer asks to acknowledge.
    await Membership.filter(pupil_id=small.pupils["alice"].id).update(group_id=small.classes["3B"].id)
    assert {c.code: c.guardians for c in (await same()).classes} == {"3A": 1, "3B": 3}
    await ReplySlip.filter(message_id=message.id).update(answer_mode=AnswerMode.EVERY_GUARDIAN)
    await same()
    await Message.filter(id=message.id).update(needs_acknowledgement=False)
    assert (await same()).funnel[4].base == 0
    # A second message, then Dora's notices go (an erasure deletes them).
    await message_to_both_classes(small, mode=None, now=MONDAY_10 + timedelta(minutes=30))
    assert (await same()).funnel[0].count == 8
    await Notice.filter(guardian_id=g["dora"].id).delete()
    assert (await same()).funnel[0].count == 6
    await Message.filter(id=message.id).delete()
    assert (await same()).funnel[0].count == 3


async def test_a_change_committed_during_a_report_is_shown_by_the_next(pg_db: str) -> None:
    """A worker's transaction still running while a report recomputes: its change is not in that report (not
    committed yet), and its note survives the report, so the next report shows it (PostgreSQL: SQLite has one
    writer at a time, so a report waits for the worker's transaction to end)."""
    school_id, failed = await _school_with_many_families_not_reached()
    assert (await delivery_report(school_id, PERIOD, now=TUESDAY_10)).funnel[1].count == 160
    # Another note of the same message, committed before: the report takes it while the worker still runs.
    await Notice.filter(id=failed[1]).update(opened_at=TUESDAY_10)
    changed, report_done = asyncio.Event(), asyncio.Event()

    async def worker() -> None:  # its own task: its own transaction, on its own connection
        async with in_transaction("default") as connection:
            await connection.execute_query(
                "UPDATE delivery SET state = 'sent', sent_at = $1 WHERE notice_id = $2", [TUESDAY_10, failed[0]]
            )
            changed.set()
            await report_done.wait()

    running = asyncio.create_task(worker())
    await changed.wait()
    during = await delivery_report(school_id, PERIOD, now=TUESDAY_10)
    report_done.set()
    await running
    assert during.funnel[1].count == 160 and during.opened_not_read == 1
    after = await delivery_report(school_id, PERIOD, now=TUESDAY_10)
    assert after.funnel[1].count == 161
