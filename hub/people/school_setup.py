"""A real school sets itself up: ``carnet school init`` (the school and its first two administrators), the staff's
one-time sign-in links, and the server operator's access recovery (``carnet admin recover``).

* :func:`init_school` checks everything first (every problem named, by field) and refuses a database that already
  holds a school: nothing is changed then. The two administrators get a link each, printed by the command: a
  school never starts with one person holding the keys (seed ``003``).
* Staff links are random, single use and expire; the database keeps their SHA-256 only (as the guardians' links,
  :mod:`hub.people.security`).
* :func:`recover_access` gives an existing administrator a new link, or makes an existing member of staff an
  administrator and gives them one. It is written to the audit log, and every administrator sees it as a banner
  (:func:`unseen_recoveries`) until they say they have seen it: a recovery nobody asked for must not go unnoticed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from tortoise.transactions import in_transaction

from hub.enums import Language, StaffRole
from hub.people import security
from hub.people.models import School, Staff, StaffRoleGrant
from hub.people.setup_models import AdminNoticeSeen, SchoolProfile, StaffSignInLink
from hub.people.staff import MIN_ADMINS
from hub.store.audit import AuditEntry, audit

#: How long a staff link lives, by what made it: the first administrators' links are printed on the server and
#: carried to them (days); a recovery is the operator's answer to a call (a day); a link asked for on the
#: sign-in page arrives in seconds (a quarter of an hour, as the guardians').
STAFF_LINK_LIFETIME = {
    "setup": dt.timedelta(days=7),
    "recovery": dt.timedelta(hours=24),
    "sign_in": dt.timedelta(minutes=15),
}
#: The audit action of an access recovery: the banner shows these.
RECOVERED = "admin.recovered"
SCHOOL_LANGUAGES = (Language.FR, Language.NL, Language.EN, Language.DE)


class SetupError(ValueError):
    """The school cannot be set up: every problem found (field, message); nothing was stored."""

    def __init__(self, problems: Sequence[tuple[str, str]]) -> None:
        self.problems = list(problems)
        super().__init__(self.describe())

    def describe(self) -> str:
        return "\n".join(f"{field}: {message}" for field, message in self.problems)


class SchoolExists(SetupError):
    """The database already holds a school: ``school init`` changes nothing."""


class RecoveryError(ValueError):
    pass


@dataclass(frozen=True)
class SchoolIn:
    name: str
    timezone: str = "Europe/Brussels"
    default_language: str = "fr"
    address: str = ""
    dpo_name: str = ""
    dpo_email: str = ""
    school_year: str = ""


@dataclass(frozen=True)
class AdminIn:
    first_name: str
    last_name: str
    email: str
    language: str = ""


@dataclass(frozen=True)
class FirstAdmin:
    staff: Staff
    token: str  #: the link's token (``<base_url>/staff/s/<token>``), shown once, never stored


@dataclass(frozen=True)
class SetupResult:
    school: School
    admins: list[FirstAdmin]


def _email(value: str, field: str, problems: list[tuple[str, str]]) -> str:
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        problems.append((field, f'"{value.strip()}" is not a valid email address ({exc})'))
        return ""


def _text(value: str, field: str, limit: int, problems: list[tuple[str, str]], *, required: bool = True) -> str:
    value = value.strip()
    if required and not value:
        problems.append((field, "is required"))
    elif len(value) > limit:
        problems.append((field, f"is {len(value)} characters long, at most {limit} are allowed"))
    return value


def check_school(school: SchoolIn, admins: Sequence[AdminIn]) -> list[tuple[str, str]]:
    """Every problem of what ``school init`` was given, as (field, message); empty when all is right."""
    problems: list[tuple[str, str]] = []
    _text(school.name, "name", 200, problems)
    _text(school.address, "address", 1000, problems)
    try:
        ZoneInfo(school.timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(("timezone", f'"{school.timezone}" is not a time zone (e.g. Europe/Brussels)'))
    languages = {str(lang) for lang in SCHOOL_LANGUAGES}
    if school.default_language.strip() not in languages:
        problems.append(("language", f'"{school.default_language}" is not one of {", ".join(sorted(languages))}'))
    year = school.school_year.strip()
    if year:
        first, _, second = year.partition("-")
        if not (first.isdigit() and second.isdigit() and len(first) == 4 and int(second) == int(first) + 1):
            problems.append(("school_year", f'"{year}" is not a school year (e.g. 2026-2027)'))
    _text(school.dpo_name, "dpo_name", 200, problems)
    if school.dpo_email.strip():
        _email(school.dpo_email, "dpo_email", problems)
    else:
        problems.append(("dpo_email", "is required"))
    if len(admins) != MIN_ADMINS:
        problems.append(("admins", f"a school starts with {MIN_ADMINS} administrators, {len(admins)} were given"))
    emails: list[str] = []
    for n, admin in enumerate(admins, start=1):
        _text(admin.first_name, f"admin{n}_first_name", 100, problems)
        _text(admin.last_name, f"admin{n}_last_name", 100, problems)
        if not admin.email.strip():
            problems.append((f"admin{n}_email", "is required"))
        else:
            emails.append(_email(admin.email, f"admin{n}_email", problems))
        if admin.language.strip() and admin.language.strip() not in languages:
            problems.append((f"admin{n}_language", f'"{admin.language}" is not one of {", ".join(sorted(languages))}'))
    if len(emails) == 2 and emails[0] and emails[0] == emails[1]:
        problems.append(("admin2_email", "is the first administrator's: two people hold the keys, not one"))
    return problems


async def init_school(school: SchoolIn, admins: Sequence[AdminIn], *, now: dt.datetime) -> SetupResult:
    """Create the school, its data-protection officer and its first two administrators, each with a one-time
    sign-in link. ``SchoolExists`` on a database that holds a school, ``SetupError`` for bad input: nothing
    stored either way."""
    existing = await School.all().order_by("id").first()
    if existing is not None:
        raise SchoolExists([("school", f'the database already holds a school ("{existing.name}"): nothing changed')])
    problems = check_school(school, admins)
    if problems:
        raise SetupError(problems)
    language = school.default_language.strip()
    async with in_transaction():
        if await School.exists():  # another init got there between the check and now
            raise SchoolExists([("school", "the database already holds a school: nothing changed")])
        taken = await Staff.filter(email__in=[a.email.strip().lower() for a in admins]).exists()
        if taken:
            raise SetupError([("email", "a member of staff already has this email address")])
        row = await School.create(
            name=school.name.strip(),
            timezone=school.timezone.strip(),
            default_language=language,
            address=school.address.strip(),
            school_year=school.school_year.strip(),
        )
        await SchoolProfile.create(
            school_id=row.id,
            dpo_name=school.dpo_name.strip(),
            dpo_email=validate_email(school.dpo_email.strip(), check_deliverability=False).normalized.lower(),
        )
        await audit("school.initialised", at=now, subject_type="school", subject_id=row.id)
        firsts: list[FirstAdmin] = []
        for admin in admins:
            member = await Staff.create(
                school_id=row.id,
                first_name=admin.first_name.strip(),
                last_name=admin.last_name.strip(),
                email=validate_email(admin.email.strip(), check_deliverability=False).normalized.lower(),
                language=admin.language.strip() or language,
            )
            await audit("staff.created", at=now, subject_type="staff", subject_id=member.id)
            await StaffRoleGrant.create(staff_id=member.id, role=StaffRole.ADMIN)
            await audit("staff.role_granted", at=now, subject_type="staff", subject_id=member.id, role="admin")
            firsts.append(FirstAdmin(member, await create_staff_link(member.id, now, "setup")))
    return SetupResult(row, firsts)


# ------------------------------------------------------------------------------------------- staff links


async def create_staff_link(staff_id: int, now: dt.datetime, purpose: str = "sign_in") -> str:
    """A new one-time link token for this member; the caller builds ``<base_url>/staff/s/<token>``."""
    token = security.new_token()
    await StaffSignInLink.create(
        token_hash=security.token_hash(token),
        staff_id=staff_id,
        purpose=purpose,
        created_at=now,
        expires_at=now + STAFF_LINK_LIFETIME[purpose],
    )
    return token


def link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/staff/s/{token}"


async def peek_staff_link(token: str, now: dt.datetime) -> StaffSignInLink | None:
    """The usable link of this token (unused, unexpired, its member active), without using it."""
    if not token or len(token) > 200:
        return None
    link = await StaffSignInLink.filter(token_hash=security.token_hash(token), used_at__isnull=True).first()
    if link is None or now >= link.expires_at:
        return None
    if not await Staff.filter(id=link.staff_id, active=True).exists():
        return None
    return link


async def consume_staff_link(token: str, now: dt.datetime) -> StaffSignInLink | None:
    """Use the link once: one conditional UPDATE claims it, so a second click (or a race) gets None."""
    link = await peek_staff_link(token, now)
    if link is None:
        return None
    claimed = await StaffSignInLink.filter(id=link.id, used_at__isnull=True).update(used_at=now)
    return link if claimed else None


async def staff_for_link(email: str) -> Staff | None:
    """The active member of staff with this email (a link is asked for by email)."""
    email = email.strip().lower()
    if not email or len(email) > 254:
        return None
    return await Staff.filter(email=email, active=True).first()


# ----------------------------------------------------------------------------------------- access recovery


@dataclass(frozen=True)
class Recovery:
    staff: Staff
    token: str
    promoted: bool  #: the member was not an administrator before


async def recover_access(email: str, *, now: dt.datetime) -> Recovery:
    """The server operator's way back in: a one-time link for an existing administrator, or for an existing
    member of staff made administrator. Audited; every administrator is shown it at their next sign-in."""
    wanted = email.strip().lower()
    if not wanted:
        raise RecoveryError("give the email address of a member of staff")
    member = await Staff.filter(email=wanted).first()
    if member is None:
        raise RecoveryError(f"no member of staff has the email {wanted}: recovery only opens an existing account")
    if not member.active:
        raise RecoveryError(f"{wanted} belongs to a member of staff who was deactivated: nothing changed")
    async with in_transaction():
        _, promoted = await StaffRoleGrant.get_or_create(staff_id=member.id, role=StaffRole.ADMIN)
        if promoted:
            await audit(
                "staff.role_granted", at=now, subject_type="staff", subject_id=member.id, role="admin", by="recovery"
            )
        token = await create_staff_link(member.id, now, "recovery")
        await audit(RECOVERED, at=now, subject_type="staff", subject_id=member.id, promoted=promoted)
    return Recovery(member, token, promoted)


@dataclass(frozen=True)
class RecoveryNotice:
    entry_id: int
    at: dt.datetime
    name: str  #: the member who was given access
    promoted: bool


async def unseen_recoveries(staff_id: int) -> list[RecoveryNotice]:
    """The access recoveries this administrator has not yet said they saw (none for anyone else)."""
    if not await StaffRoleGrant.filter(staff_id=staff_id, role=StaffRole.ADMIN, staff__active=True).exists():
        return []
    seen = await AdminNoticeSeen.filter(staff_id=staff_id).values_list("entry_id", flat=True)
    entries = await AuditEntry.filter(action=RECOVERED).exclude(id__in=list(seen)).order_by("at", "id").limit(20)
    names = {
        m.id: f"{m.first_name} {m.last_name}"
        for m in await Staff.filter(id__in=[int(e.subject_id) for e in entries if e.subject_id.isdigit()])
    }
    return [
        RecoveryNotice(
            e.id,
            e.at,
            names.get(int(e.subject_id), "?") if e.subject_id.isdigit() else "?",
            bool(e.details.get("promoted")),
        )
        for e in entries
    ]


async def mark_recoveries_seen(staff_id: int, entry_ids: Sequence[int], *, now: dt.datetime) -> int:
    """This administrator saw these recoveries' banner; how many were new."""
    known = set(await AuditEntry.filter(action=RECOVERED, id__in=list(entry_ids)).values_list("id", flat=True))
    already = set(await AdminNoticeSeen.filter(staff_id=staff_id).values_list("entry_id", flat=True))
    fresh = sorted(known - already)
    for entry_id in fresh:
        await AdminNoticeSeen.get_or_create(staff_id=staff_id, entry_id=entry_id, defaults={"seen_at": now})
    return len(fresh)


async def admin_count(school_id: int) -> int:
    return await StaffRoleGrant.filter(role=StaffRole.ADMIN, staff__school_id=school_id, staff__active=True).count()


__all__ = [
    "RECOVERED",
    "STAFF_LINK_LIFETIME",
    "AdminIn",
    "FirstAdmin",
    "Recovery",
    "RecoveryError",
    "RecoveryNotice",
    "SchoolExists",
    "SchoolIn",
    "SetupError",
    "SetupResult",
    "admin_count",
    "consume_staff_link",
    "create_staff_link",
    "init_school",
    "link_url",
    "mark_recoveries_seen",
    "peek_staff_link",
    "recover_access",
    "staff_for_link",
    "unseen_recoveries",
]
