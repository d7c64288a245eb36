"""Where to click in the demo: the accounts to try and the families worth following, read from the database.

The demo's landing page names a teacher, the principal, the secretary, both parents of a separated household
whose child is in the class that received the trip's reply slip, and a family reached by paper only. Nothing here
is stored: it is read from whatever the demo school holds, so it stays true after a re-import.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from hub.db import ids_of
from hub.demo import DEMO_PASSWORD, DEMO_SCHOOL_NAME, STAFF_DOMAIN
from hub.enums import GroupKind
from hub.models import Contact, Group, Guardian, Guardianship, Membership, Notice, Pupil, School, Staff

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
    separated_pupil: str = ""
    separated_parents: list[GuidePerson] = field(default_factory=list)
    paper_pupil: str = ""
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
            guide.separated_parents = [person(p, await token_of(p.guardian_id)) for p in parents]
            break
    for pupil_id in sorted(by_pupil):
        family = by_pupil[pupil_id]
        if family and not any(link.guardian_id in electronic for link in family):
            pupil = await Pupil.get(id=pupil_id)
            guide.paper_pupil = f"{pupil.first_name} {pupil.last_name} ({TRIP_CLASS})"
            guide.paper_family = [person(link, "") for link in family]
            break
    return guide
