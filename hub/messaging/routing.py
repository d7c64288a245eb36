"""The routing rules: who gets a notice, on which channels, when, and what happens next.

Everything here is pure: plain frozen dataclasses in, plain values out, no database, no I/O, and the clock is
always passed in. ``hub.messaging.planning`` loads rows, turns them into these values, and stores what comes back.

The portal. Every guardian who accepts electronic messages has an inbox on the web portal: the notice *is* the
inbox entry, so the portal needs no contact and cannot fail. It is passive, though: nobody is alerted by a
message sitting in an inbox. So a plan always starts with :attr:`Channel.PORTAL` as step 0 when the guardian
consented to electronic messages (``hub.messaging.planning`` records that step DELIVERED the moment the notice is
created), then lists the *active* channels, the ones that reach the guardian (email, push, Telegram, SMS), and
always ends with :attr:`Channel.LETTER`. Escalation and fallback walk the plan from the first active step; the
portal step never waits for anything. Keeping the portal in the plan keeps ``Delivery.step`` an index into
``Notice.plan`` without exceptions.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from charter import Charter, next_allowed, release_time
from hub.enums import (
    CHANNEL_CONSENT,
    CHANNEL_CONTACT,
    AnswerMode,
    Category,
    Channel,
    ConsentPurpose,
    ContactKind,
    DeliveryState,
    Language,
    Urgency,
)
from hub.messaging.sms_segments import SegmentCount, count_segments, estimate_cost
from hub.people.optout_rules import Stop, stopped_channels
from hub.people.preferences import DEFAULT_CHANNEL_ORDER, QuietHours

__all__ = [
    "DEFAULT_SMS_PRICE",
    "RECORD_CATEGORIES",
    "ContactInfo",
    "GuardianLink",
    "GuardianProfile",
    "after_quiet_hours",
    "can_move",
    "channel_plan",
    "contact_for",
    "digest_key",
    "digest_placement",
    "escalation_due",
    "first_active_step",
    "initial_due",
    "is_pending",
    "local_day",
    "needs_reminder",
    "next_step",
    "over_daily_limit",
    "records_only",
    "reminder_times",
    "resolve_notices",
    "sms_preview",
    "spread_release",
    "start_of_day",
]

#: A typical Belgian price per SMS segment through Twilio, in euro; the school configures its own.
DEFAULT_SMS_PRICE = Decimal("0.0750")


# ------------------------------------------------------------------------------------------------ the values


@dataclass(frozen=True)
class GuardianLink:
    """One guardianship: the rights of one guardian over one pupil."""

    pupil_id: int
    guardian_id: int
    household_id: int | None = None
    receives: bool = True
    may_answer: bool = True
    barred: bool = False
    #: May see the pupil's records: notices about records (absences, grades, report cards, the journal) go only
    #: to those who may.
    sees_records: bool = True


@dataclass(frozen=True)
class ContactInfo:
    kind: ContactKind
    value: str
    verified: bool = True
    dead: bool = False
    #: The row's id, so that a delivery can name the contact it used; None in pure tests.
    contact_id: int | None = None

    @property
    def usable(self) -> bool:
        return self.verified and not self.dead


@dataclass(frozen=True)
class GuardianProfile:
    guardian_id: int
    language: Language = Language.FR
    contacts: tuple[ContactInfo, ...] = ()
    #: The purposes currently consented to (withdrawn consents are left out by the caller).
    consents: frozenset[ConsentPurpose] = field(default_factory=frozenset)
    #: The enabled channel preferences, rank 1 first; empty means "no preference".
    preferences: tuple[Channel, ...] = ()
    #: The guardian's own quiet hours, None when they set none.
    quiet: QuietHours | None = None
    #: The topics the guardian stopped: (topic, channel), the channel None for every channel.
    opt_outs: frozenset[Stop] = field(default_factory=frozenset)


# ---------------------------------------------------------------------------------------------- the audience


#: The categories of notices about a pupil's records: they reach only guardians who may see records.
RECORD_CATEGORIES = frozenset({Category.ABSENCE, Category.GRADES, Category.REPORT_CARD, Category.JOURNAL})


def records_only(links: Iterable[GuardianLink]) -> list[GuardianLink]:
    """The links of a notice about records (a grades bundle, report cards): only guardians with the records
    right (``Guardianship.sees_records``, the rule of :mod:`hub.records.visibility`) hear of them."""
    return [link for link in links if link.sees_records]


def resolve_notices(pupil_ids: Iterable[int], links: Iterable[GuardianLink]) -> dict[int, frozenset[int]]:
    """Who gets a notice and which pupils it names: ``{guardian_id: pupils}``.

    One notice per guardian, never one per child: a guardian receives for every audience pupil they are linked
    to, receive and are not barred for. A court bar is per pupil: barred for one child but not for a sibling,
    the guardian gets a notice naming only the sibling; barred for all, no notice. Separated parents are two
    guardians and so get two notices. Inactive pupils must be left out by the caller.
    """
    audience = set(pupil_ids)
    found: dict[int, set[int]] = {}
    for link in links:
        if link.pupil_id in audience and link.receives and not link.barred:
            found.setdefault(link.guardian_id, set()).add(link.pupil_id)
    return {guardian: frozenset(pupils) for guardian, pupils in found.items()}


# -------------------------------------------------------------------------------------------------- the plan


def contact_for(profile: GuardianProfile, channel: Channel) -> ContactInfo | None:
    """The first verified, live contact ``channel`` can use; None if there is none or the channel needs none."""
    kind = CHANNEL_CONTACT.get(channel)
    if kind is None:
        return None
    return next((c for c in profile.contacts if c.kind is kind and c.usable), None)


def _electronic_ok(profile: GuardianProfile, channel: Channel, available: frozenset[Channel]) -> bool:
    """Whether ``channel`` may carry a notice to this guardian: configured, consented, and reachable."""
    if channel not in available or ConsentPurpose.SCHOOL_MESSAGES not in profile.consents:
        return False
    if channel is Channel.PORTAL:
        return True  # the inbox needs no contact and no consent beyond electronic messages at all
    purpose = CHANNEL_CONSENT.get(channel)
    if purpose is None or purpose not in profile.consents:
        return False
    return contact_for(profile, channel) is not None


def channel_plan(
    profile: GuardianProfile,
    *,
    available_channels: frozenset[Channel],
    urgency: Urgency = Urgency.NORMAL,
    category: Category = Category.INFORMATION,
) -> tuple[Channel, ...]:
    """The ordered channels to try for one notice, always ending with the letter, each at most once.

    The guardian's preferred order (or :data:`DEFAULT_CHANNEL_ORDER`), keeping only the channels the school has
    configured, for which the guardian has a verified live contact, and which have consent: SCHOOL_MESSAGES
    for anything electronic, plus the channel's own purpose. The portal, if kept, is step 0 whatever its rank
    (it is the inbox, "delivered" at once, see the module's note). For an emergency, SMS moves to the first
    active step, even if the guardian did not list it, as long as it is configured, consented and possible:
    it is what people see at once.

    The guardian's opt-outs (``profile.opt_outs``) take the channels on which they stopped the message's topic
    out of the plan (never for absences, emergencies or the urgency EMERGENCY: :mod:`hub.people.optout_rules`).
    What replaces a stopped channel is the portal: when a stop leaves no active channel, the plan is the portal
    alone, the notice waits in the inbox and no letter is printed; a guardian without the portal keeps the
    letter, paper being what is left.
    """
    urgency = Urgency(urgency)
    stopped = stopped_channels(profile.opt_outs, category, urgency)
    order = profile.preferences or DEFAULT_CHANNEL_ORDER
    active: list[Channel] = []
    removed = False
    for channel in order:
        channel = Channel(channel)
        if channel in (Channel.PORTAL, Channel.LETTER) or channel in active:
            continue
        if _electronic_ok(profile, channel, available_channels):
            if stopped is None or channel in stopped:
                removed = True
                continue
            active.append(channel)
    if urgency is Urgency.EMERGENCY and _electronic_ok(profile, Channel.SMS, available_channels):
        if Channel.SMS in active:
            active.remove(Channel.SMS)
        active.insert(0, Channel.SMS)
    head = (Channel.PORTAL,) if _electronic_ok(profile, Channel.PORTAL, available_channels) else ()
    if head and (stopped is None or (removed and not active)):
        return head  # stopped: the inbox holds it, nothing rings and nothing is printed
    return (*head, *active, Channel.LETTER)


def first_active_step(plan: Sequence[Channel | str]) -> int:
    """The index of the first channel that reaches the guardian: past the portal inbox."""
    return 1 if plan and Channel(plan[0]) is Channel.PORTAL else 0


# ---------------------------------------------------------------------------------------------- the schedule


def initial_due(charter: Charter, now: datetime, urgency: Urgency, scheduled_at: datetime | None = None) -> datetime:
    """When the first active step may go: not before ``now`` nor the sender's chosen time, and, unless it is
    an emergency, not in quiet hours (pushed to the next allowed moment)."""
    start = now if scheduled_at is None else max(now, scheduled_at)
    if Urgency(urgency) is Urgency.EMERGENCY:
        return start
    return next_allowed(charter, start, urgency)


def after_quiet_hours(charter: Charter, due: datetime, quiet: QuietHours | None, urgency: Urgency) -> datetime:
    """``due`` moved past the guardian's own quiet hours, then into the charter's hours again, until both agree.

    Only NORMAL messages wait: urgent ones follow the charter's urgent hours alone and emergencies go at once.
    The two kinds of hours alternate at most a few times (a quiet evening ending on a Saturday morning sends the
    message to Monday's window, which may open inside the guardian's quiet morning), so the loop is short; it is
    bounded all the same, in case a guardian's hours cover every window the charter opens.
    """
    if quiet is None or Urgency(urgency) is not Urgency.NORMAL:
        return due
    for _ in range(16):
        end = quiet.end_after(due, charter.tz)
        if end is None:
            return due
        due = next_allowed(charter, end, urgency)
    return due


def spread_release(charter: Charter, due: datetime, index: int, total: int, urgency: Urgency) -> datetime:
    """The release time of the ``index``-th of ``total`` deliveries held to the same ``due`` window start, so
    that a night's worth of messages does not ring every phone of the school at 07:30 sharp."""
    return release_time(charter, due, index, total, urgency)


def over_daily_limit(charter: Charter, already_today: int, urgency: Urgency = Urgency.NORMAL) -> bool:
    """Whether one more message would exceed the charter's daily limit for a guardian who already received
    ``already_today`` non-urgent messages today: if so, it goes into the digest instead. Urgent messages and
    emergencies are never counted nor held back."""
    if Urgency(urgency) is not Urgency.NORMAL:
        return False
    return already_today >= charter.max_non_urgent_per_day


# ------------------------------------------------------------------------------------ the daily limit, digests

#: Held digests are released this many evenly spaced slots into their window, chosen by guardian: every
#: delivery of one guardian's digest gets the same time (they go together), different guardians do not all
#: ring at the window's first second.
DIGEST_SLOTS = 60


def local_day(charter: Charter, at: datetime) -> date:
    """The school's calendar day (in the charter's time zone) of the instant ``at``."""
    return at.astimezone(charter.tz).date()


def digest_key(guardian_id: int, channel: Channel | str, local_date: date) -> str:
    """The key shared by the deliveries gathered into one digest: one guardian, one channel, one local day."""
    return f"{guardian_id}:{Channel(channel).value}:{local_date.isoformat()}"


def start_of_day(charter: Charter, day: date) -> datetime:
    """Local midnight of ``day`` (the first instant of the day if midnight falls in a DST gap)."""
    return datetime.combine(day, time(0), tzinfo=charter.tz)


def digest_placement(
    charter: Charter,
    due: datetime,
    load: Mapping[date, int],
    digest_days: Collection[date] = frozenset(),
    urgency: Urgency = Urgency.NORMAL,
    guardian_id: int = 0,
) -> tuple[datetime, date] | None:
    """Where a notice whose first active step is due at ``due`` goes under the daily limit.

    ``load`` is the guardian's non-urgent notices per local day (a digest counts once: it is one message);
    ``digest_days`` the days on which the guardian already has a digest on the notice's channel. None when the
    notice may go as planned (not NORMAL, or its day still has room). Otherwise the release time and the local
    day of the digest it joins: the first allowed window of the first later day that has room (or already has
    this guardian's digest, which it joins at no cost), released at a slot fixed per guardian.
    """
    day = local_day(charter, due)
    if not over_daily_limit(charter, load.get(day, 0), urgency):
        return None
    while True:
        start = next_allowed(charter, start_of_day(charter, day + timedelta(days=1)), urgency)
        day = local_day(charter, start)
        if day in digest_days or not over_daily_limit(charter, load.get(day, 0), urgency):
            return release_time(charter, start, guardian_id % DIGEST_SLOTS, DIGEST_SLOTS, urgency), day


# ---------------------------------------------------------------------------------------- the state machine

#: Where each state may go next. The order of a delivery's life is PLANNED, HELD, DUE, CLAIMED, SENT,
#: DELIVERED; FAILED and CANCELLED end it. A moment can be skipped (a due row can be reported SENT directly,
#: a provider may confirm DELIVERED without a SENT), never revisited: a late or repeated provider callback
#: never moves a delivery back. A transient failure ends its row; ``hub.messaging.planning`` creates a retry row.
_NEXT: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.PLANNED: frozenset(
        {DeliveryState.HELD, DeliveryState.DUE, DeliveryState.CANCELLED, DeliveryState.FAILED}
    ),
    DeliveryState.HELD: frozenset({DeliveryState.DUE, DeliveryState.CANCELLED, DeliveryState.FAILED}),
    DeliveryState.DUE: frozenset(
        {
            DeliveryState.CLAIMED,
            DeliveryState.SENT,
            DeliveryState.DELIVERED,
            DeliveryState.FAILED,
            DeliveryState.CANCELLED,
        }
    ),
    DeliveryState.CLAIMED: frozenset({DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.FAILED}),
    # A bounce may come after the provider accepted the message.
    DeliveryState.SENT: frozenset({DeliveryState.DELIVERED, DeliveryState.FAILED}),
    DeliveryState.DELIVERED: frozenset(),
    DeliveryState.FAILED: frozenset(),
    DeliveryState.CANCELLED: frozenset(),
}

#: Position in a delivery's life, for the "never backward" property; the two ends share the last rank.
STATE_RANK: dict[DeliveryState, int] = {
    DeliveryState.PLANNED: 0,
    DeliveryState.HELD: 1,
    DeliveryState.DUE: 2,
    DeliveryState.CLAIMED: 3,
    DeliveryState.SENT: 4,
    DeliveryState.DELIVERED: 5,
    DeliveryState.FAILED: 5,
    DeliveryState.CANCELLED: 5,
}

#: States in which a delivery has not been handed to a provider yet and may still be cancelled.
PENDING_STATES: frozenset[DeliveryState] = frozenset({DeliveryState.PLANNED, DeliveryState.HELD, DeliveryState.DUE})


def can_move(old: DeliveryState | str, new: DeliveryState | str) -> bool:
    """Whether a delivery in ``old`` may move to ``new``: forward only, never out of an end state."""
    return DeliveryState(new) in _NEXT[DeliveryState(old)]


def is_pending(state: DeliveryState | str) -> bool:
    return DeliveryState(state) in PENDING_STATES


# -------------------------------------------------------------------------------------------- the escalation


def next_step(plan: Sequence[Channel | str], current_step: int, *, acknowledged: bool) -> int | None:
    """The plan step to try after ``current_step``, or None: an acknowledged notice never escalates, and the
    letter ends every plan."""
    if acknowledged or current_step + 1 >= len(plan):
        return None
    return max(current_step + 1, first_active_step(plan))


def escalation_due(charter: Charter, sent_at: datetime, wait: timedelta, urgency: Urgency) -> datetime:
    """When the next step goes if the notice is still not acknowledged ``wait`` after ``sent_at``: then, or at
    the next allowed moment."""
    return next_allowed(charter, sent_at + wait, urgency)


# --------------------------------------------------------------------------------------------- the reminders


def reminder_times(
    charter: Charter,
    deadline: datetime,
    reminder_hours: Iterable[float],
    now: datetime,
    urgency: Urgency = Urgency.NORMAL,
) -> list[datetime]:
    """When to remind about an unanswered reply slip, sorted, without duplicates.

    Each reminder is ``deadline - h`` pushed into the allowed hours; it is dropped if that lands at or after
    the deadline (a reminder after the deadline is useless) or before ``now`` (too late to remind then).
    """
    times: set[datetime] = set()
    for hours in reminder_hours:
        wanted = deadline - timedelta(hours=hours)
        if wanted < now:
            continue
        at = next_allowed(charter, wanted, urgency)
        if now <= at < deadline:
            times.add(at)
    return sorted(times)


def needs_reminder(
    answer_mode: AnswerMode,
    pupils_answered: set[int] | frozenset[int],
    guardians_answered: set[int] | frozenset[int],
    pupil_ids: Iterable[int],
    guardian_id: int,
) -> bool:
    """Whether a guardian's notice still calls for a reminder.

    ONE_PER_PUPIL: until every pupil of the notice has an answer, from any guardian. EVERY_GUARDIAN: until
    this guardian answered. ``pupils_answered`` and ``guardians_answered`` are over the whole slip.
    """
    if AnswerMode(answer_mode) is AnswerMode.EVERY_GUARDIAN:
        return guardian_id not in guardians_answered
    return not set(pupil_ids) <= set(pupils_answered)


# ----------------------------------------------------------------------------------------------------- SMS


def sms_preview(
    text: str, recipients: int, price_per_segment: Decimal = DEFAULT_SMS_PRICE
) -> tuple[SegmentCount, Decimal]:
    """What an SMS step would cost before sending: the segments of ``text`` and the total for ``recipients``."""
    return count_segments(text), estimate_cost(text, recipients, price_per_segment)
