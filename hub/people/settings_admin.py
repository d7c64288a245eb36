"""The school's settings and its staff, as administrators change them (the principal only reads them).

Every change is checked first and refused whole with a ``SettingsError`` naming the field and the problem (a code
the pages translate), so bad input never half-saves; what is saved is written to the audit log with the names of
the fields changed or the role granted, never their values. Removing an administrator goes through
:mod:`hub.people.staff`, which keeps at least two.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from tortoise.transactions import in_transaction

from hub.enums import ActorKind, Language, StaffRole
from hub.people import staff as staff_rules
from hub.people.gdpr_models import RetentionPolicy
from hub.people.models import School, Staff, StaffRoleGrant
from hub.people.security import MIN_PASSWORD_LENGTH, hash_password
from hub.people.setup_models import SchoolProfile
from hub.store.audit import audit

#: The languages a school works in: those the product speaks (its pages, messages and charter).
SCHOOL_LANGUAGES = (Language.FR, Language.NL, Language.EN)


class SettingsError(ValueError):
    """``field`` is the form field at fault, ``problem`` a short code: required, too_long, timezone, language,
    school_year, email, email_taken, password, role, two_admins, yourself, not_found."""

    def __init__(self, field: str, problem: str, detail: str = "") -> None:
        super().__init__(f"{field}: {problem}" + (f" ({detail})" if detail else ""))
        self.field = field
        self.problem = problem


# ------------------------------------------------------------------------------------------------ the school


@dataclass(frozen=True)
class SchoolFields:
    name: str
    address: str
    timezone: str
    default_language: str
    school_year: str
    #: The data-protection officer (name and email), named by the charter.
    dpo: str = ""


def _checked_school(fields: SchoolFields) -> dict[str, str]:
    name, address = fields.name.strip(), fields.address.strip()
    if not name:
        raise SettingsError("name", "required")
    if len(name) > 200:
        raise SettingsError("name", "too_long")
    if len(address) > 1000:
        raise SettingsError("address", "too_long")
    if len(fields.dpo.strip()) > 500:
        raise SettingsError("dpo", "too_long")
    try:
        ZoneInfo(fields.timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError("timezone", "timezone") from None
    if fields.default_language not in {str(lang) for lang in SCHOOL_LANGUAGES}:
        raise SettingsError("default_language", "language")
    year = fields.school_year.strip()
    found = re.fullmatch(r"(\d{4})-(\d{4})", year)
    if not found or int(found.group(2)) != int(found.group(1)) + 1:
        raise SettingsError("school_year", "school_year")
    return {
        "name": name,
        "address": address,
        "timezone": fields.timezone.strip(),
        "default_language": fields.default_language,
        "school_year": year,
        "dpo": fields.dpo.strip(),
    }


async def update_school(school_id: int, fields: SchoolFields, *, by: int, at: dt.datetime) -> list[str]:
    """Save the school's settings; the names of the fields that changed (audited when any did)."""
    values = _checked_school(fields)
    dpo = values.pop("dpo")
    async with in_transaction():
        school = await School.get(id=school_id)
        changed = [key for key, value in values.items() if str(getattr(school, key)) != value]
        if changed:
            await School.filter(id=school_id).update(**{key: values[key] for key in changed})
        if await school_dpo(school_id) != dpo:
            name, email = split_dpo(dpo)
            await SchoolProfile.update_or_create(defaults={"dpo_name": name, "dpo_email": email}, school_id=school_id)
            changed.append("dpo")
        if changed:
            await audit(
                "school.updated",
                at=at,
                actor_kind=ActorKind.STAFF,
                actor_id=by,
                subject_type="school",
                subject_id=school_id,
                fields=changed,
            )
    return changed


_EMAIL = re.compile(r"[^\s<>,;()]+@[^\s<>,;()]+\.[^\s<>,;()]+")


def split_dpo(text: str) -> tuple[str, str]:
    """The settings' one line naming the data-protection officer ("Claire Dubois, dpo@school.be") as the name and
    the email ``carnet school init`` stores apart; either may be empty."""
    found = _EMAIL.search(text)
    email = found.group(0) if found else ""
    name = (text[: found.start()] + text[found.end() :]) if found else text
    return name.strip(" ,;<>()-\t"), email


def dpo_line(name: str, email: str) -> str:
    """The data-protection officer as one line: "name, email" (or whichever is set)."""
    return ", ".join(part for part in (name.strip(), email.strip()) if part)


async def school_dpo(school_id: int) -> str:
    """The school's data-protection officer as its settings name them ("" when not set yet)."""
    found = await SchoolProfile.filter(school_id=school_id).values_list("dpo_name", "dpo_email")
    return dpo_line(*found[0]) if found else ""


# ------------------------------------------------------------------------------------------------- the staff


@dataclass(frozen=True)
class Member:
    id: int
    name: str
    email: str
    active: bool
    roles: frozenset[StaffRole]


async def staff_list(school_id: int) -> list[Member]:
    """Everyone on the school's staff, active first, by name, with their roles (two queries)."""
    roles: dict[int, set[StaffRole]] = {}
    for staff_id, role in await StaffRoleGrant.filter(staff__school_id=school_id).values_list("staff_id", "role"):
        roles.setdefault(staff_id, set()).add(StaffRole(role))
    members = await Staff.filter(school_id=school_id).order_by("-active", "last_name", "first_name", "id")
    return [
        Member(m.id, f"{m.first_name} {m.last_name}", m.email, m.active, frozenset(roles.get(m.id, ())))
        for m in members
    ]


async def _audit_staff(action: str, member: Staff, by: Staff, at: dt.datetime) -> None:
    await audit(action, at=at, actor_kind=ActorKind.STAFF, actor_id=by.id, subject_type="staff", subject_id=member.id)


async def _member(school_id: int, staff_id: int) -> Staff:
    member = await Staff.filter(id=staff_id, school_id=school_id).first()
    if member is None:
        raise SettingsError("staff", "not_found")
    return member


def _role(value: str) -> StaffRole:
    try:
        return StaffRole(value)
    except ValueError:
        raise SettingsError("role", "role") from None


async def set_role(school_id: int, staff_id: int, role: str, *, granted: bool, by: Staff, at: dt.datetime) -> None:
    """Grant or revoke a role; revoking one of the last two administrators is refused (``two_admins``)."""
    member, wanted = await _member(school_id, staff_id), _role(role)
    try:
        if granted:
            await staff_rules.grant_role(member, wanted, by=by, at=at)
        else:
            await staff_rules.revoke_role(member, wanted, by=by, at=at)
    except staff_rules.StaffRuleError as exc:
        raise SettingsError("role", "two_admins", str(exc)) from exc


async def set_active(school_id: int, staff_id: int, *, active: bool, by: Staff, at: dt.datetime) -> None:
    """Deactivate a member (signed out everywhere; one of the last two administrators is refused) or bring
    them back. Nobody deactivates themselves: another administrator must."""
    member = await _member(school_id, staff_id)
    if member.active == active:
        return
    if not active:
        if member.id == by.id:
            raise SettingsError("staff", "yourself")
        try:
            await staff_rules.deactivate(member, by=by, at=at)
        except staff_rules.StaffRuleError as exc:
            raise SettingsError("staff", "two_admins", str(exc)) from exc
        return
    await Staff.filter(id=member.id).update(active=True)
    await _audit_staff("staff.reactivated", member, by, at)


@dataclass(frozen=True)
class NewMember:
    first_name: str
    last_name: str
    email: str
    language: str
    roles: tuple[str, ...]
    password: str


async def create_member(school_id: int, new: NewMember, *, by: Staff, at: dt.datetime) -> Staff:
    """A new member of staff with an initial password (they change it after signing in) and their roles."""
    first, last = new.first_name.strip(), new.last_name.strip()
    for name, value in (("first_name", first), ("last_name", last)):
        if not value:
            raise SettingsError(name, "required")
        if len(value) > 100:
            raise SettingsError(name, "too_long")
    try:
        email = validate_email(new.email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise SettingsError("email", "email") from None
    if new.language not in {str(lang) for lang in SCHOOL_LANGUAGES}:
        raise SettingsError("language", "language")
    roles = [_role(r) for r in dict.fromkeys(new.roles)]
    if not roles:
        raise SettingsError("roles", "required")
    if len(new.password) < MIN_PASSWORD_LENGTH:
        raise SettingsError("password", "password")
    async with in_transaction():
        if await Staff.filter(email=email).exists():
            raise SettingsError("email", "email_taken")
        member = await Staff.create(
            school_id=school_id,
            first_name=first,
            last_name=last,
            email=email,
            language=new.language,
            password_hash=hash_password(new.password),
        )
        await _audit_staff("staff.created", member, by, at)
        for role in roles:
            await staff_rules.grant_role(member, role, by=by, at=at)
    return member


# ------------------------------------------------------------------------------------------- retention periods

#: The school's retention periods while it set none, in days: a school year and a half for the queue's history,
#: two school years for what families received and wrote (a dispute about last year's trip can still be settled).
DEFAULT_RETENTION_DAYS = {"deliveries": 550, "notices": 730, "threads": 730, "attachments": 730}
#: The bounds a school may set: at least a month (a delivery report covers the current month), at most ten years.
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 30, 3650


@dataclass(frozen=True)
class Periods:
    """How long the school keeps what it sent, in days (``hub.privacy.retention`` removes what is older)."""

    deliveries: int
    notices: int
    threads: int
    attachments: int


async def retention_periods(school_id: int) -> Periods:
    row = await RetentionPolicy.get_or_none(school_id=school_id)
    if row is None:
        return Periods(**DEFAULT_RETENTION_DAYS)
    return Periods(row.deliveries_days, row.notices_days, row.threads_days, row.attachments_days)


def checked_periods(raw: dict[str, str]) -> Periods:
    """The periods a form asks for, each a whole number of days within the bounds; ``SettingsError`` (field,
    ``retention``) otherwise."""
    values: dict[str, int] = {}
    for key in DEFAULT_RETENTION_DAYS:
        text = raw.get(key, "").strip()
        if not text.isdigit() or len(text) > 5 or not MIN_RETENTION_DAYS <= int(text) <= MAX_RETENTION_DAYS:
            raise SettingsError(key, "retention", f"{MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS} days")
        values[key] = int(text)
    return Periods(**values)


async def update_retention(school_id: int, periods: Periods, *, by: int, at: dt.datetime) -> None:
    """Save the school's periods (checked again: ``SettingsError`` and nothing saved), audited with the days."""
    checked_periods({key: str(getattr(periods, key)) for key in DEFAULT_RETENTION_DAYS})
    values = {f"{key}_days": getattr(periods, key) for key in DEFAULT_RETENTION_DAYS}
    await RetentionPolicy.update_or_create(defaults={**values, "updated_at": at}, school_id=school_id)
    await audit(
        "retention.periods",
        at=at,
        actor_kind=ActorKind.STAFF,
        actor_id=by,
        subject_type="school",
        subject_id=school_id,
        **values,
    )
