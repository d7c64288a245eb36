"""The roster import: the school's enrolment file (one CSV) brought into pupils, groups, households and guardians.

Two stages, kept apart so the first tests without a database:

* ``parse_roster(text)`` reads and validates the whole file and returns a ``ParsedRoster`` of plain values. It
  collects *every* problem (line, column, message) and raises one ``RosterError`` listing them all.
* ``store_roster(parsed)`` upserts the rows of the first school by their external ids, in one transaction, and
  returns an ``ImportReport``. Existing rows are loaded into dicts once; new rows are bulk-created.

``import_roster(path)`` does both and is what ``carnet import`` calls. The file format is described in
``docs/roster.md``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from tortoise.transactions import in_transaction
from tqdm import tqdm

from hub import clock
from hub.enums import ActorKind, ContactKind, GroupKind, Language, Relation
from hub.people.models import Contact, Group, Guardian, Guardianship, Household, Membership, Pupil, School
from hub.store.audit import AuditEntry

__all__ = [
    "COLUMNS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "SCHOOL_GROUP_CODE",
    "Counts",
    "GuardianRow",
    "HouseholdRow",
    "ImportReport",
    "LinkRow",
    "ParsedRoster",
    "PupilRow",
    "RosterError",
    "RosterIssue",
    "data_lines",
    "import_roster",
    "parse_roster",
    "read_roster_file",
    "store_roster",
]

#: Columns a file must have, in the order of the documentation; every cell of these is required too.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "pupil_id",
    "pupil_first_name",
    "pupil_last_name",
    "class",
    "guardian_id",
    "guardian_first_name",
    "guardian_last_name",
    "relation",
    "household_id",
    "street",
    "postal_code",
    "city",
)
#: Columns a file may leave out (or leave empty): a default or nothing is used.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "pupil_birth_date",
    "level",
    "courses",
    "country",
    "email",
    "phone",
    "language",
    "receives",
    "may_answer",
    "barred",
    "barred_reason",
)
COLUMNS: tuple[str, ...] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: The code of the group every pupil of the school belongs to.
SCHOOL_GROUP_CODE = "school"

#: Longest value per column (the database's column sizes).
_MAX_LENGTH: dict[str, int] = {
    "pupil_id": 64,
    "guardian_id": 64,
    "household_id": 64,
    "pupil_first_name": 100,
    "pupil_last_name": 100,
    "guardian_first_name": 100,
    "guardian_last_name": 100,
    "class": 50,
    "level": 50,
    "street": 200,
    "postal_code": 16,
    "city": 100,
    "barred_reason": 500,
}

_YES = frozenset({"yes", "oui", "ja", "1", "true"})
_NO = frozenset({"no", "non", "nee", "0", "false"})


def _fold(value: str) -> str:
    """Lower case, accents, spaces, hyphens and apostrophes removed: "Grand-Mère" -> "grandmere"."""
    decomposed = unicodedata.normalize("NFKD", value.lower())
    return re.sub(r"[^a-z]", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


_RELATIONS: dict[str, Relation] = {
    **{_fold(r.value): r for r in Relation},
    _fold("mère"): Relation.MOTHER,
    _fold("père"): Relation.FATHER,
    _fold("belle-mère"): Relation.STEPMOTHER,
    _fold("beau-père"): Relation.STEPFATHER,
    _fold("grand-mère"): Relation.GRANDMOTHER,
    _fold("grand-père"): Relation.GRANDFATHER,
    _fold("tuteur"): Relation.TUTOR,
    _fold("tutrice"): Relation.TUTOR,
    _fold("famille d'accueil"): Relation.FOSTER,
    _fold("autre"): Relation.OTHER,
}


# --------------------------------------------------------------------------------------------------- errors


@dataclass(frozen=True, order=True)
class RosterIssue:
    """One problem (an error or a warning) at a line of the file; ``column`` is empty for a whole-line problem."""

    line: int
    column: str
    message: str

    def describe(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.message}"


class RosterError(Exception):
    """The file cannot be imported: every problem found, nothing was stored."""

    def __init__(self, errors: Sequence[RosterIssue]) -> None:
        self.errors: list[RosterIssue] = sorted(errors, key=lambda e: (e.line, _column_rank(e.column)))
        super().__init__(self.describe())

    def describe(self) -> str:
        n = len(self.errors)
        head = f"the roster was not imported, nothing was stored: {n} error{'s' if n != 1 else ''}"
        return "\n".join([head, *(e.describe() for e in self.errors)])


def _column_rank(column: str) -> int:
    return COLUMNS.index(column) if column in COLUMNS else -1


# --------------------------------------------------------------------------------------------------- parsed rows


@dataclass(frozen=True)
class PupilRow:
    external_id: str
    first_name: str
    last_name: str
    birth_date: dt.date | None
    class_code: str
    level_code: str
    courses: tuple[str, ...]  #: sorted, without duplicates
    line: int


@dataclass(frozen=True)
class HouseholdRow:
    external_id: str
    street: str
    postal_code: str
    city: str
    country: str
    line: int


@dataclass(frozen=True)
class GuardianRow:
    external_id: str
    first_name: str
    last_name: str
    #: None when the file says nothing: French for a new guardian, left as it is for a known one.
    language: Language | None
    household_id: str
    street: str
    postal_code: str
    city: str
    country: str
    email: str  #: normalised, "" when none
    phone: str  #: E.164, "" when none
    line: int


@dataclass(frozen=True)
class LinkRow:
    """One line of the file: a (pupil, guardian) link with its rights."""

    pupil_id: str
    guardian_id: str
    relation: Relation
    household_id: str
    receives: bool
    may_answer: bool
    barred: bool
    barred_reason: str
    line: int


@dataclass
class ParsedRoster:
    """A whole valid file, as plain values keyed by external id, ready to store."""

    pupils: dict[str, PupilRow] = field(default_factory=dict)
    households: dict[str, HouseholdRow] = field(default_factory=dict)
    guardians: dict[str, GuardianRow] = field(default_factory=dict)
    links: list[LinkRow] = field(default_factory=list)
    #: class code -> level code
    classes: dict[str, str] = field(default_factory=dict)
    levels: set[str] = field(default_factory=set)
    courses: set[str] = field(default_factory=set)
    #: Without a ``courses`` column the file says nothing about courses: course memberships are left alone.
    has_courses: bool = False
    delimiter: str = ","
    warnings: list[RosterIssue] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------- parsing


def _detect_delimiter(header_line: str) -> str:
    return ";" if header_line.count(";") > header_line.count(",") else ","


def _parse_date(value: str) -> dt.date | None:
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", value)
    try:
        if m:
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", value)
        if m:
            return dt.date(int(m[3]), int(m[2]), int(m[1]))
    except ValueError:
        return None
    return None


def _parse_phone(value: str) -> str | None:
    """E.164, or None when the number cannot be read or is not a valid number. No country code means Belgium."""
    try:
        number = phonenumbers.parse(value, "BE")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _split_courses(value: str) -> tuple[str, ...]:
    return tuple(sorted({c.strip().upper() for c in value.split("|") if c.strip()}))


class _Line:
    """The cells of one line, read with error collection."""

    def __init__(self, line: int, cells: dict[str, str], errors: list[RosterIssue]) -> None:
        self.line = line
        self.cells = cells
        self.errors = errors
        self.ok = True

    def error(self, column: str, message: str) -> None:
        self.ok = False
        self.errors.append(RosterIssue(self.line, column, message))

    def get(self, column: str, *, required: bool = False) -> str:
        value = self.cells.get(column, "").strip()
        if required and not value:
            self.error(column, "is empty but required")
        limit = _MAX_LENGTH.get(column)
        if limit and len(value) > limit:
            self.error(column, f"is {len(value)} characters long, at most {limit} are allowed")
        return value

    def yes_no(self, column: str, default: bool) -> bool:
        value = self.get(column)
        if not value:
            return default
        folded = value.lower()
        if folded in _YES:
            return True
        if folded in _NO:
            return False
        self.error(column, f'"{value}" is not yes or no (yes/no, oui/non, ja/nee, 1/0, true/false)')
        return default


def _compare(
    what: str,
    key: str,
    first: Any,
    other: Any,
    columns: dict[str, str],
    line: int,
    out: list[RosterIssue],
    suffix: str = "",
) -> None:
    """Report the first field (attribute -> column) in which two readings of one id differ."""
    for attr, column in columns.items():
        a, b = getattr(first, attr), getattr(other, attr)
        if a != b:
            shown_a = "(empty)" if a in ("", None, ()) else f'"{_show(a)}"'
            shown_b = "(empty)" if b in ("", None, ()) else f'"{_show(b)}"'
            out.append(
                RosterIssue(line, column, f"{what} {key} has {shown_a} on line {first.line} but {shown_b} here{suffix}")
            )
            return


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return "|".join(value)
    return str(value)


_PUPIL_FIELDS = {
    "first_name": "pupil_first_name",
    "last_name": "pupil_last_name",
    "birth_date": "pupil_birth_date",
    "class_code": "class",
    "level_code": "level",
    "courses": "courses",
}
_GUARDIAN_FIELDS = {
    "first_name": "guardian_first_name",
    "last_name": "guardian_last_name",
    "household_id": "household_id",
    "email": "email",
    "phone": "phone",
    "language": "language",
    "street": "street",
    "postal_code": "postal_code",
    "city": "city",
    "country": "country",
}
_HOUSEHOLD_FIELDS = {"street": "street", "postal_code": "postal_code", "city": "city", "country": "country"}


def parse_roster(text: str) -> ParsedRoster:
    """Read and validate a whole roster file; raise ``RosterError`` listing every problem. No database."""
    text = text.removeprefix("\ufeff")
    errors: list[RosterIssue] = []
    parsed = ParsedRoster()
    if not text.strip():
        raise RosterError([RosterIssue(1, "", "the file is empty: a header line is expected")])
    parsed.delimiter = _detect_delimiter(text.splitlines()[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=parsed.delimiter)

    try:
        header = [h.strip().lower() for h in next(reader)]
    except csv.Error as exc:
        raise RosterError([RosterIssue(1, "", f"the header cannot be read: {exc}")]) from exc
    seen: set[str] = set()
    for name in header:
        if name in seen and name:
            errors.append(RosterIssue(1, name, "the column appears twice in the header"))
        seen.add(name)
    for name in REQUIRED_COLUMNS:
        if name not in seen:
            errors.append(RosterIssue(1, name, "required column is missing from the header"))
    for name in header:
        if name and name not in COLUMNS:
            parsed.warnings.append(RosterIssue(1, name, "unknown column, ignored"))
    if errors:  # without the columns every line would repeat the same errors
        raise RosterError(errors)
    parsed.has_courses = "courses" in seen

    class_first_line: dict[str, int] = {}
    link_lines: dict[tuple[str, str], int] = {}
    for line_no, cells in data_lines(reader, header, errors):
        row = _Line(line_no, dict(zip(header, cells, strict=False)), errors)
        _parse_line(row, parsed, class_first_line, link_lines, errors)

    if not parsed.links and not errors:
        errors.append(RosterIssue(2, "", "the file has a header but no pupil"))
    if errors:
        raise RosterError(errors)
    return parsed


class IssueMaker(Protocol):
    """Makes the issue of a line from an English template and its values (the staff import keeps them apart, to
    translate them)."""

    def __call__(self, line: int, column: str, template: str, /, **values: object) -> RosterIssue: ...


def plain_issue(line: int, column: str, template: str, /, **values: object) -> RosterIssue:
    return RosterIssue(line, column, template % {k: str(v) for k, v in values.items()})


def data_lines(
    reader: Iterator[list[str]],
    header: Sequence[str],
    errors: list[RosterIssue],
    issue: IssueMaker = plain_issue,
) -> Iterator[tuple[int, list[str]]]:
    """The data lines of a CSV file after its header, with their line number in the file (a quoted cell may span
    lines): blank lines skipped, a line with cells past the header's columns named in ``errors`` and skipped, an
    unreadable line named and the reading stopped. The roster and the staff import read their files through it;
    ``issue`` makes each problem from its English template."""
    previous_end = getattr(reader, "line_num", 1)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            errors.append(issue(previous_end + 1, "", "the line cannot be read: %(reason)s", reason=exc))
            return
        line_no = previous_end + 1
        previous_end = getattr(reader, "line_num", line_no)
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            errors.append(
                issue(
                    line_no,
                    "",
                    "the line has %(cells)s cells but the header has %(columns)s columns",
                    cells=len(cells),
                    columns=len(header),
                )
            )
            continue
        yield line_no, cells


def _parse_line(
    row: _Line,
    parsed: ParsedRoster,
    class_first_line: dict[str, int],
    link_lines: dict[tuple[str, str], int],
    errors: list[RosterIssue],
) -> None:
    line = row.line
    pupil_id = row.get("pupil_id", required=True)
    pupil_first = row.get("pupil_first_name", required=True)
    pupil_last = row.get("pupil_last_name", required=True)
    birth_raw = row.get("pupil_birth_date")
    birth_date = _parse_date(birth_raw) if birth_raw else None
    if birth_raw and birth_date is None:
        row.error("pupil_birth_date", f'"{birth_raw}" is not a date (YYYY-MM-DD or DD/MM/YYYY)')
    class_code = row.get("class", required=True).upper()
    level_code = row.get("level").upper()
    if not level_code and class_code:
        digits = re.match(r"\d+", class_code)
        if digits:
            level_code = digits[0]
        else:
            row.error("level", f'is empty and cannot be derived from class "{class_code}" (no leading digits)')
    courses = _split_courses(row.get("courses"))
    for course in courses:
        if len(course) > 50:
            row.error("courses", f'course code "{course}" is longer than 50 characters')

    guardian_id = row.get("guardian_id", required=True)
    guardian_first = row.get("guardian_first_name", required=True)
    guardian_last = row.get("guardian_last_name", required=True)
    relation_raw = row.get("relation", required=True)
    relation = _RELATIONS.get(_fold(relation_raw)) if relation_raw else None
    if relation_raw and relation is None:
        row.error("relation", f'"{relation_raw}" is not a known relation (mother, father, mère, père, ...)')
    household_id = row.get("household_id", required=True)
    street = row.get("street", required=True)
    postal_code = row.get("postal_code", required=True)
    city = row.get("city", required=True)
    country = row.get("country").upper() or "BE"
    if not re.fullmatch(r"[A-Z]{2}", country):
        row.error("country", f'"{country}" is not a two-letter country code (BE, NL, FR, ...)')

    email_raw = row.get("email")
    email = ""
    if email_raw:
        try:
            email = validate_email(email_raw, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            row.error("email", f'"{email_raw}" is not a valid email address: {exc}')
    phone_raw = row.get("phone")
    phone = ""
    if phone_raw:
        phone = _parse_phone(phone_raw) or ""
        if not phone:
            row.error("phone", f'"{phone_raw}" is not a valid phone number')
    language_raw = row.get("language").lower()
    language: Language | None = None
    if language_raw:
        try:
            language = Language(language_raw)
        except ValueError:
            row.error("language", f'"{language_raw}" is not a known language (fr, nl, en, de)')

    receives = row.yes_no("receives", True)
    may_answer = row.yes_no("may_answer", True)
    barred = row.yes_no("barred", False)
    barred_reason = row.get("barred_reason")

    if not row.ok or relation is None:
        return

    pupil = PupilRow(pupil_id, pupil_first, pupil_last, birth_date, class_code, level_code, courses, line)
    known_pupil = parsed.pupils.get(pupil_id)
    if known_pupil is None:
        parsed.pupils[pupil_id] = pupil
    else:
        _compare("pupil", pupil_id, known_pupil, pupil, _PUPIL_FIELDS, line, errors)

    known_level = parsed.classes.get(class_code)
    if known_level is None:
        parsed.classes[class_code] = level_code
        class_first_line[class_code] = line
    elif known_level != level_code:
        errors.append(
            RosterIssue(
                line,
                "level",
                f'class {class_code} is in level "{known_level}" on line {class_first_line[class_code]} '
                f'but in level "{level_code}" here',
            )
        )
    parsed.levels.add(level_code)
    parsed.courses.update(courses)

    guardian = GuardianRow(
        guardian_id,
        guardian_first,
        guardian_last,
        language,
        household_id,
        street,
        postal_code,
        city,
        country,
        email,
        phone,
        line,
    )
    known_guardian = parsed.guardians.get(guardian_id)
    if known_guardian is None:
        parsed.guardians[guardian_id] = guardian
    else:
        _compare("guardian", guardian_id, known_guardian, guardian, _GUARDIAN_FIELDS, line, errors)

    household = HouseholdRow(household_id, street, postal_code, city, country, line)
    known_household = parsed.households.get(household_id)
    if known_household is None:
        parsed.households[household_id] = household
    else:
        # Two guardians of one household may spell their address differently: the first line's is kept.
        _compare(
            "household",
            household_id,
            known_household,
            household,
            _HOUSEHOLD_FIELDS,
            line,
            parsed.warnings,
            " (the household keeps the first; the guardian keeps their own)",
        )

    key = (pupil_id, guardian_id)
    if key in link_lines:
        errors.append(
            RosterIssue(
                line,
                "guardian_id",
                f"pupil {pupil_id} and guardian {guardian_id} are already linked on line {link_lines[key]}",
            )
        )
        return
    link_lines[key] = line
    if barred and receives:
        parsed.warnings.append(
            RosterIssue(
                line,
                "barred",
                f"guardian {guardian_id} is barred for pupil {pupil_id} and also receives=yes: barred wins, "
                "nothing about this pupil reaches them",
            )
        )
    if barred_reason and not barred:
        parsed.warnings.append(RosterIssue(line, "barred_reason", "a reason is given but barred is no: kept"))
    parsed.links.append(
        LinkRow(pupil_id, guardian_id, relation, household_id, receives, may_answer, barred, barred_reason, line)
    )


# --------------------------------------------------------------------------------------------------- report


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Memberships of a pupil who moved class, links no longer in the file.
    removed: int = 0


_KINDS = ("groups", "pupils", "households", "guardians", "contacts", "memberships", "guardianships")


@dataclass
class ImportReport:
    file_name: str = ""
    dry_run: bool = False
    lines: int = 0
    counts: dict[str, Counts] = field(default_factory=lambda: {k: Counts() for k in _KINDS})
    #: "external_id first_name last_name" of the pupils absent from the file, now inactive.
    deactivated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(c.created for c in self.counts.values())

    @property
    def updated(self) -> int:
        return sum(c.updated for c in self.counts.values())

    @property
    def removed(self) -> int:
        return sum(c.removed for c in self.counts.values())

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed or self.deactivated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file_name,
            "lines": self.lines,
            "counts": {k: vars(c).copy() for k, c in self.counts.items()},
            "deactivated": list(self.deactivated),
            "warnings": len(self.warnings),
        }

    def describe(self) -> str:
        title = f"roster {self.file_name}" if self.file_name else "roster"
        if self.dry_run:
            title += " (dry run: nothing was stored)"
        out = [f"{title}: {self.lines} line{'s' if self.lines != 1 else ''}"]
        out.append(f"  {'':<14}{'created':>9}{'updated':>9}{'unchanged':>11}{'removed':>9}")
        for kind in _KINDS:
            c = self.counts[kind]
            out.append(f"  {kind:<14}{c.created:>9}{c.updated:>9}{c.unchanged:>11}{c.removed:>9}")
        out.append(f"  total: {self.created} created, {self.updated} updated, {self.removed} removed")
        if self.deactivated:
            out.append(f"pupils no longer in the file, now inactive ({len(self.deactivated)}):")
            out.extend(f"  {p}" for p in self.deactivated)
        if self.warnings:
            out.append(f"warnings ({len(self.warnings)}):")
            out.extend(f"  {w}" for w in self.warnings)
        if not self.changed:
            out.append("nothing changed")
        return "\n".join(out)


# --------------------------------------------------------------------------------------------------- storing


class _DryRun(Exception):
    """Raised inside the transaction of a dry run so that it rolls back."""


def _chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _level_name(code: str) -> str:
    return f"Niveau {code}"


async def store_roster(
    parsed: ParsedRoster,
    *,
    file_name: str = "",
    progress: bool = False,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Store a parsed roster in one transaction (rolled back for a dry run) and report what changed."""
    report = ImportReport(file_name=file_name, dry_run=dry_run, lines=len(parsed.links))
    report.warnings = [w.describe() for w in sorted(parsed.warnings)]
    now = now or clock.now()
    total = len(parsed.pupils) + len(parsed.guardians) + len(parsed.links)
    with tqdm(total=total, desc="roster", unit="row", file=sys.stderr, disable=not progress, leave=False) as bar:
        try:
            async with in_transaction():
                await _Store(parsed, report, now, bar).run()
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
    return report


class _Store:
    def __init__(self, parsed: ParsedRoster, report: ImportReport, now: dt.datetime, bar: tqdm[Any]) -> None:
        self.p = parsed
        self.report = report
        self.now = now
        self.bar = bar

    async def run(self) -> None:
        school = await School.all().order_by("id").first()
        if school is None:
            school = await School.create(name="École")
        self.school = school
        groups = await self._groups()
        households = await self._households()
        pupils = await self._pupils()
        guardians = await self._guardians(households)
        await self._memberships(pupils, groups)
        await self._contacts(guardians)
        await self._guardianships(pupils, guardians, households)
        await AuditEntry.create(
            at=self.now,
            actor_kind=ActorKind.SYSTEM,
            action="roster.imported",
            subject_type="school",
            subject_id=str(school.id),
            details=self.report.as_dict(),
        )

    # groups: the school group, levels (parent: school), classes (parent: their level), courses

    async def _groups(self) -> dict[tuple[str, str], Group]:
        counts = self.report.counts["groups"]
        existing = {(str(g.kind), g.code): g for g in await Group.filter(school=self.school)}
        key = (str(GroupKind.SCHOOL), SCHOOL_GROUP_CODE)
        if key in existing:
            counts.unchanged += 1
        else:
            existing[key] = await Group.create(
                school=self.school, kind=GroupKind.SCHOOL, code=SCHOOL_GROUP_CODE, name=self.school.name
            )
            counts.created += 1
        school_group = existing[key]

        async def ensure(kind: GroupKind, wanted: dict[str, int | None], name: Any) -> None:
            new: list[Group] = []
            for code, parent_id in sorted(wanted.items()):
                group = existing.get((str(kind), code))
                if group is None:
                    new.append(Group(school=self.school, kind=kind, code=code, name=name(code), parent_id=parent_id))
                    counts.created += 1
                elif parent_id is not None and group.parent_id != parent_id:
                    group.parent_id = parent_id
                    await group.save(update_fields=["parent_id"])
                    counts.updated += 1
                else:
                    counts.unchanged += 1
            if new:
                await Group.bulk_create(new)
                for g in await Group.filter(school=self.school, kind=kind):
                    existing[(str(kind), g.code)] = g

        await ensure(GroupKind.LEVEL, dict.fromkeys(self.p.levels, school_group.id), _level_name)
        level_ids = {code: existing[(str(GroupKind.LEVEL), code)].id for code in self.p.levels}
        await ensure(GroupKind.CLASS, {c: level_ids[lv] for c, lv in self.p.classes.items()}, str)
        await ensure(GroupKind.COURSE, dict.fromkeys(self.p.courses), str)
        return existing

    async def _households(self) -> dict[str, Household]:
        counts = self.report.counts["households"]
        existing = {h.external_id: h for h in await Household.filter(school=self.school)}
        new: list[Household] = []
        for ext, row in self.p.households.items():
            values = {"street": row.street, "postal_code": row.postal_code, "city": row.city, "country": row.country}
            household = existing.get(ext)
            if household is None:
                new.append(Household(school=self.school, external_id=ext, **values))
                counts.created += 1
            elif await _update(household, values):
                counts.updated += 1
            else:
                counts.unchanged += 1
        if new:
            await Household.bulk_create(new)
            existing = {h.external_id: h for h in await Household.filter(school=self.school)}
        return existing

    async def _pupils(self) -> dict[str, Pupil]:
        counts = self.report.counts["pupils"]
        existing = {p.external_id: p for p in await Pupil.filter(school=self.school)}
        new: list[Pupil] = []
        for ext, row in self.p.pupils.items():
            values = {
                "first_name": row.first_name,
                "last_name": row.last_name,
                "birth_date": row.birth_date,
                "active": True,
            }
            pupil = existing.get(ext)
            if pupil is None:
                new.append(Pupil(school=self.school, external_id=ext, **values))
                counts.created += 1
            elif await _update(pupil, values):
                counts.updated += 1
            else:
                counts.unchanged += 1
            self.bar.update()
        gone = sorted((p for ext, p in existing.items() if ext not in self.p.pupils and p.active), key=_by_ext)
        for chunk in _chunks([p.id for p in gone]):
            await Pupil.filter(id__in=chunk).update(active=False)
        self.report.deactivated = [f"{p.external_id} {p.first_name} {p.last_name}" for p in gone]
        if new:
            await Pupil.bulk_create(new)
            existing = {p.external_id: p for p in await Pupil.filter(school=self.school)}
        return existing

    async def _guardians(self, households: dict[str, Household]) -> dict[str, Guardian]:
        counts = self.report.counts["guardians"]
        existing = {g.external_id: g for g in await Guardian.filter(school=self.school)}
        new: list[Guardian] = []
        for ext, row in self.p.guardians.items():
            values: dict[str, Any] = {
                "first_name": row.first_name,
                "last_name": row.last_name,
                "household_id": households[row.household_id].id,
                "street": row.street,
                "postal_code": row.postal_code,
                "city": row.city,
                "country": row.country,
            }
            if row.language is not None:
                values["language"] = row.language
            guardian = existing.get(ext)
            if guardian is None:
                new.append(Guardian(school=self.school, external_id=ext, **values))
                counts.created += 1
            elif guardian.erased_at is not None:
                # A GDPR erasure is final: the file must not bring the personal data back.
                counts.unchanged += 1
                self.report.warnings.append(
                    f"line {row.line}: guardian {ext} was erased (GDPR) on {guardian.erased_at:%Y-%m-%d}: "
                    "their data and contacts are not imported again"
                )
            elif await _update(guardian, values):
                counts.updated += 1
            else:
                counts.unchanged += 1
            self.bar.update()
        if new:
            await Guardian.bulk_create(new)
            existing = {g.external_id: g for g in await Guardian.filter(school=self.school)}
        return existing

    async def _memberships(self, pupils: dict[str, Pupil], groups: dict[tuple[str, str], Group]) -> None:
        counts = self.report.counts["memberships"]
        kind_of = {g.id: str(g.kind) for g in groups.values()}
        #: The kinds the file is the truth about: a pupil's other memberships of these kinds are removed.
        managed = {str(GroupKind.LEVEL), str(GroupKind.CLASS)}
        if self.p.has_courses:
            managed.add(str(GroupKind.COURSE))
        existing: dict[int, dict[int, int]] = {}  # pupil id -> {group id: membership id}
        rows = await Membership.filter(pupil__school_id=self.school.id).values_list("id", "pupil_id", "group_id")
        for membership_id, pupil_id, group_id in rows:
            existing.setdefault(pupil_id, {})[group_id] = membership_id
        school_group = groups[(str(GroupKind.SCHOOL), SCHOOL_GROUP_CODE)]
        new: list[Membership] = []
        stale: list[int] = []
        for ext, row in self.p.pupils.items():
            pupil_id = pupils[ext].id
            wanted = {
                school_group.id,
                groups[(str(GroupKind.LEVEL), row.level_code)].id,
                groups[(str(GroupKind.CLASS), row.class_code)].id,
            }
            wanted.update(groups[(str(GroupKind.COURSE), c)].id for c in row.courses)
            have = existing.get(pupil_id, {})
            for group_id in sorted(wanted):
                if group_id in have:
                    counts.unchanged += 1
                else:
                    new.append(Membership(pupil_id=pupil_id, group_id=group_id))
                    counts.created += 1
            for group_id, membership_id in have.items():
                if group_id not in wanted and kind_of.get(group_id) in managed:
                    stale.append(membership_id)
        for chunk in _chunks(stale):
            await Membership.filter(id__in=chunk).delete()
        counts.removed += len(stale)
        if new:
            await Membership.bulk_create(new, batch_size=500)

    async def _contacts(self, guardians: dict[str, Guardian]) -> None:
        counts = self.report.counts["contacts"]
        rows = await Contact.filter(guardian__school_id=self.school.id).values_list("guardian_id", "kind", "value")
        existing = {(gid, str(kind), _contact_key(str(kind), value)) for gid, kind, value in rows}
        new: list[Contact] = []
        for ext, row in self.p.guardians.items():
            guardian = guardians[ext]
            if guardian.erased_at is not None:
                continue
            for kind, value in ((ContactKind.EMAIL, row.email), (ContactKind.PHONE, row.phone)):
                if not value:
                    continue
                key = (guardian.id, str(kind), _contact_key(str(kind), value))
                if key in existing:
                    counts.unchanged += 1
                    continue
                existing.add(key)
                # The school's enrolment file is the source of truth: its contacts are verified on import.
                new.append(
                    Contact(guardian_id=guardian.id, kind=kind, value=value, verified=True, verified_at=self.now)
                )
                counts.created += 1
        if new:
            await Contact.bulk_create(new, batch_size=500)

    async def _guardianships(
        self, pupils: dict[str, Pupil], guardians: dict[str, Guardian], households: dict[str, Household]
    ) -> None:
        counts = self.report.counts["guardianships"]
        existing = {(g.pupil_id, g.guardian_id): g for g in await Guardianship.filter(pupil__school_id=self.school.id)}
        in_file: set[tuple[int, int]] = set()
        new: list[Guardianship] = []
        for link in self.p.links:
            pupil_id, guardian_id = pupils[link.pupil_id].id, guardians[link.guardian_id].id
            in_file.add((pupil_id, guardian_id))
            values = {
                "relation": link.relation,
                "household_id": households[link.household_id].id,
                "receives": link.receives,
                "may_answer": link.may_answer,
                "barred": link.barred,
                "barred_reason": link.barred_reason,
            }
            current = existing.get((pupil_id, guardian_id))
            if current is None:
                new.append(Guardianship(pupil_id=pupil_id, guardian_id=guardian_id, **values))
                counts.created += 1
            elif await _update(current, values):
                counts.updated += 1
            else:
                counts.unchanged += 1
            self.bar.update()
        # For a pupil in the file, the file lists all their guardians: a link no longer there is removed
        # (otherwise a guardian taken off the enrolment would keep receiving messages about the pupil).
        pupil_ids = {pupils[ext].id for ext in self.p.pupils}
        ext_of_pupil = {p.id: p.external_id for p in pupils.values()}
        ext_of_guardian = {g.id: g.external_id for g in guardians.values()}
        stale = [g for key, g in existing.items() if key[0] in pupil_ids and key not in in_file]
        for g in stale:
            self.report.warnings.append(
                f"guardian {ext_of_guardian.get(g.guardian_id, g.guardian_id)} is no longer linked to pupil "
                f"{ext_of_pupil.get(g.pupil_id, g.pupil_id)}: link removed"
            )
        for chunk in _chunks([g.id for g in stale]):
            await Guardianship.filter(id__in=chunk).delete()
        counts.removed += len(stale)
        if new:
            await Guardianship.bulk_create(new, batch_size=500)


def _by_ext(row: Pupil) -> str:
    return row.external_id


def _contact_key(kind: str, value: str) -> str:
    return value.lower() if kind == ContactKind.EMAIL else value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):  # enums stored as their value
        return str(a) == str(b)
    return bool(a == b)


async def _update(obj: Any, values: dict[str, Any]) -> bool:
    """Set the fields that differ and save only those; False when nothing differed."""
    changed = [name for name, value in values.items() if not _same(getattr(obj, name), value)]
    if not changed:
        return False
    for name in changed:
        setattr(obj, name, values[name])
    await obj.save(update_fields=changed)
    return True


# --------------------------------------------------------------------------------------------------- entry point


def read_roster_file(path: Path) -> str:
    """The file's text: UTF-8 with or without a BOM, or a ``RosterError`` saying where it is not."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RosterError(
            [RosterIssue(line, "", 'the file is not UTF-8 text (save it from Excel as "CSV UTF-8")')]
        ) from exc


async def import_roster(
    path: Path | str,
    *,
    progress: bool = False,
    dry_run: bool = False,
    now: dt.datetime | None = None,
) -> ImportReport:
    """Validate the roster file at ``path`` and store it; ``RosterError`` (nothing stored) when it is invalid."""
    path = Path(path)
    parsed = parse_roster(read_roster_file(path))
    return await store_roster(parsed, file_name=path.name, progress=progress, dry_run=dry_run, now=now)
