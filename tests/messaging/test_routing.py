"""Property tests of the pure routing rules over generated schools, with the default charter and random instants
from 2026 to 2028."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from charter import default_charter, is_allowed
from hub.enums import (
    CHANNEL_CONSENT,
    CHANNEL_CONTACT,
    AnswerMode,
    Channel,
    ConsentPurpose,
    ContactKind,
    DeliveryState,
    Urgency,
)
from hub.messaging.routing import (
    STATE_RANK,
    ContactInfo,
    GuardianLink,
    GuardianProfile,
    can_move,
    channel_plan,
    contact_for,
    escalation_due,
    first_active_step,
    initial_due,
    needs_reminder,
    next_step,
    over_daily_limit,
    reminder_times,
    resolve_notices,
    sms_preview,
    spread_release,
)
from hub.people.preferences import DEFAULT_CHANNEL_ORDER

CHARTER = default_charter()
ELECTRONIC = frozenset(c for c in Channel if c is not Channel.LETTER)
START = datetime(2026, 1, 1, tzinfo=UTC)

instants = st.integers(0, 3 * 365 * 24 * 60).map(lambda minutes: START + timedelta(minutes=minutes))
urgencies = st.sampled_from(list(Urgency))


@st.composite
def schools(draw: st.DrawFn) -> tuple[list[int], list[GuardianLink]]:
    """Pupils and guardianships: families of 1-4 children with 1-3 guardians in 1-2 households, with random
    receive/answer/bar flags, and a guardian shared between families now and then."""
    pupils: list[int] = []
    links: list[GuardianLink] = []
    next_pupil, next_guardian = 1, 100
    for family in range(draw(st.integers(1, 6))):
        children = list(range(next_pupil, next_pupil + draw(st.integers(1, 4))))
        next_pupil += len(children)
        pupils += children
        guardians = list(range(next_guardian, next_guardian + draw(st.integers(1, 3))))
        next_guardian += len(guardians)
        if links and draw(st.booleans()):
            guardians.append(draw(st.sampled_from(sorted({link.guardian_id for link in links}))))
        for guardian in guardians:
            household = family * 10 + draw(st.integers(0, 1))  # separated parents: two households
            for child in children:
                if draw(st.integers(0, 9)) == 0:
                    continue  # not every guardian of a family is linked to every child
                links.append(
                    GuardianLink(
                        pupil_id=child,
                        guardian_id=guardian,
                        household_id=household,
                        receives=draw(st.integers(0, 5)) > 0,
                        may_answer=draw(st.booleans()),
                        barred=draw(st.integers(0, 5)) == 0,
                    )
                )
    return pupils, links


contacts = st.builds(
    ContactInfo,
    kind=st.sampled_from(list(ContactKind)),
    value=st.text(min_size=1, max_size=8),
    verified=st.booleans(),
    dead=st.booleans(),
)
profiles = st.builds(
    GuardianProfile,
    guardian_id=st.integers(1, 1000),
    contacts=st.lists(contacts, max_size=6).map(tuple),
    consents=st.frozensets(st.sampled_from(list(ConsentPurpose))),
    preferences=st.lists(st.sampled_from(list(Channel)), unique=True).map(tuple),
)
available = st.frozensets(st.sampled_from(sorted(ELECTRONIC)))


# --------------------------------------------------------------------------------------------- the audience


@given(schools(), st.data())
def test_one_notice_per_receiving_guardian_never_naming_a_barred_pupil(school, data) -> None:
    pupils, links = school
    audience = data.draw(st.sets(st.sampled_from(pupils)))
    notices = resolve_notices(audience, links)
    expected: dict[int, set[int]] = defaultdict(set)
    for link in links:
        if link.pupil_id in audience and link.receives and not link.barred:
            expected[link.guardian_id].add(link.pupil_id)
    assert {g: set(p) for g, p in notices.items()} == expected  # one entry per guardian, exactly their pupils
    barred = {(link.guardian_id, link.pupil_id) for link in links if link.barred}
    for guardian, named in notices.items():
        assert named, "a notice names at least one pupil"
        assert named <= audience
        assert not any((guardian, pupil) in barred for pupil in named)
    for guardian in {link.guardian_id for link in links}:
        own = [link for link in links if link.guardian_id == guardian and link.pupil_id in audience]
        if own and all(link.barred for link in own):
            assert guardian not in notices


def test_siblings_separated_parents_and_a_bar() -> None:
    links = [
        *(GuardianLink(pupil, 1, household_id=10) for pupil in (1, 2, 3)),  # mother, three children
        *(GuardianLink(pupil, 2, household_id=11) for pupil in (1, 2, 3)),  # father, elsewhere
        GuardianLink(1, 3, household_id=11, barred=True),  # step-father barred for the eldest only
        GuardianLink(2, 3, household_id=11),
        GuardianLink(3, 4, household_id=12, barred=True),  # barred for their only pupil
    ]
    notices = resolve_notices([1, 2, 3], links)
    assert notices == {1: frozenset({1, 2, 3}), 2: frozenset({1, 2, 3}), 3: frozenset({2})}


# -------------------------------------------------------------------------------------------------- the plan


@given(profiles, available, urgencies)
def test_every_plan_ends_with_one_letter_and_uses_only_reachable_consented_channels(profile, channels, urgency) -> None:
    plan = channel_plan(profile, available_channels=channels, urgency=urgency)
    assert plan[-1] is Channel.LETTER
    assert plan.count(Channel.LETTER) == 1
    assert len(set(plan)) == len(plan)
    for channel in plan[:-1]:
        assert channel in channels
        assert ConsentPurpose.SCHOOL_MESSAGES in profile.consents
        if channel is Channel.PORTAL:
            assert plan.index(channel) == 0
            continue
        assert CHANNEL_CONSENT[channel] in profile.consents
        contact = contact_for(profile, channel)
        assert contact is not None and contact.verified and not contact.dead
        assert contact.kind is CHANNEL_CONTACT[channel]
    if urgency is Urgency.EMERGENCY and Channel.SMS in plan:
        assert plan.index(Channel.SMS) == first_active_step(plan)


def reachable(*channels: Channel) -> GuardianProfile:
    kinds = {CHANNEL_CONTACT[c] for c in channels if c in CHANNEL_CONTACT}
    return GuardianProfile(
        guardian_id=1,
        contacts=tuple(ContactInfo(kind, f"{kind}-1") for kind in kinds),
        consents=frozenset(
            {ConsentPurpose.SCHOOL_MESSAGES, *(CHANNEL_CONSENT[c] for c in channels if c in CHANNEL_CONSENT)}
        ),
    )


def test_default_order_portal_first_letter_last() -> None:
    plan = channel_plan(reachable(*DEFAULT_CHANNEL_ORDER), available_channels=ELECTRONIC)
    assert plan == (*DEFAULT_CHANNEL_ORDER, Channel.LETTER)


def test_no_electronic_consent_means_paper_only() -> None:
    profile = reachable(Channel.EMAIL)
    profile = GuardianProfile(guardian_id=1, contacts=profile.contacts, consents=frozenset({ConsentPurpose.EMAIL}))
    assert channel_plan(profile, available_channels=ELECTRONIC) == (Channel.LETTER,)


def test_dead_or_unverified_contacts_and_missing_processor_consent_are_skipped() -> None:
    profile = GuardianProfile(
        guardian_id=1,
        contacts=(
            ContactInfo(ContactKind.EMAIL, "a@b.be", dead=True),
            ContactInfo(ContactKind.PHONE, "+32470000000", verified=False),
            ContactInfo(ContactKind.TELEGRAM, "42"),  # consent to Telegram (outside the EU) missing
            ContactInfo(ContactKind.FCM, "token"),
        ),
        consents=frozenset(
            {ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.EMAIL, ConsentPurpose.SMS, ConsentPurpose.FCM}
        ),
    )
    assert channel_plan(profile, available_channels=ELECTRONIC) == (Channel.PORTAL, Channel.FCM, Channel.LETTER)


def test_preferences_order_and_emergency_sms_first() -> None:
    base = reachable(Channel.EMAIL, Channel.TELEGRAM, Channel.SMS)
    profile = GuardianProfile(
        guardian_id=1,
        contacts=base.contacts,
        consents=base.consents,
        preferences=(Channel.TELEGRAM, Channel.LETTER, Channel.EMAIL, Channel.PORTAL),
    )
    assert channel_plan(profile, available_channels=ELECTRONIC) == (
        Channel.PORTAL,
        Channel.TELEGRAM,
        Channel.EMAIL,
        Channel.LETTER,
    )
    assert channel_plan(profile, available_channels=ELECTRONIC, urgency=Urgency.EMERGENCY) == (
        Channel.PORTAL,
        Channel.SMS,
        Channel.TELEGRAM,
        Channel.EMAIL,
        Channel.LETTER,
    )
    no_sms = ELECTRONIC - {Channel.SMS}
    assert Channel.SMS not in channel_plan(profile, available_channels=no_sms, urgency=Urgency.EMERGENCY)


# ---------------------------------------------------------------------------------------------- the schedule


@given(instants, st.one_of(st.none(), instants), urgencies)
def test_initial_due_is_never_in_quiet_hours_nor_early(now, scheduled_at, urgency) -> None:
    due = initial_due(CHARTER, now, urgency, scheduled_at)
    assert due >= now
    if scheduled_at is not None:
        assert due >= scheduled_at
    assert is_allowed(CHARTER, due, urgency)
    if urgency is Urgency.EMERGENCY:
        assert due == max(now, scheduled_at or now)


@given(instants, st.sampled_from([Urgency.NORMAL, Urgency.URGENT]), st.integers(1, 500), st.data())
def test_spread_release_stays_allowed_and_ordered(now, urgency, total, data) -> None:
    due = initial_due(CHARTER, now, urgency)
    index = data.draw(st.integers(0, total - 1))
    at = spread_release(CHARTER, due, index, total, urgency)
    assert due <= at <= due + timedelta(minutes=CHARTER.release_spread_minutes)
    assert is_allowed(CHARTER, at, urgency)
    if index + 1 < total:
        assert at <= spread_release(CHARTER, due, index + 1, total, urgency)


def test_friday_night_is_held_until_monday_morning() -> None:
    friday_night = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)  # 22:00 in Brussels
    assert initial_due(CHARTER, friday_night, Urgency.NORMAL) == datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
    assert initial_due(CHARTER, friday_night, Urgency.EMERGENCY) == friday_night


def test_daily_limit() -> None:
    limit = CHARTER.max_non_urgent_per_day
    assert not over_daily_limit(CHARTER, limit - 1)
    assert over_daily_limit(CHARTER, limit)
    assert not over_daily_limit(CHARTER, limit + 5, Urgency.URGENT)
    assert not over_daily_limit(CHARTER, limit + 5, Urgency.EMERGENCY)


# -------------------------------------------------------------------------------------------- the escalation


@given(profiles, urgencies, st.integers(0, 10))
def test_an_acknowledged_notice_never_escalates(profile, urgency, step) -> None:
    plan = channel_plan(profile, available_channels=ELECTRONIC, urgency=urgency)
    assert next_step(plan, step, acknowledged=True) is None


@given(profiles, urgencies)
def test_escalation_walks_the_plan_to_the_letter_and_stops(profile, urgency) -> None:
    plan = channel_plan(profile, available_channels=ELECTRONIC, urgency=urgency)
    step: int | None = first_active_step(plan)
    seen = []
    while step is not None:
        seen.append(plan[step])
        step = next_step(plan, step, acknowledged=False)
    assert seen[-1] is Channel.LETTER
    assert seen == [c for c in plan if c is not Channel.PORTAL]


@given(instants, st.integers(0, 72), urgencies)
def test_escalation_due_is_after_the_wait_and_allowed(sent_at, hours, urgency) -> None:
    due = escalation_due(CHARTER, sent_at, timedelta(hours=hours), urgency)
    assert due >= sent_at + timedelta(hours=hours)
    assert is_allowed(CHARTER, due, urgency)


@given(st.sampled_from(list(DeliveryState)), st.sampled_from(list(DeliveryState)))
def test_can_move_never_goes_backward(old, new) -> None:
    if can_move(old, new):
        assert STATE_RANK[new] > STATE_RANK[old]
        assert old not in (DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.CANCELLED)
    if old == new:
        assert not can_move(old, new)


def test_late_callbacks_do_not_move_back() -> None:
    assert can_move(DeliveryState.SENT, DeliveryState.DELIVERED)
    assert not can_move(DeliveryState.DELIVERED, DeliveryState.SENT)
    assert not can_move(DeliveryState.SENT, DeliveryState.CLAIMED)
    assert not can_move(DeliveryState.CANCELLED, DeliveryState.DUE)
    assert can_move(DeliveryState.SENT, DeliveryState.FAILED)  # a bounce after acceptance


# --------------------------------------------------------------------------------------------- the reminders


@given(instants, st.lists(st.integers(0, 240), max_size=5), instants, urgencies)
def test_reminders_are_between_now_and_the_deadline_and_allowed(deadline, hours, now, urgency) -> None:
    times = reminder_times(CHARTER, deadline, hours, now, urgency)
    assert times == sorted(set(times))
    for at in times:
        assert now <= at < deadline
        assert is_allowed(CHARTER, at, urgency)
    assert len(times) <= len(hours)


@given(
    st.sampled_from(list(AnswerMode)),
    st.frozensets(st.integers(1, 6), min_size=1),
    st.frozensets(st.integers(1, 6)),
    st.frozensets(st.integers(100, 104)),
    st.integers(100, 104),
)
def test_no_reminder_once_the_answer_is_in(mode, pupils, answered_pupils, answered_guardians, guardian) -> None:
    needed = needs_reminder(mode, set(answered_pupils), set(answered_guardians), pupils, guardian)
    if mode is AnswerMode.ONE_PER_PUPIL:
        assert needed == (not pupils <= answered_pupils)
        assert not needs_reminder(mode, set(pupils), set(), pupils, guardian)
    else:
        assert needed == (guardian not in answered_guardians)
        assert not needs_reminder(mode, set(), {guardian}, pupils, guardian)


def test_reminder_pushed_out_of_quiet_hours_or_dropped() -> None:
    deadline = datetime(2026, 12, 2, 22, 0, tzinfo=UTC)  # Wednesday 23:00 in Brussels
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    # 24h before: Tuesday 23:00, pushed to Wednesday 07:30; 1h before: 22:00 is quiet, next window is Thursday.
    assert reminder_times(CHARTER, deadline, [24, 1], now) == [datetime(2026, 12, 2, 6, 30, tzinfo=UTC)]
    assert reminder_times(CHARTER, deadline, [200], now) == []  # before now


def test_sms_preview() -> None:
    count, cost = sms_preview("Sortie annulée demain.", 10)
    assert count.segments == 1
    assert cost == Decimal("0.7500")
    count, cost = sms_preview("l’école", 2, Decimal("0.10"))
    assert count.encoding == "UCS-2"
    assert cost == Decimal("0.20")
