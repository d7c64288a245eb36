"""Staff roles, with the rule that more than one administrator always holds the keys.

A school whose only administrator leaves, loses a password or is on sick leave cannot answer a GDPR request or
change its charter; so no change may leave a school with fewer than ``MIN_ADMINS`` active administrators.
"""

from __future__ import annotations

import datetime as dt

from tortoise.transactions import in_transaction

from hub.enums import ActorKind, StaffRole
from hub.people.models import School, Staff, StaffRoleGrant
from hub.people.security import end_all_sessions
from hub.store.audit import audit

#: Two, so that one absence never locks the school out (the brief: "more than one administrator").
MIN_ADMINS = 2


class StaffRuleError(ValueError):
    pass


async def active_admin_count(school_id: int) -> int:
    return await StaffRoleGrant.filter(role=StaffRole.ADMIN, staff__school_id=school_id, staff__active=True).count()


async def _audit(action: str, staff: Staff, by: Staff | None, at: dt.datetime, **details: str) -> None:
    await audit(
        action,
        at=at,
        actor_kind=ActorKind.STAFF if by else ActorKind.SYSTEM,
        actor_id=by.id if by else None,
        subject_type="staff",
        subject_id=staff.id,
        **details,
    )


async def _refuse_losing_an_admin(staff: Staff, what: str) -> None:
    """Inside the caller's transaction: lock the school's row first, so two administrators removed at the same
    moment (two workers on PostgreSQL) are counted one after the other and the second is refused."""
    await School.filter(id=staff.school_id).select_for_update().first()
    if staff.active and await active_admin_count(staff.school_id) <= MIN_ADMINS:
        raise StaffRuleError(f"a school keeps at least {MIN_ADMINS} administrators: name another one before {what}")


async def grant_role(staff: Staff, role: StaffRole, *, by: Staff | None, at: dt.datetime) -> None:
    _, created = await StaffRoleGrant.get_or_create(staff=staff, role=role)
    if created:
        await _audit("staff.role_granted", staff, by, at, role=str(role))


async def revoke_role(staff: Staff, role: StaffRole, *, by: Staff | None, at: dt.datetime) -> None:
    async with in_transaction():
        if role == StaffRole.ADMIN and await StaffRoleGrant.filter(staff=staff, role=role).exists():
            await _refuse_losing_an_admin(staff, "removing this one")
        deleted = await StaffRoleGrant.filter(staff=staff, role=role).delete()
    if deleted:
        await _audit("staff.role_revoked", staff, by, at, role=str(role))


async def deactivate(staff: Staff, *, by: Staff | None, at: dt.datetime) -> None:
    async with in_transaction():
        if await StaffRoleGrant.filter(staff=staff, role=StaffRole.ADMIN).exists():
            await _refuse_losing_an_admin(staff, "this one leaves")
        staff.active = False
        await staff.save(update_fields=["active"])
    await end_all_sessions(ActorKind.STAFF, staff.id, at)  # a member who left is signed out everywhere
    await _audit("staff.deactivated", staff, by, at)
