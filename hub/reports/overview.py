"""What the database holds about the school, in a few aggregate queries (the home page and `/health`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from hub.enums import GroupKind
from hub.people.models import Contact, Group, Guardian, Guardianship, Household, Pupil, School, Staff, StaffRoleGrant
from hub.store.db import ids_of


@dataclass(frozen=True)
class StaffAccount:
    name: str
    email: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Overview:
    school: str
    school_year: str
    pupils: int
    classes: int
    levels: int
    guardians: int
    households: int
    #: Pupils whose guardians live in two or more households (separated parents).
    separated_pupils: int
    #: Guardians with no electronic contact at all: they get printed letters.
    paper_only_guardians: int
    staff: int
    accounts: list[StaffAccount] = field(default_factory=list)


async def school_overview() -> Overview | None:
    school = await School.first()
    if school is None:
        return None
    pupils = await Pupil.filter(school=school, active=True).count()
    classes = await Group.filter(school=school, kind=GroupKind.CLASS).count()
    levels = await Group.filter(school=school, kind=GroupKind.LEVEL).count()
    guardians = await Guardian.filter(school=school, erased_at__isnull=True).count()
    households = await Household.filter(school=school).count()

    homes: dict[int, set[int | None]] = defaultdict(set)
    for pupil_id, household_id in await Guardianship.filter(pupil__school=school, barred=False).values_list(
        "pupil_id", "household_id"
    ):
        homes[pupil_id].add(household_id)
    separated = sum(1 for hs in homes.values() if len(hs) >= 2)

    with_contact = set(await ids_of(Contact.filter(guardian__school=school, dead_at__isnull=True), "guardian_id"))
    paper_only = guardians - len(with_contact)

    staff = await Staff.filter(school=school, active=True).count()
    roles: dict[int, list[str]] = defaultdict(list)
    for staff_id, role in await StaffRoleGrant.filter(staff__school=school).values_list("staff_id", "role"):
        roles[staff_id].append(str(role))
    accounts = [
        StaffAccount(f"{s.first_name} {s.last_name}", s.email, tuple(sorted(roles[s.id])))
        for s in await Staff.filter(school=school).exclude(password_hash="").order_by("email")
    ]
    return Overview(
        school=school.name,
        school_year=school.school_year,
        pupils=pupils,
        classes=classes,
        levels=levels,
        guardians=guardians,
        households=households,
        separated_pupils=separated,
        paper_only_guardians=paper_only,
        staff=staff,
        accounts=accounts,
    )
