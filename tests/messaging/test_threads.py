"""Reply threads (hub.messaging.threads) on the demo school: one household's conversation per message, who among staff
reads it, when the school promises an answer, and the staff digest sent only inside staff hours (real SMTP)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from channels.email import EmailAdapter, EmailSettings
from channels.peers.smtp import SmtpPeer
from charter import default_charter, expected_reply_by
from hub.enums import ActorKind, AudienceKind, ConsentPurpose, ConsentSource, ContactKind, GroupKind, StaffRole
from hub.messaging import access, threads
from hub.messaging.models import Message, MessageAudience, Notice, ThreadPost
from hub.messaging.planning import publish
from hub.people.consent import give_consent
from hub.people.models import Contact, Guardian, Guardianship, Membership, Staff, Teaching
from hub.store import db

BRUSSELS = default_charter().tz
#: Monday 23 November 2026, a school day.
MONDAY = dt.date(2026, 11, 23)
SUBJECT = "Sortie au théâtre de Namur"


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), BRUSSELS).astimezone(dt.UTC)


@dataclass
class Family:
    """A class message that reached a separated family: one household of two adults, and the other parent."""

    message_id: int
    author_id: int
    class_id: int
    #: Two guardians living together, and the parent of the other household, with their notices.
    home: tuple[int, int]
    other: int
    notices: dict[int, int]
    #: A teacher of the class other than the sender, and a teacher who neither teaches the class nor the pupil.
    colleague_id: int
    outsider_id: int
    principal_id: int


async def separated_family(now: dt.datetime) -> Family:
    """Publish a message to the class of a pupil whose guardians live in two households, one of them with two
    adults, written by the class's titulaire; the people the thread tests need, read from the demo school."""
    homes: dict[int, dict[int | None, set[int]]] = defaultdict(lambda: defaultdict(set))
    links = await Guardianship.filter(receives=True, barred=False, guardian__erased_at__isnull=True).values_list(
        "pupil_id", "guardian_id", "guardian__household_id"
    )
    for pupil_id, guardian_id, household_id in links:
        homes[pupil_id][household_id].add(guardian_id)
    pupil_id, households = next(
        (p, h)
        for p, h in sorted(homes.items())
        if len(h) == 2 and None not in h and sorted(len(g) for g in h.values()) == [1, 2]
    )
    shared = next(g for g in households.values() if len(g) == 2)
    alone = next(g for g in households.values() if len(g) == 1)
    klass = await Membership.filter(pupil_id=pupil_id, group__kind=GroupKind.CLASS).values_list("group_id", flat=True)
    class_id = klass[0]
    titular = await Teaching.filter(group_id=class_id, is_titular=True).values_list("staff_id", flat=True)
    author_id = titular[0]
    colleague_id = (
        await Teaching.filter(group_id=class_id).exclude(staff_id=author_id).values_list("staff_id", flat=True)
    )
    pupil_groups = await Membership.filter(pupil_id=pupil_id).values_list("group_id", flat=True)
    busy = set(await Teaching.filter(group_id__in=pupil_groups).values_list("staff_id", flat=True))
    outsider = (
        await Staff.filter(roles__role=StaffRole.TEACHER, active=True)
        .exclude(id__in=busy)
        .exclude(roles__role__in=list(access.WHOLE_SCHOOL_ROLES))
        .order_by("id")
        .first()
    )
    principal = await Staff.filter(roles__role=StaffRole.PRINCIPAL).first()
    assert outsider is not None and principal is not None
    message = await Message.create(
        school_id=(await Staff.get(id=author_id)).school_id,  # type: ignore[attr-defined]
        author_id=author_id,
        subject=SUBJECT,
        body="Le vendredi 4 décembre, la classe assistera à une représentation.",
    )
    await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group_id=class_id)
    await publish(message.id, now=now, actor_staff_id=author_id)
    notices = dict(await Notice.filter(message_id=message.id).values_list("guardian_id", "id"))
    return Family(
        message_id=message.id,
        author_id=author_id,
        class_id=class_id,
        home=tuple(sorted(shared)),  # type: ignore[arg-type]
        other=next(iter(alone)),
        notices=notices,
        colleague_id=colleague_id[0],
        outsider_id=outsider.id,
        principal_id=principal.id,
    )


async def staff_reader(staff_id: int) -> threads.Reader:
    staff = await Staff.get(id=staff_id)
    roles = frozenset(StaffRole(r) for r in await staff.roles.all().values_list("role", flat=True))
    return threads.Reader(ActorKind.STAFF, staff_id, roles, staff.school_id)  # type: ignore[attr-defined]


def guardian(guardian_id: int) -> threads.Reader:
    return threads.Reader(ActorKind.GUARDIAN, guardian_id)


@pytest.fixture
async def family(demo_db_url: str) -> AsyncIterator[Family]:
    await db.init(demo_db_url)
    try:
        yield await separated_family(local(MONDAY, 9))
    finally:
        await db.close()


async def test_the_household_shares_its_thread_and_the_other_household_never_sees_it(family: Family) -> None:
    charter = default_charter()
    first, second = family.home
    mine, theirs, other = (family.notices[g] for g in (first, second, family.other))
    await threads.post_as_guardian(mine, first, "  Notre fille a une allergie\r\nau pollen.  ", local(MONDAY, 10))
    answer_to = await staff_reader(family.author_id)
    await threads.post_as_staff(mine, answer_to, "Merci, c'est noté.", local(MONDAY, 11))

    seen_by_partner = await threads.thread_view(theirs, guardian(second), local(MONDAY, 12), charter)
    assert seen_by_partner is not None
    assert [p.body for p in seen_by_partner.posts] == ["Notre fille a une allergie\nau pollen.", "Merci, c'est noté."]
    assert [p.by_staff for p in seen_by_partner.posts] == [False, True]

    seen_by_other = await threads.thread_view(other, guardian(family.other), local(MONDAY, 12), charter)
    assert seen_by_other is not None and seen_by_other.posts == ()
    assert await threads.thread_view(mine, guardian(family.other), local(MONDAY, 12), charter) is None
    with pytest.raises(threads.ReplyError) as refused:
        await threads.post_as_guardian(mine, family.other, "Et moi ?", local(MONDAY, 12))
    assert refused.value.code == "unknown_notice"
    assert await ThreadPost.filter(notice_id__in=[mine, theirs, other]).count() == 2


async def test_a_household_member_barred_for_a_pupil_does_not_read_that_pupils_thread(family: Family) -> None:
    first, second = family.home
    await threads.post_as_guardian(family.notices[first], first, "Question", local(MONDAY, 10))
    await Guardianship.filter(guardian_id=second).update(barred=True)
    view = await threads.thread_view(family.notices[second], guardian(second), local(MONDAY, 12), default_charter())
    assert view is not None and view.posts == ()


async def test_the_sender_the_class_teachers_and_the_direction_read_it_a_teacher_of_another_class_does_not(
    family: Family,
) -> None:
    first = family.home[0]
    notice = family.notices[first]
    await threads.post_as_guardian(notice, first, "Bonjour", local(MONDAY, 10))
    for staff_id in (family.author_id, family.colleague_id, family.principal_id):
        reader = await staff_reader(staff_id)
        assert [e.notice_id for e in await threads.inbox(reader)] == [notice]
        assert await threads.thread_view(notice, reader, local(MONDAY, 10), default_charter()) is not None
    outsider = await staff_reader(family.outsider_id)
    assert await threads.inbox(outsider) == []
    assert await threads.thread_view(notice, outsider, local(MONDAY, 10), default_charter()) is None
    assert await threads.mark_read(notice, outsider, local(MONDAY, 10)) == 0
    with pytest.raises(threads.ReplyError):
        await threads.post_as_staff(notice, outsider, "Je réponds", local(MONDAY, 10))
    assert await ThreadPost.filter(notice_id=notice).count() == 1


async def test_the_set_rule_matches_the_one_message_rule(family: Family) -> None:
    """hub.messaging.threads.visible_message_ids is hub.messaging.access.staff_message for many messages at once."""
    messages = await Message.all().values_list("id", flat=True)
    for staff_id in (family.author_id, family.colleague_id, family.outsider_id, family.principal_id):
        reader = await staff_reader(staff_id)
        one_by_one = {
            m for m in messages if await access.staff_message(staff_id, reader.roles, reader.school_id, m) is not None
        }
        assert await threads.visible_message_ids(reader, messages) == one_by_one


async def test_the_inbox_lists_unread_threads_first_and_opening_marks_them_read(family: Family) -> None:
    (first, _), other = family.home, family.other
    await threads.post_as_guardian(family.notices[first], first, "Une", local(MONDAY, 10))
    await threads.post_as_guardian(family.notices[other], other, "Deux", local(MONDAY, 11))
    teacher = await staff_reader(family.colleague_id)
    entries = await threads.inbox(teacher)
    assert [e.notice_id for e in entries] == [family.notices[other], family.notices[first]]  # the most recent first
    assert await threads.mark_read(family.notices[other], teacher, local(MONDAY, 12)) == 1
    entries = await threads.inbox(teacher)
    assert [(e.notice_id, e.unread) for e in entries] == [(family.notices[first], 1), (family.notices[other], 0)]
    await threads.post_as_staff(family.notices[first], teacher, "Réponse", local(MONDAY, 13))
    answered = {e.notice_id: e for e in await threads.inbox(teacher)}[family.notices[first]]
    assert answered.unread == 0 and answered.answered


async def test_the_guardian_is_told_when_the_school_will_answer(family: Family) -> None:
    charter = default_charter()
    first = family.home[0]
    notice = family.notices[first]
    late = local(MONDAY, 22)
    before = await threads.thread_view(notice, guardian(first), late, charter)
    assert before is not None and before.waiting_since is None and not before.staff_open
    assert before.staff_opens_at == local(MONDAY + dt.timedelta(days=1), 8)
    assert before.answer_by == expected_reply_by(charter, late)
    await threads.post_as_guardian(notice, first, "Question du soir", late)
    after = await threads.thread_view(notice, guardian(first), local(MONDAY + dt.timedelta(days=1), 9), charter)
    assert after is not None and after.waiting_since == late
    # Received on Tuesday morning (staff disconnect at night), two school days later: Thursday at 17:30.
    assert after.answer_by == local(MONDAY + dt.timedelta(days=3), 17, 30) == expected_reply_by(charter, late)
    await threads.post_as_staff(notice, await staff_reader(family.author_id), "Réponse", local(MONDAY, 23))
    answered = await threads.thread_view(notice, guardian(first), local(MONDAY, 23), charter)
    assert answered is not None and answered.waiting_since is None


@pytest.mark.parametrize(
    ("body", "code"), [("", "empty"), (" \n\t ", "empty"), ("\x00\x07", "empty"), ("x" * 4001, "too_long")]
)
async def test_an_empty_or_too_long_post_is_refused_and_nothing_is_stored(family: Family, body: str, code: str) -> None:
    first = family.home[0]
    with pytest.raises(threads.ReplyError) as refused:
        await threads.post_as_guardian(family.notices[first], first, body, local(MONDAY, 10))
    assert refused.value.code == code
    with pytest.raises(threads.ReplyError) as refused:
        await threads.post_as_staff(
            family.notices[first], await staff_reader(family.author_id), body, local(MONDAY, 10)
        )
    assert refused.value.code == code
    assert await ThreadPost.all().count() == 0


async def test_followers_are_the_sender_and_the_teachers_of_the_class(family: Family) -> None:
    told = (await threads.followers([family.message_id]))[family.message_id]
    teachers = set(await Teaching.filter(group_id=family.class_id).values_list("staff_id", flat=True))
    assert told == teachers | {family.author_id}
    assert family.outsider_id not in told and family.principal_id not in told


async def test_staff_are_told_by_one_digest_each_only_inside_staff_hours(family: Family) -> None:
    charter = default_charter()
    (first, second), other = family.home, family.other
    night = local(MONDAY, 22)
    await threads.post_as_guardian(family.notices[first], first, "Texte privé numéro un", night)
    await threads.post_as_guardian(family.notices[second], second, "Texte privé numéro deux", night)
    await threads.post_as_guardian(family.notices[other], other, "Texte privé numéro trois", night)
    peer = SmtpPeer().start()
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port, sender="Carnet <carnet@example.be>"))
    try:
        assert await threads.notify_staff(night, charter, adapter.send, base_url="https://carnet.example.be") == 0
        assert peer.mailbox.messages == []
        assert await ThreadPost.filter(staff_notified_at__isnull=False).count() == 0

        morning = local(MONDAY + dt.timedelta(days=1), 8)
        told = (await threads.followers([family.message_id]))[family.message_id]
        sent = await threads.notify_staff(morning, charter, adapter.send, base_url="https://carnet.example.be")
        assert sent == len(told) == len(peer.mailbox.messages)
        assert await ThreadPost.filter(staff_notified_at=morning).count() == 3

        author = await Staff.get(id=family.author_id)
        (mail,) = peer.mailbox.to(author.email)
        text = str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        assert SUBJECT in text
        for guardian_id in (first, second, other):
            g = await Guardian.get(id=guardian_id)
            assert f"{g.first_name} {g.last_name}" in text
            assert f"https://carnet.example.be/staff/inbox/{family.notices[guardian_id]}" in text
        assert "Texte privé" not in text  # the email names the thread, never the family's words
        assert "(3)" in str(mail["Subject"])

        assert await threads.notify_staff(morning, charter, adapter.send) == 0  # told once
        assert len(peer.mailbox.messages) == sent
    finally:
        await adapter.close()
        peer.stop()


async def _reachable_by_email(guardian_id: int, at: dt.datetime) -> str:
    """The guardian's verified email address (one is added when the demo gave none), and the consents email
    needs."""
    g = await Guardian.get(id=guardian_id)
    for purpose in (ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.EMAIL):
        await give_consent(g, purpose, version="test", source=ConsentSource.PORTAL, at=at)
    found = (
        await Contact.filter(guardian_id=guardian_id, kind=ContactKind.EMAIL, verified=True, dead_at__isnull=True)
        .order_by("id")
        .first()
    )
    if found is None:
        found = await Contact.create(
            guardian_id=guardian_id, kind=ContactKind.EMAIL, value=f"parent{guardian_id}@example.be", verified=True
        )
    return found.value


async def test_the_family_is_emailed_the_schools_answer_only_when_the_charter_allows(family: Family) -> None:
    charter = default_charter()
    (first, second), other = family.home, family.other
    addresses = {g: await _reachable_by_email(g, local(MONDAY, 9)) for g in (first, second, other)}
    await threads.post_as_guardian(family.notices[first], first, "Question", local(MONDAY, 9))
    teacher = await staff_reader(family.author_id)
    peer = SmtpPeer().start()
    adapter = EmailAdapter(EmailSettings(host="127.0.0.1", port=peer.port, sender="Carnet <carnet@example.be>"))
    try:
        late = await threads.post_as_staff(family.notices[first], teacher, "Réponse du soir", local(MONDAY, 22))
        assert await threads.notify_family(late.id, local(MONDAY, 22), charter, adapter.send, base_url="") == 0
        assert peer.mailbox.messages == []

        # The night's answer waited: the worker announces it once the charter allows, once.
        morning = local(MONDAY + dt.timedelta(days=1), 8)
        assert await threads.notify_families(morning, charter, adapter.send, base_url="https://c.be") == 1
        assert await threads.notify_families(morning, charter, adapter.send, base_url="https://c.be") == 0
        assert len(peer.mailbox.messages) == 1
        peer.mailbox.messages.clear()

        answer = await threads.post_as_staff(family.notices[first], teacher, "Réponse", local(MONDAY, 10))
        told = await threads.notify_family(answer.id, local(MONDAY, 10), charter, adapter.send, base_url="https://c.be")
        assert told == 1  # the guardian who wrote; not the partner, never the other household
        assert await threads.notify_family(answer.id, local(MONDAY, 10), charter, adapter.send, base_url="") == 0
        (mail,) = peer.mailbox.messages
        assert str(mail["To"]) == addresses[first]
        token = (await Notice.get(id=family.notices[first])).token
        text = str(mail.get_body(preferencelist=("plain",)).get_content())  # type: ignore[union-attr]
        assert f"https://c.be/n/{token}/reply" in text and SUBJECT in text
        assert "Réponse" not in text.replace(SUBJECT, "")  # a link to the answer, not its words

        # Stored as hub.people.account stores them: wall-clock times labelled UTC; 09:00-12:00 on the school's clock.
        await Guardian.filter(id=first).update(
            quiet_from=dt.time(9, tzinfo=dt.UTC), quiet_until=dt.time(12, tzinfo=dt.UTC)
        )
        assert await threads.notify_family(answer.id, local(MONDAY, 10), charter, adapter.send, base_url="") == 0
        assert len(peer.mailbox.messages) == 1
    finally:
        await adapter.close()
        peer.stop()


def test_a_guardians_quiet_hours_are_read_on_the_schools_clock() -> None:
    charter = default_charter()
    # As the database gives them back: wall-clock times labelled UTC (hub.people.account stores them so).
    night_owl = Guardian(quiet_from=dt.time(21, 30, tzinfo=dt.UTC), quiet_until=dt.time(7, tzinfo=dt.UTC))
    assert threads.in_quiet_hours(night_owl, local(MONDAY, 22), charter)
    assert threads.in_quiet_hours(night_owl, local(MONDAY, 6, 59), charter)
    assert not threads.in_quiet_hours(night_owl, local(MONDAY, 7), charter)
    assert not threads.in_quiet_hours(Guardian(), local(MONDAY, 22), charter)
