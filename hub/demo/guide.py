"""Where to click in the demo: the accounts to try and the families worth following, read from the database;
and the demo's clock: when the next held message goes out, and the jump there.

The demo's landing page and the terminal (``carnet demo-data``) name a teacher, the principal, the secretary,
both parents of a separated household whose child is in the class that received the trip's reply slip, and a
family reached by paper only: both read them here, so they name the same people. Nothing here is stored: it is
read from whatever the demo school holds, so it stays true after a re-import.

The demo runs on its own clock (:class:`hub.clock.DemoClock`, installed by ``carnet demo-data`` and the demo's
``carnet serve``): it starts on a school day at 10:00, when the charter lets messages go, and runs forward. What
the charter holds (a message written in the evening, a scheduled one, a reminder) goes out when that clock
reaches its time; :func:`jump_to_next_release` moves the clock there, and the demo's worker sends it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from tortoise.queryset import QuerySet

from hub import clock
from hub.dates import long_date
from hub.demo.school import DEMO_PASSWORD, DEMO_SCHOOL_NAME, STAFF_DOMAIN
from hub.enums import DeliveryState, GroupKind, MessageState
from hub.messaging.models import Delivery, Message, Notice
from hub.people.models import Contact, Group, Guardian, Guardianship, Membership, Pupil, School, Staff, WebSession
from hub.store.db import ids_of

#: The class the demo's trip (with its reply slip) is addressed to.
TRIP_CLASS = "3A"


@dataclass(frozen=True)
class GuidePerson:
    guardian_id: int
    name: str
    relation: str
    address: str
    #: The personal link of this guardian's most recent notice, if any.
    notice_token: str = ""


@dataclass(frozen=True)
class GuideAccount:
    email: str
    name: str
    role: str


@dataclass
class DemoGuide:
    password: str = DEMO_PASSWORD
    accounts: list[GuideAccount] = field(default_factory=list)
    #: "First Last (3A)", and the pupil's id and name alone.
    separated_pupil: str = ""
    separated_pupil_id: int = 0
    separated_pupil_name: str = ""
    separated_parents: list[GuidePerson] = field(default_factory=list)
    #: Who else receives for that pupil (a step-parent living with one of them), if anyone.
    separated_others: list[GuidePerson] = field(default_factory=list)
    paper_pupil: str = ""
    paper_pupil_id: int = 0
    paper_pupil_name: str = ""
    paper_family: list[GuidePerson] = field(default_factory=list)


async def is_demo_school() -> bool:
    return await School.filter(name=DEMO_SCHOOL_NAME).exists()


async def demo_guide() -> DemoGuide | None:
    """The guide, or None when the database does not hold the demo school."""
    school = await School.filter(name=DEMO_SCHOOL_NAME).first()
    if school is None:
        return None
    guide = DemoGuide()
    accounts = {
        "prof.demo": "teacher",
        "direction": "principal",
        "secretariat": "secretary",
        "admin": "admin",
    }
    for local, role in accounts.items():
        staff = await Staff.filter(email=f"{local}@{STAFF_DOMAIN}").first()
        if staff:
            guide.accounts.append(GuideAccount(staff.email, f"{staff.first_name} {staff.last_name}", role))

    klass = await Group.filter(school=school, kind=GroupKind.CLASS, code=TRIP_CLASS).first()
    pupil_ids = await ids_of(Membership.filter(group=klass), "pupil_id") if klass else []
    links = await Guardianship.filter(pupil_id__in=pupil_ids, barred=False, receives=True).prefetch_related(
        "guardian", "household"
    )
    by_pupil: dict[int, list[Guardianship]] = defaultdict(list)
    for link in links:
        by_pupil[link.pupil_id].append(link)
    electronic = set(await ids_of(Contact.filter(dead_at__isnull=True), "guardian_id"))

    def person(link: Guardianship, token: str) -> GuidePerson:
        home = link.household
        address = f"{home.street}, {home.postal_code} {home.city}" if home else ""
        g: Guardian = link.guardian
        return GuidePerson(g.id, f"{g.first_name} {g.last_name}", str(link.relation), address, token)

    async def token_of(guardian_id: int) -> str:
        notice = await Notice.filter(guardian_id=guardian_id).order_by("-id").first()
        return notice.token if notice else ""

    for pupil_id in sorted(by_pupil):
        parents = [link for link in by_pupil[pupil_id] if str(link.relation) in ("mother", "father")]
        homes = {link.household_id for link in parents}
        if len(parents) == 2 and len(homes) == 2 and all(p.guardian_id in electronic for p in parents):
            pupil = await Pupil.get(id=pupil_id)
            guide.separated_pupil = f"{pupil.first_name} {pupil.last_name} ({TRIP_CLASS})"
            guide.separated_pupil_id, guide.separated_pupil_name = pupil.id, f"{pupil.first_name} {pupil.last_name}"
            guide.separated_parents = [person(p, await token_of(p.guardian_id)) for p in parents]
            others = [link for link in by_pupil[pupil_id] if link not in parents]
            guide.separated_others = [person(p, await token_of(p.guardian_id)) for p in others]
            break
    for pupil_id in sorted(by_pupil):
        family = by_pupil[pupil_id]
        if family and not any(link.guardian_id in electronic for link in family):
            pupil = await Pupil.get(id=pupil_id)
            guide.paper_pupil = f"{pupil.first_name} {pupil.last_name} ({TRIP_CLASS})"
            guide.paper_pupil_id, guide.paper_pupil_name = pupil.id, f"{pupil.first_name} {pupil.last_name}"
            guide.paper_family = [person(link, "") for link in family]
            break
    return guide


# ------------------------------------------------------------------------------------------------ the clock


def _waiting(now: dt.datetime) -> tuple[QuerySet[Delivery], QuerySet[Message]]:
    held = Delivery.filter(state__in=(DeliveryState.HELD, DeliveryState.PLANNED), due_at__gt=now)
    return held, Message.filter(state=MessageState.SCHEDULED, scheduled_at__gt=now)


async def next_release(now: dt.datetime) -> dt.datetime | None:
    """When the next thing the charter holds goes out: the earliest ``due_at`` of a HELD or PLANNED delivery,
    or ``scheduled_at`` of a scheduled message, after ``now``; None when nothing waits."""
    held, scheduled = _waiting(now)
    delivery = await held.order_by("due_at").first()
    message = await scheduled.order_by("scheduled_at").first()
    times = [delivery.due_at if delivery else None, message.scheduled_at if message else None]
    return min((t for t in times if t is not None), default=None)


async def _release_end(now: dt.datetime, first: dt.datetime, spread: dt.timedelta) -> dt.datetime:
    """The last release time within ``spread`` of ``first``: the charter spreads a release over
    ``release_spread_minutes`` so that phones do not all ring at once; a jump there lets the whole of it go."""
    held, scheduled = _waiting(now)
    delivery = await held.filter(due_at__lte=first + spread).order_by("-due_at").first()
    message = await scheduled.filter(scheduled_at__lte=first + spread).order_by("-scheduled_at").first()
    times = [first, delivery.due_at if delivery else None, message.scheduled_at if message else None]
    return max(t for t in times if t is not None)


async def jump_to_next_release(demo: clock.RunningClock, spread: dt.timedelta) -> dt.datetime | None:
    """Move the demo clock forward to the next release (:func:`next_release`, to the end of its ``spread``)
    and return the time it released at (None: nothing waits, the clock stays). The worker sends what became due
    at its next pass.

    The signed-in browsers keep their sessions: a session ages with the time a person spends, not with the
    days the demo skips, so their times move forward with the clock.
    """
    before = demo.now()
    first = await next_release(before)
    if first is None:
        return None
    demo.advance_to(await _release_end(before, first, spread))
    moved = demo.now() - before
    for session in await WebSession.filter(revoked_at__isnull=True, expires_at__gt=before):
        await WebSession.filter(id=session.id).update(
            created_at=session.created_at + moved,
            last_seen_at=session.last_seen_at + moved,
            expires_at=session.expires_at + moved,
        )
    return first


@dataclass(frozen=True)
class DemoClockView:
    """What the page header shows in the demo: the clock's time and the next release, if any."""

    now: dt.datetime
    next_release: dt.datetime | None


async def clock_view() -> DemoClockView:
    now = clock.now()
    return DemoClockView(now, await next_release(now))


def _when(at: dt.datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{long_date(local.date(), 'en', weekday=True)}, {local:%H:%M}"


def terminal_text(guide: DemoGuide, view: DemoClockView, zone: ZoneInfo, base_url: str) -> str:
    """What ``carnet demo-data`` prints after the school: where to look, on which clock, and how to jump (the
    same families as the landing page, which reads the same guide)."""
    base = base_url.rstrip("/")
    lines = [
        f"Where to click (the same as on {base}/):",
        f"  demo clock    {_when(view.now, zone)}, running forward: the demo started on a school day at"
        f" {clock.DEMO_START_HOUR}:00, when the charter lets messages go out at once",
    ]
    if view.next_release is not None:
        lines.append(
            f"  held          until {_when(view.next_release, zone)}: the button next to the demo clock,"
            " at the top of every page, jumps there and the demo's worker sends them"
        )
    else:
        lines.append(
            "  held          nothing yet; a message the charter holds (tonight, at the weekend, scheduled) shows"
            ' the button "jump to the next release" next to the demo clock, at the top of every page'
        )
    if guide.separated_parents:
        lines.append(f"  separated parents of {guide.separated_pupil}, each with their own copy:")
        lines += [
            f"    {p.name} ({p.relation}, {p.address}): {base}/demo/outbox?guardian={p.guardian_id}"
            for p in guide.separated_parents
        ]
    if guide.paper_family:
        names = ", ".join(p.name for p in guide.paper_family)
        lines.append(f"  paper-only family of {guide.paper_pupil}: {names}, letters only ({base}/staff/print)")
    teacher = next((a for a in guide.accounts if a.role == "teacher"), None)
    if teacher:
        lines.append(f'  sign in as the teacher {teacher.email} (password "{guide.password}") and write to class 3A')
    return "\n".join(lines)
