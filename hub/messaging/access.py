"""Who may see what: the one place the web pages and the JSON API ask before reading a pupil, a message or a
notice. Every query a page makes for a signed-in person is scoped by these sets; a page never trusts an id from
the URL or a form without them (changing an id in the address must give 404, never another family's data).

* A guardian sees the pupils they hold a guardianship for, unless barred by a court order for that pupil, and
  only their own notices (a notice is one guardian's copy).
* A teacher sees the pupils of the classes and courses they teach, and the messages they wrote or that were
  addressed to a group they teach (or its pupils).
* The secretary, the principal and administrators see the whole school.
"""

from __future__ import annotations

from hub.enums import AudienceKind, StaffRole
from hub.messaging.models import Message, MessageAudience, Notice
from hub.people.models import Group, Guardianship, Membership, Pupil, Teaching
from hub.store.db import ids_of

#: Roles that see every pupil and message of their school.
WHOLE_SCHOOL_ROLES = frozenset({StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN})


def sees_whole_school(roles: frozenset[StaffRole] | set[StaffRole]) -> bool:
    return bool(WHOLE_SCHOOL_ROLES.intersection(roles))


# ------------------------------------------------------------------------------------------------ guardians


async def guardian_pupil_ids(guardian_id: int) -> set[int]:
    """The pupils this guardian may see: held guardianships, court-order bars excluded."""
    rows = await ids_of(Guardianship.filter(guardian_id=guardian_id, barred=False, pupil__active=True), "pupil_id")
    return set(rows)


async def guardian_answerable_pupil_ids(guardian_id: int) -> set[int]:
    """The pupils this guardian may answer reply slips for (``may_answer``), bars excluded."""
    rows = await ids_of(Guardianship.filter(guardian_id=guardian_id, barred=False, may_answer=True), "pupil_id")
    return set(rows)


async def guardian_notice(guardian_id: int, notice_id: int) -> Notice | None:
    """This guardian's own notice with this id, or None (another guardian's notice is "not found")."""
    return await Notice.filter(id=notice_id, guardian_id=guardian_id).first()


# ---------------------------------------------------------------------------------------------------- staff


async def taught_group_ids(staff_id: int) -> set[int]:
    """The classes and courses this member of staff teaches."""
    return set(await ids_of(Teaching.filter(staff_id=staff_id), "group_id"))


async def staff_group_ids(staff_id: int, roles: frozenset[StaffRole], school_id: int) -> set[int]:
    """The groups this member of staff may address and read about."""
    if sees_whole_school(roles):
        return set(await ids_of(Group.filter(school_id=school_id)))
    return await taught_group_ids(staff_id)


async def staff_pupil_ids(staff_id: int, roles: frozenset[StaffRole], school_id: int) -> set[int]:
    """The pupils this member of staff may address and read about."""
    if sees_whole_school(roles):
        return set(await ids_of(Pupil.filter(school_id=school_id, active=True)))
    groups = await taught_group_ids(staff_id)
    if not groups:
        return set()
    return set(await ids_of(Membership.filter(group_id__in=groups, pupil__active=True), "pupil_id"))


async def staff_may_see_group(staff_id: int, roles: frozenset[StaffRole], school_id: int, group_id: int) -> bool:
    if sees_whole_school(roles):
        return await Group.filter(id=group_id, school_id=school_id).exists()
    return group_id in await taught_group_ids(staff_id)


async def staff_may_see_pupil(staff_id: int, roles: frozenset[StaffRole], school_id: int, pupil_id: int) -> bool:
    if sees_whole_school(roles):
        return await Pupil.filter(id=pupil_id, school_id=school_id).exists()
    groups = await taught_group_ids(staff_id)
    return bool(groups) and await Membership.filter(group_id__in=groups, pupil_id=pupil_id).exists()


async def staff_message(staff_id: int, roles: frozenset[StaffRole], school_id: int, message_id: int) -> Message | None:
    """The message with this id if this member of staff may read it and its responses, else None.

    A teacher reads what they wrote, and what was addressed to a class or course they teach or to one of its
    pupils (the class's other teachers follow the replies too).
    """
    message = await Message.filter(id=message_id, school_id=school_id).first()
    if message is None:
        return None
    if sees_whole_school(roles) or message.author_id == staff_id:
        return message
    groups = await taught_group_ids(staff_id)
    if not groups:
        return None
    terms = await MessageAudience.filter(message_id=message_id).values("kind", "group_id", "pupil_id")
    for term in terms:
        if term["kind"] == AudienceKind.GROUP and term["group_id"] in groups:
            return message
    pupils = {t["pupil_id"] for t in terms if t["kind"] == AudienceKind.PUPIL}
    if pupils and await Membership.filter(group_id__in=groups, pupil_id__in=pupils).exists():
        return message
    return None
