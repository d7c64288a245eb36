"""The staff import: the enrolment software's staff file (one CSV) brought into staff, their roles and what they
teach. The format is described in ``docs/staff.md``.

As the roster import (:mod:`hub.people.roster`, whose CSV reading and error type this shares):

* ``parse_staff(text)`` reads and validates the whole file with no database, collecting *every* problem (line,
  column, message) into one ``RosterError``.
* ``store_staff(parsed)`` checks the file against the school (class and course codes, emails of other members),
  then upserts by the enrolment software's ids in one transaction. All or nothing: a problem found here, or a
  file that would leave fewer than two administrators, rolls everything back and names every problem.
* Importing the same file again changes nothing. A member of staff the previous file named and this one does not
  is deactivated (signed out, kept with their history), never deleted. Members created by hand (the first
  administrators of ``carnet school init``) are left alone unless a file names their email: they are then matched
  and take the file's id.

Every role granted or revoked and every member deactivated is written to the audit log, one entry each.
"""

from __future__ import annotations

import csv
import datetime as dt
import gettext as gettext_module
import io
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from email_validator import EmailNotValidError, validate_email
from tortoise.transactions import in_transaction

from hub import clock
from hub.enums import ActorKind, GroupKind, Language, StaffRole
from hub.people.models import Group, School, Staff, StaffRoleGrant, Teaching
from hub.people.roster import RosterError, RosterIssue, data_lines, read_roster_file
from hub.people.security import end_all_sessions
from hub.people.setup_models import StaffExternalId
from hub.people.staff import MIN_ADMINS
from hub.store.audit import audit
from hub.store.db import ids_of

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "ParsedStaff",
    "StaffImportError",
    "StaffImportReport",
    "StaffRow",
    "import_staff",
    "import_staff_text",
    "parse_staff",
    "store_staff",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("staff_id", "first_name", "last_name", "email", "roles")
OPTIONAL_COLUMNS: tuple[str, ...] = ("language", "classes", "courses", "titular")
COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

_MAX_LENGTH = {"staff_id": 64, "first_name": 100, "last_name": 100, "email": 254}
_MAX_SUBJECT = 100


def _fold(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


#: The roles in English (the stored words) and as French and Dutch enrolment software write them.
_ROLES: dict[str, StaffRole] = {
    **{_fold(r.value): r for r in StaffRole},
    **dict.fromkeys(map(_fold, ("enseignant", "enseignante", "professeur", "leerkracht", "leraar")), StaffRole.TEACHER),
    **dict.fromkeys(map(_fold, ("secrétaire", "secrétariat", "educateur", "secretariaat")), StaffRole.SECRETARY),
    **dict.fromkeys(map(_fold, ("direction", "directeur", "directrice", "directie", "director")), StaffRole.PRINCIPAL),
    **dict.fromkeys(map(_fold, ("administrateur", "administratrice", "administrator", "beheerder")), StaffRole.ADMIN),
}


@dataclass(frozen=True, order=True)
class StaffIssue(RosterIssue):
    """A staff file's problem with its words kept apart: ``template`` (English, a msgid of the admin page's
    catalogue ``admin.po``) and its ``values``, so the page and the CLI give it in their reader's language."""

    template: str = field(default="", compare=False)
    values: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def _issue(line: int, column: str, template: str, /, **values: object) -> StaffIssue:
    shown = tuple((k, str(v)) for k, v in values.items())
    return StaffIssue(line, column, template % dict(shown), template, shown)


def issue_text(issue: RosterIssue, gettext: Callable[[str], str]) -> str:
    """An issue's message through ``gettext`` (a page's catalogue; English: the template itself)."""
    if isinstance(issue, StaffIssue) and issue.template:
        return gettext(issue.template) % dict(issue.values)
    return gettext(issue.message)


def describe_errors(errors: Sequence[RosterIssue], lang: str) -> str:
    """The CLI's text of a refused file, in ``lang`` (fr, nl; anything else: English)."""
    code = str(getattr(lang, "value", lang) or "").lower()[:2]
    catalogue = _catalogue(code if code in ("fr", "nl") else "en")
    n = len(errors)
    head = catalogue.ngettext(
        "the staff file was not imported, nothing was stored: %(num)s error",
        "the staff file was not imported, nothing was stored: %(num)s errors",
        n,
    ) % {"num": n}
    lines = [head]
    for e in errors:
        where = (
            catalogue.gettext("line %(line)s, column %(column)s") % {"line": e.line, "column": e.column}
            if e.column
            else catalogue.gettext("line %(line)s") % {"line": e.line}
        )
        lines.append(f"{where}: {issue_text(e, catalogue.gettext)}")
    return "\n".join(lines)


def _catalogue(lang: str) -> gettext_module.NullTranslations:
    """The admin page's catalogue of ``lang`` (English: the msgids themselves)."""
    if lang == "en":
        return gettext_module.NullTranslations()
    path = Path(__file__).resolve().parent.parent / "locale" / lang / "LC_MESSAGES" / "admin.po"
    with path.open("rb") as po:
        catalog = read_po(po, locale=f"{lang}_BE")
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    found = gettext_module.GNUTranslations(buffer)
    found.plural = (lambda n: int(n > 1)) if lang == "fr" else (lambda n: int(n != 1))  # type: ignore[attr-defined]
    return found


class StaffImportError(RosterError):
    """The staff file cannot be imported: every problem found (line, column, message), nothing was stored."""

    def __init__(self, errors: Sequence[RosterIssue]) -> None:
        super().__init__(errors)
        rank = {name: n for n, name in enumerate(COLUMNS)}
        self.errors = sorted(errors, key=lambda e: (e.line, rank.get(e.column, -1)))
        self.args = (self.describe(),)

    def describe(self) -> str:
        n = len(self.errors)
        head = f"the staff file was not imported, nothing was stored: {n} error{'s' if n != 1 else ''}"
        return "\n".join([head, *(e.describe() for e in self.errors)])


@dataclass(frozen=True)
class StaffRow:
    external_id: str
    first_name: str
    last_name: str
    email: str  #: normalised, lower case
    roles: frozenset[StaffRole]
    language: Language | None  #: None: French for a new member, kept for a known one
    classes: tuple[tuple[str, str], ...]  #: (class code, subject), sorted
    courses: tuple[tuple[str, str], ...]  #: (course code, subject), sorted
    titular: tuple[str, ...]  #: class codes, sorted
    line: int


@dataclass
class ParsedStaff:
    rows: dict[str, StaffRow] = field(default_factory=dict)
    #: Without a ``classes``/``courses``/``titular`` column the file says nothing of teaching: left as it is.
    has_teaching: bool = False
    #: Every class and course code the file names, valid line or not: (line, column, kind, code), checked against
    #: the school with the rest, so one pass names every problem.
    references: list[tuple[int, str, GroupKind, str]] = field(default_factory=list)
    warnings: list[RosterIssue] = field(default_factory=list)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split("|") if part.strip()]


def _teachings(raw: str, column: str, line: int, errors: list[RosterIssue]) -> tuple[tuple[str, str], ...]:
    """``3B:Mathématiques|4A`` -> (("3B", "Mathématiques"), ("4A", "")): a group code, then an optional subject."""
    found: set[tuple[str, str]] = set()
    for part in _split(raw):
        code, _, subject = part.partition(":")
        code, subject = code.strip().upper(), subject.strip()
        if not code:
            errors.append(_issue(line, column, '"%(part)s" has no class or course code before its ":"', part=part))
        elif len(code) > 50:
            errors.append(_issue(line, column, 'code "%(code)s" is longer than 50 characters', code=code))
        elif len(subject) > _MAX_SUBJECT:
            errors.append(
                _issue(
                    line,
                    column,
                    'subject "%(subject)s..." is longer than %(limit)s',
                    subject=subject[:20],
                    limit=_MAX_SUBJECT,
                )
            )
        else:
            found.add((code, subject))
    return tuple(sorted(found))


def parse_staff(text: str) -> ParsedStaff:
    """Read and validate a whole staff file; ``StaffImportError`` listing every problem. No database."""
    parsed, errors = _parse(text)
    if errors:
        raise StaffImportError(errors)
    return parsed


def _parse(text: str) -> tuple[ParsedStaff, list[RosterIssue]]:
    """The valid lines of the file and every problem of the others (the header's problems stop the reading)."""
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise StaffImportError([_issue(1, "", "the file is empty: a header line is expected")])
    header_line = text.splitlines()[0]
    delimiter = ";" if header_line.count(";") > header_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    errors: list[RosterIssue] = []
    parsed = ParsedStaff()
    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise StaffImportError([_issue(1, "", "the header cannot be read: %(reason)s", reason=exc)]) from exc
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            errors.append(_issue(1, name, "the column appears twice in the header"))
        seen.add(name)
    errors += [_issue(1, n, "required column is missing from the header") for n in REQUIRED_COLUMNS if n not in seen]
    parsed.warnings += [_issue(1, n, "unknown column, ignored") for n in header if n and n not in COLUMNS]
    if errors:
        raise StaffImportError(errors)
    parsed.has_teaching = bool(seen & {"classes", "courses", "titular"})

    emails: dict[str, int] = {}
    ids: dict[str, int] = {}
    for line, cells in data_lines(reader, header, errors, _issue):
        named = dict(zip(header, cells, strict=False))
        unique = True
        for column, seen_at in (("staff_id", ids), ("email", emails)):
            key = named.get(column, "").strip().lower() if column == "email" else named.get(column, "").strip()
            if key and key in seen_at:
                errors.append(
                    _issue(line, column, "%(value)s is already on line %(line)s", value=key, line=seen_at[key])
                )
                unique = False
            elif key:
                seen_at[key] = line
        row = _parse_line(line, named, errors, parsed.references)
        if row is not None and unique:
            parsed.rows[row.external_id] = row
    if not parsed.rows and not errors:
        errors.append(_issue(2, "", "the file has a header but no member of staff"))
    return parsed, errors


def _parse_line(
    line: int, cells: dict[str, str], errors: list[RosterIssue], references: list[tuple[int, str, GroupKind, str]]
) -> StaffRow | None:
    before = len(errors)

    def get(column: str, required: bool = False) -> str:
        value = cells.get(column, "").strip()
        if required and not value:
            errors.append(_issue(line, column, "is empty but required"))
        limit = _MAX_LENGTH.get(column)
        if limit and len(value) > limit:
            errors.append(
                _issue(
                    line,
                    column,
                    "is %(length)s characters long, at most %(limit)s are allowed",
                    length=len(value),
                    limit=limit,
                )
            )
        return value

    external_id = get("staff_id", True)
    first_name = get("first_name", True)
    last_name = get("last_name", True)
    email_raw = get("email", True)
    email = ""
    if email_raw:
        try:
            email = validate_email(email_raw, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            errors.append(
                _issue(
                    line, "email", '"%(value)s" is not a valid email address: %(reason)s', value=email_raw, reason=exc
                )
            )
    roles: set[StaffRole] = set()
    for word in _split(get("roles", True)):
        role = _ROLES.get(_fold(word))
        if role is None:
            errors.append(
                _issue(line, "roles", '"%(value)s" is not a role (teacher, secretary, principal, admin)', value=word)
            )
        else:
            roles.add(role)
    language: Language | None = None
    language_raw = get("language").lower()
    if language_raw:
        try:
            language = Language(language_raw)
        except ValueError:
            errors.append(
                _issue(line, "language", '"%(value)s" is not a known language (fr, nl, en, de)', value=language_raw)
            )
    classes = _teachings(get("classes"), "classes", line, errors)
    courses = _teachings(get("courses"), "courses", line, errors)
    titular = tuple(sorted({code.upper() for code in _split(get("titular"))}))
    for column, codes, kind in (
        ("classes", [c for c, _ in classes], GroupKind.CLASS),
        ("courses", [c for c, _ in courses], GroupKind.COURSE),
        ("titular", list(titular), GroupKind.CLASS),
    ):
        references.extend((line, column, kind, code) for code in dict.fromkeys(codes))
    if (classes or courses or titular) and StaffRole.TEACHER not in roles and len(errors) == before:
        errors.append(_issue(line, "roles", "teaches classes or courses but has no teacher role"))
    if len(errors) > before:
        return None
    return StaffRow(
        external_id, first_name, last_name, email, frozenset(roles), language, classes, courses, titular, line
    )


# ------------------------------------------------------------------------------------------------- storing


@dataclass
class StaffImportReport:
    file_name: str = ""
    dry_run: bool = False
    members: int = 0
    created: int = 0
    updated: int = 0
    reactivated: int = 0
    deactivated: int = 0
    roles_granted: int = 0
    roles_revoked: int = 0
    teachings_added: int = 0
    teachings_removed: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(
            (
                self.created,
                self.updated,
                self.reactivated,
                self.deactivated,
                self.roles_granted,
                self.roles_revoked,
                self.teachings_added,
                self.teachings_removed,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        keys = ("members", "created", "updated", "reactivated", "deactivated", "roles_granted", "roles_revoked")
        return {k: getattr(self, k) for k in (*keys, "teachings_added", "teachings_removed")}

    def describe(self) -> str:
        head = f"{self.file_name or 'staff file'}: {self.members} member(s) of staff" + (
            " (dry run: nothing stored)" if self.dry_run else ""
        )
        lines = [
            head,
            f"  members: {self.created} created, {self.updated} updated, {self.reactivated} reactivated, "
            f"{self.deactivated} deactivated (not in the file)",
            f"  roles: {self.roles_granted} granted, {self.roles_revoked} revoked",
            f"  teaching: {self.teachings_added} added, {self.teachings_removed} removed",
        ]
        if not self.changed:
            lines.append("  nothing changed")
        lines += [f"  warning: {w}" for w in self.warnings]
        return "\n".join(lines)


class _DryRun(Exception):
    pass


class _Refused(Exception):
    def __init__(self, errors: list[RosterIssue]) -> None:
        self.errors = errors


async def import_staff_text(
    text: str, *, file_name: str = "", dry_run: bool = False, now: dt.datetime | None = None, by: int | None = None
) -> StaffImportReport:
    """Check a whole staff file, lines and school together, and store it: every problem of both is named at once
    (``StaffImportError``, nothing stored). What the command and the page call."""
    parsed, errors = _parse(text)
    return await store_staff(parsed, file_name=file_name, dry_run=dry_run, now=now, by=by, errors=errors)


async def store_staff(
    parsed: ParsedStaff,
    *,
    file_name: str = "",
    dry_run: bool = False,
    now: dt.datetime | None = None,
    by: int | None = None,
    errors: Sequence[RosterIssue] = (),
) -> StaffImportReport:
    """Check the parsed file against the school and store it in one transaction; ``RosterError`` (nothing
    stored) when a code is unknown, an email is another member's, or fewer than two administrators would remain.
    ``by``: the administrator who imported it on the page (the command line is the server's operator)."""
    now = now or clock.now()
    report = StaffImportReport(file_name=file_name, dry_run=dry_run, members=len(parsed.rows))
    report.warnings = [w.describe() for w in sorted(parsed.warnings)]
    school = await School.all().order_by("id").first()
    if school is None:
        raise StaffImportError([_issue(1, "", "the database holds no school yet: run `carnet school init` first")])
    try:
        async with in_transaction():
            await _Store(parsed, report, school, now, by, list(errors)).run()
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    except _Refused as refused:
        raise StaffImportError(refused.errors) from None
    return report


class _Store:
    def __init__(
        self,
        parsed: ParsedStaff,
        report: StaffImportReport,
        school: School,
        now: dt.datetime,
        by: int | None,
        errors: list[RosterIssue],
    ) -> None:
        self.p, self.report, self.school, self.now, self.by = parsed, report, school, now, by
        self.errors = errors  #: the lines' problems, named with the school's

    async def _audit(self, action: str, staff_id: int, **details: Any) -> None:
        await audit(
            action,
            at=self.now,
            actor_kind=ActorKind.STAFF if self.by else ActorKind.SYSTEM,
            actor_id=self.by,
            subject_type="staff",
            subject_id=staff_id,
            **details,
        )

    async def run(self) -> None:
        school_id = self.school.id
        # One lock on the school's row, as the two-administrator rule takes it (hub.people.staff).
        await School.filter(id=school_id).select_for_update().first()
        groups = {(str(g.kind), g.code): g.id for g in await Group.filter(school_id=school_id)}
        known = {e.external_id: e.staff_id for e in await StaffExternalId.filter(school_id=school_id)}
        members = {m.id: m for m in await Staff.filter(school_id=school_id)}
        by_email = {m.email: m for m in members.values()}
        all_emails = dict(await Staff.all().values_list("email", "school_id"))
        errors = self.errors
        matched: dict[str, Staff | None] = {}
        for ext, row in self.p.rows.items():
            member = members.get(known[ext]) if ext in known else None
            if member is None:
                by_mail = by_email.get(row.email)
                if by_mail is not None and by_mail.id not in known.values():
                    member = by_mail  # a member made by hand, now named by the file: matched by email
            owner = by_email.get(row.email)
            if row.email in all_emails and (owner is None or member is None or owner.id != member.id):
                errors.append(
                    _issue(row.line, "email", "%(value)s is another member of staff's address", value=row.email)
                )
            matched[ext] = member
        for line, column, kind, code in self.p.references:
            if (str(kind), code) not in groups:
                errors.append(
                    _issue(
                        line,
                        column,
                        'the school has no %(kind)s "%(code)s" (import the roster first)',
                        kind=kind,
                        code=code,
                    )
                )
        if errors:
            raise _Refused(errors)

        for ext, row in self.p.rows.items():
            member = matched[ext]
            if member is None:
                member = await Staff.create(
                    school_id=school_id,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    email=row.email,
                    language=row.language or Language.FR,
                )
                self.report.created += 1
                await self._audit("staff.created", member.id, by="import")
            else:
                await self._update(member, row)
            if ext not in known:
                await StaffExternalId.filter(staff_id=member.id).delete()
                await StaffExternalId.create(staff_id=member.id, school_id=school_id, external_id=ext)
            await self._roles(member.id, row.roles)
            if self.p.has_teaching:
                await self._teaching(member.id, row, groups)

        gone = [staff_id for ext, staff_id in known.items() if ext not in self.p.rows]
        for member in await Staff.filter(id__in=gone, active=True):
            await Staff.filter(id=member.id).update(active=False)
            await end_all_sessions(ActorKind.STAFF, member.id, self.now)
            self.report.deactivated += 1
            await self._audit("staff.deactivated", member.id, by="import")

        admins = await StaffRoleGrant.filter(
            role=StaffRole.ADMIN, staff__school_id=school_id, staff__active=True
        ).count()
        if admins < MIN_ADMINS:
            raise _Refused(
                [
                    _issue(
                        1,
                        "roles",
                        "the school would keep %(admins)s administrator(s): at least %(least)s are needed "
                        "(name them with the admin role, or keep the ones the file leaves out)",
                        admins=admins,
                        least=MIN_ADMINS,
                    )
                ]
            )
        await audit(
            "staff.imported",
            at=self.now,
            actor_kind=ActorKind.STAFF if self.by else ActorKind.SYSTEM,
            actor_id=self.by,
            subject_type="school",
            subject_id=school_id,
            **self.report.as_dict(),
        )

    async def _update(self, member: Staff, row: StaffRow) -> None:
        values: dict[str, Any] = {"first_name": row.first_name, "last_name": row.last_name, "email": row.email}
        if row.language is not None:
            values["language"] = row.language
        changed = {k: v for k, v in values.items() if str(getattr(member, k)) != str(v)}
        if changed:
            await Staff.filter(id=member.id).update(**changed)
            self.report.updated += 1
            await self._audit("staff.updated", member.id, fields=sorted(changed), by="import")
        if not member.active:
            await Staff.filter(id=member.id).update(active=True)
            self.report.reactivated += 1
            await self._audit("staff.reactivated", member.id, by="import")

    async def _roles(self, staff_id: int, wanted: frozenset[StaffRole]) -> None:
        have = {StaffRole(str(r)) for r in await ids_of(StaffRoleGrant.filter(staff_id=staff_id), "role")}
        for role in sorted(wanted - have):
            await StaffRoleGrant.create(staff_id=staff_id, role=role)
            self.report.roles_granted += 1
            await self._audit("staff.role_granted", staff_id, role=str(role), by="import")
        for role in sorted(have - wanted):
            await StaffRoleGrant.filter(staff_id=staff_id, role=role).delete()
            self.report.roles_revoked += 1
            await self._audit("staff.role_revoked", staff_id, role=str(role), by="import")

    async def _teaching(self, staff_id: int, row: StaffRow, groups: dict[tuple[str, str], int]) -> None:
        cls, course = str(GroupKind.CLASS), str(GroupKind.COURSE)
        wanted: dict[tuple[int, str], bool] = {}
        for code, subject in row.classes:
            wanted[(groups[(cls, code)], subject)] = code in row.titular
        for code, subject in row.courses:
            wanted.setdefault((groups[(course, code)], subject), False)
        for code in row.titular:
            group_id = groups[(cls, code)]
            if not any(g == group_id for g, _ in wanted):
                wanted[(group_id, "")] = True
        have = {(t.group_id, t.subject): t for t in await Teaching.filter(staff_id=staff_id)}
        for key, teaching in have.items():
            if key not in wanted:
                await Teaching.filter(id=teaching.id).delete()
                self.report.teachings_removed += 1
            elif teaching.is_titular != wanted[key]:
                await Teaching.filter(id=teaching.id).update(is_titular=wanted[key])
                self.report.teachings_added += 1
                self.report.teachings_removed += 1
        for (group_id, subject), titular in wanted.items():
            if (group_id, subject) not in have:
                await Teaching.create(staff_id=staff_id, group_id=group_id, subject=subject, is_titular=titular)
                self.report.teachings_added += 1


async def import_staff(
    path: Path | str, *, dry_run: bool = False, now: dt.datetime | None = None, by: int | None = None
) -> StaffImportReport:
    """Validate the staff file at ``path`` and store it; ``RosterError`` (nothing stored) when it is invalid."""
    path = Path(path)
    try:
        text = read_roster_file(path)
    except RosterError as exc:
        raise StaffImportError(exc.errors) from None
    return await import_staff_text(text, file_name=path.name, dry_run=dry_run, now=now, by=by)
