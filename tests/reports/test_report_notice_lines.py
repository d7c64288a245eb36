"""The report's tallies kept per notice (hub.reports.tally): after any mix of changes, refreshed step by step, the
tallies and the pending rows are those computed from scratch; and a refresh after N deliveries of a big message
moved rewrites the lines of those N notices only, whatever the message's size (counted, not timed). On SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from datetime import timedelta
from decimal import Decimal
from typing import Any

from hub.enums import AnswerMode, Channel, DeliveryState, ErrorKind, GroupKind
from hub.messaging.models import Message, Notice, ReplySlip, SlipResponse
from hub.messaging.planning import record_acknowledgement, record_answer, record_outcome
from hub.people.models import Group, Membership
from hub.reports import tally
from hub.reports.delivery import delivery_report
from hub.reports.tally import Sql
from hub.store import sql
from hub.testing.scale import big_school, count_statements, insert_deliveries, insert_notices
from tests.reports.test_reports import AUTUMN, MONDAY_10, build_small, message_to_both_classes, notice, step

_FIGURES = tally._FIGURES.split(", ")
_SCHOOL = "n.message_id IN (SELECT id FROM message WHERE school_id = :school)"


def _line(row: dict[str, Any]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    key = tuple(row[c] for c in tally._KEY.split(", "))
    figures = tuple(int(row[c]) for c in _FIGURES if c != "cost")
    return key, (*figures, Decimal(str(row["cost"] or 0)).quantize(Decimal("0.0001")))


async def _tallies(school_id: int) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The school's tally lines as the refreshes left them."""
    rows = await Sql().rows(
        "SELECT t.* FROM report_tally t JOIN message m ON m.id = t.message_id WHERE m.school_id = :school",
        {"school": school_id},
    )
    assert all(r["n"] > 0 for r in rows), "a line no notice counts is left"
    return dict(_line(r) for r in rows)


async def _from_scratch(school_id: int) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The school's tally lines computed from every row, with the report's rules, without touching the tallies."""
    s = Sql()
    facts = tally._FACTS.format(deliveries=s.deliveries_of("sc"), claimed=_SCHOOL)
    lines = tally._LINES.format(quarter=s.quarter_of("d.sent_at"))
    sums = ", ".join(f"SUM({c}) AS {c}" for c in _FIGURES)
    rows = await s.rows(
        f"{facts},\nall_lines AS ({lines})\nSELECT {tally._KEY}, {sums} FROM all_lines GROUP BY {tally._KEY}",
        {"school": school_id},
    )
    return dict(_line(r) for r in rows)


async def _pending(school_id: int, *, from_scratch: bool) -> list[tuple[Any, ...]]:
    """The school's ``report_pending`` rows, as the refreshes left them or computed from every row."""
    s = Sql()
    if from_scratch:
        facts = tally._FACTS.format(deliveries=s.deliveries_of("sc"), claimed=_SCHOOL)
        rows = await s.rows(f"{facts}\n{tally._PENDING[tally._PENDING.index('SELECT') :]}", {"school": school_id})
    else:
        rows = await s.rows(
            "SELECT p.notice_id, p.message_id, p.published_at, p.steps, p.letter_always, p.letter_at, "
            "p.due_always, p.due_at FROM report_pending p JOIN message m ON m.id = p.message_id "
            "WHERE m.school_id = :school",
            {"school": school_id},
        )
    found = [list(r.values()) for r in rows]
    for values in found:  # the two flags: booleans in the table, 0/1 from the computation on SQLite
        values[4], values[6] = bool(values[4]), bool(values[6])
    return sorted(tuple(v) for v in found)


async def _same_as_from_scratch(school_id: int) -> None:
    at = {"now": MONDAY_10 + timedelta(hours=1)}
    await delivery_report(school_id, AUTUMN, **at)  # refreshes what changed, and only that
    assert await _tallies(school_id) == await _from_scratch(school_id)
    assert await _pending(school_id, from_scratch=False) == await _pending(school_id, from_scratch=True)
    # No line left of a notice or a message deleted since.
    orphans = await sql.query(
        "SELECT COUNT(*) AS n FROM report_notice_line "
        "WHERE notice_id NOT IN (SELECT id FROM notice) OR message_id NOT IN (SELECT id FROM message)"
    )
    assert orphans[0]["n"] == 0


async def test_many_mixed_changes_leave_the_figures_a_recompute_from_scratch_gives(db: str) -> None:
    small = await build_small()
    school_id, g, p = small.school.id, small.guardians, small.pupils
    later = MONDAY_10 + timedelta(minutes=5)
    per_pupil = await message_to_both_classes(small)  # one answer per pupil
    every = await message_to_both_classes(small, mode=AnswerMode.EVERY_GUARDIAN, now=MONDAY_10 + timedelta(minutes=1))
    await _same_as_from_scratch(school_id)

    # Deliveries move: one delivered, one failed for good (Carla's SMS then goes, 2 segments), one sent.
    await record_outcome((await step(per_pupil, g["mother"], Channel.EMAIL)).id, now=later, ok=True, delivered=True)
    bounced = await step(per_pupil, g["carla"], Channel.EMAIL)
    await record_outcome(bounced.id, now=later, ok=False, error="550 no such user", error_kind=ErrorKind.PERMANENT)
    await _same_as_from_scratch(school_id)
    sms = await step(per_pupil, g["carla"], Channel.SMS)
    await record_outcome(sms.id, now=later, ok=True, cost=Decimal("0.15"), segments=2)
    await record_outcome((await step(every, g["father"], Channel.EMAIL)).id, now=later, ok=True)
    await _same_as_from_scratch(school_id)
    # An acknowledgement; a notice opened, another read.
    await record_acknowledgement((await notice(per_pupil, g["father"])).id, channel=Channel.SMS, now=later)
    await Notice.filter(id=(await notice(every, g["carla"])).id).update(opened_at=later)
    await _same_as_from_scratch(school_id)

    # Separated parents, one answer per pupil: the mother answers for Alice, then the father for Bob; each answer
    # moves the other parent's notice too (both name both children).
    mother, father = await notice(per_pupil, g["mother"]), await notice(per_pupil, g["father"])
    await record_answer(mother.id, p["alice"].id, {"1": "yes"}, channel=Channel.PORTAL, now=later)
    await _same_as_from_scratch(school_id)
    await record_answer(father.id, p["bob"].id, {"1": "no"}, channel=Channel.PORTAL, now=later)
    report = await delivery_report(school_id, AUTUMN, message_id=per_pupil.id, now=later)
    assert report.funnel[5].count == 2  # both parents' notices answered, by one answer each
    await _same_as_from_scratch(school_id)
    # One answer per guardian: the mother's answer answers her notice only.
    her_own = await notice(every, g["mother"])
    await record_answer(her_own.id, p["alice"].id, {"1": "yes"}, channel=Channel.PORTAL, now=later)
    await _same_as_from_scratch(school_id)
    # The father's answer taken away (an erasure would): the mother's notice is no longer answered either.
    await SlipResponse.filter(notice_id=father.id).delete()
    await _same_as_from_scratch(school_id)

    # Alice changes class; the first message's slip becomes one answer per guardian; the second's per pupil.
    await Membership.filter(pupil_id=p["alice"].id).update(group_id=small.classes["3B"].id)
    await _same_as_from_scratch(school_id)
    other = await Group.create(school_id=school_id, kind=GroupKind.CLASS, code="4A", name="4A")
    await Membership.filter(pupil_id=p["dan"].id).update(group_id=other.id)
    await ReplySlip.filter(message_id=per_pupil.id).update(answer_mode=AnswerMode.EVERY_GUARDIAN)
    await _same_as_from_scratch(school_id)
    await ReplySlip.filter(message_id=every.id).update(answer_mode=AnswerMode.ONE_PER_PUPIL)
    await Message.filter(id=every.id).update(needs_acknowledgement=False)
    await _same_as_from_scratch(school_id)

    # A batch of raw SQL (a worker's): every due email of the second message sent; then Dora's notices erased.
    await sql.execute(
        "UPDATE delivery SET state = 'sent', sent_at = $1 WHERE channel = 'email' AND state = 'due' "
        "AND notice_id IN (SELECT id FROM notice WHERE message_id = $2)",
        [later, every.id],
    )
    await _same_as_from_scratch(school_id)
    await Notice.filter(guardian_id=g["dora"].id).delete()
    await _same_as_from_scratch(school_id)
    await Message.filter(id=per_pupil.id).delete()
    await _same_as_from_scratch(school_id)
    assert (await delivery_report(school_id, AUTUMN, now=later)).funnel[0].count == 3


NOW = dt.datetime(2026, 11, 24, 9, 0, tzinfo=dt.UTC)
MOVED = 6


async def _one_big_message(families: int, tag: str) -> tuple[int, list[int]]:
    """A message to ``families`` families, each notice naming its pupil: one failed email each, every third
    family's only, the others' followed by an email sent. Its failed deliveries, in notice order."""
    school = await big_school(families, now=NOW, tag=tag)
    message = await school.message(needs_ack=True)
    await sql.execute("UPDATE message SET state = 'published', published_at = $1 WHERE id = $2", [NOW, message.id])
    notices = await insert_notices(message.id, school.guardian_ids, now=NOW, plan=(Channel.EMAIL,))
    await sql.execute(
        "INSERT INTO notice_pupil (notice_id, pupil_id) SELECT n.id, gs.pupil_id FROM notice n "
        "JOIN guardianship gs ON gs.guardian_id = n.guardian_id WHERE n.message_id = $1",
        [message.id],
    )
    await insert_deliveries(notices, channel=Channel.EMAIL, step=0, state=DeliveryState.FAILED, due_at=NOW)
    sent = [n for i, n in enumerate(notices) if i % 3]
    await insert_deliveries(sent, channel=Channel.EMAIL, step=1, state=DeliveryState.SENT, due_at=NOW, sent_at=NOW)
    failed = await sql.query(
        "SELECT d.id FROM delivery d JOIN notice n ON n.id = d.notice_id "
        "WHERE n.message_id = $1 AND d.state = 'failed' ORDER BY d.notice_id",
        [message.id],
    )
    return school.school.id, [r["id"] for r in failed]


async def _refresh_after_moving(school_id: int, deliveries: list[int]) -> tuple[int, int, int, int]:
    """Move the deliveries (failed, then sent) and refresh: (notices recomputed, statements, most arguments of one,
    notice lines written)."""
    await sql.execute(
        f"UPDATE delivery SET state = 'sent', sent_at = $1 WHERE {sql.in_ids('id', '$2')}",
        [NOW, sql.ids_argument(deliveries)],
    )
    before = (await sql.query("SELECT COALESCE(MAX(id), 0) AS id FROM report_notice_line"))[0]["id"]
    with count_statements() as statements:
        recomputed = await tally.refresh(school_id)
    written = await sql.query("SELECT COUNT(*) AS n FROM report_notice_line WHERE id > $1", [before])
    return recomputed, statements.count, statements.most_arguments, int(written[0]["n"])


async def test_a_refresh_after_n_deliveries_moved_rewrites_n_notices_whatever_the_message_s_size(db: str) -> None:
    measured = []
    for families, tag in ((30, "S"), (240, "L")):
        school_id, failed = await _one_big_message(families, tag)
        await tally.refresh(school_id)  # the first: every notice's lines (the message noted whole at its publish)
        lines = (await sql.query("SELECT COUNT(*) AS n FROM report_notice_line"))[0]["n"]
        assert lines >= 4 * families  # the notices, channel, first and class lines of every notice at least
        # N deliveries of N notices move: only those N notices are recomputed, and their lines rewritten.
        recomputed, statements, arguments, written = await _refresh_after_moving(school_id, failed[:MOVED])
        assert recomputed == MOVED
        assert 0 < written <= 6 * MOVED
        measured.append((statements, arguments, written))
        assert await _tallies(school_id) == await _from_scratch(school_id)
        # Nothing moved since: nothing to recompute.
        with count_statements() as idle:
            assert await tally.refresh(school_id) == 0
        assert idle.count <= 4
    # Eight times the families: the same statements, the same arguments, the same lines rewritten.
    assert measured[0] == measured[1]


async def test_reports_running_at_once_while_deliveries_move_leave_the_figures_right(pg_db: str) -> None:
    """Several reports at once, while a worker records outcomes in its own transactions (PostgreSQL: SQLite has one
    writer at a time): the reports of a school take turns, so none takes away lines another has not written yet,
    and the figures after the last one are those computed from scratch."""
    school_id, failed = await _one_big_message(60, "C")
    await tally.refresh(school_id)

    async def worker() -> None:  # the same three deliveries sent, then failed again, and so on: sent at the end
        for round_ in range(40):
            sent = round_ % 2 == 0 or round_ == 39
            await sql.execute(
                f"UPDATE delivery SET state = $1, sent_at = $2 WHERE {sql.in_ids('id', '$3')}",
                ["sent" if sent else "failed", NOW if sent else None, sql.ids_argument(failed[:3])],
            )
            await asyncio.sleep(0.001)

    async def reports() -> None:
        for _ in range(15):
            await asyncio.gather(*(tally.refresh(school_id) for _ in range(3)))

    await asyncio.gather(worker(), reports())
    await tally.refresh(school_id)
    assert await _tallies(school_id) == await _from_scratch(school_id)
    report = await delivery_report(school_id, AUTUMN, now=NOW)
    assert report.funnel[1].count == 40 + 1  # two families in three reached by a second email; the first one now
