"""The grade book: evaluations per course (date, title, scale, weight), their scores with comments entered for a
whole class at once (a form, the JSON API or a CSV file), publishing, and the averages per course and term.

* Who writes: a teacher only for the classes and courses they teach (:mod:`hub.messaging.access`), and only the
  subjects they teach there when their teaching names one; the secretary, the principal and administrators for
  the whole school. Anything else is "not found": nothing is stored.
* All or nothing: a sheet or a file with any wrong score stores nothing and says every error (by pupil, or by line
  of the file, as the roster import does).
* A grade copies its evaluation's subject, title, term, date, scale and publication time, so every reader of grades
  (the portal, the API, the export: :mod:`hub.records.visibility`) keeps reading one table.
* Averages are computed from the grades, never stored: per pupil, course and term, the weighted mean of the
  scores as a percentage (a grade without a score, an absent pupil, does not count).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

from tortoise.transactions import in_transaction

from hub import csvfile
from hub.enums import ActorKind, GroupKind, StaffRole
from hub.messaging import access
from hub.people.models import Group, Membership, Pupil, Teaching
from hub.records.models import Evaluation, Grade
from hub.store.audit import audit
from hub.store.db import ids_of

#: The largest scale (a score out of 1000 is already unusual) and weight an evaluation may have.
MAX_SCALE = Decimal(1000)
MAX_WEIGHT = Decimal(100)
#: A comment on one score: a few sentences, as in the margin of a test.
MAX_COMMENT = 500
#: The longest grades file accepted (a class of 40 with comments is far below).
MAX_FILE_CHARS = 200_000
#: The columns of a grades file: the pupil's id in the enrolment software, the score and an optional comment.
CSV_COLUMNS = ("pupil_id", "score", "comment")


class Writer(Protocol):
    """Who writes grades: the web kit's ``Actor`` fits."""

    @property
    def id(self) -> int: ...
    @property
    def school_id(self) -> int: ...
    @property
    def roles(self) -> frozenset[StaffRole]: ...


class GradesError(Exception):
    """Nothing was stored: ``errors`` maps a field, a pupil id (``pupil:12``) or a line (``line 4``) to what is
    wrong there."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# ------------------------------------------------------------------------------------------------ pure rules


def parse_decimal(text: str) -> Decimal | None:
    """``"12,5"`` or ``"12.5"`` as a Decimal (the Belgian decimal comma is what people type), else None."""
    value = text.strip().replace(",", ".")
    if not value or len(value) > 12:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def check_score(text: str, max_score: Decimal) -> tuple[Decimal | None, str]:
    """A typed score against its scale: ``(score, "")``, ``(None, "")`` for an empty one, or ``(None, error)``."""
    if not text.strip():
        return None, ""
    score = parse_decimal(text)
    if score is None:
        return None, f"not a number: {text.strip()[:20]!r}"
    if score < 0 or score > max_score:
        return None, f"must be between 0 and {plain(max_score)}"
    if score != score.quantize(Decimal("0.01")):
        return None, "at most two decimals"
    return score, ""


def plain(value: Decimal | None) -> str:
    """A score or a scale as people write it: ``20``, ``15.5`` (no exponent, no trailing zeros); None is empty."""
    if value is None:
        return ""
    return format(Decimal(value).normalize(), "f")


@dataclass(frozen=True)
class EvaluationDraft:
    subject: str
    title: str
    term: str
    assessed_on: dt.date
    max_score: Decimal
    weight: Decimal


def parse_evaluation(fields: Mapping[str, str]) -> tuple[EvaluationDraft | None, dict[str, str]]:
    """An evaluation from a form's or the API's fields, or every error by field."""
    errors: dict[str, str] = {}
    subject = fields.get("subject", "").strip()
    title = fields.get("title", "").strip()
    term = fields.get("term", "").strip()
    for name, value, longest in (("subject", subject, 100), ("title", title, 200), ("term", term, 20)):
        if not value:
            errors[name] = "required"
        elif len(value) > longest:
            errors[name] = f"at most {longest} characters"
    assessed_on: dt.date | None = None
    try:
        assessed_on = dt.date.fromisoformat(fields.get("assessed_on", "").strip())
        if not 2000 <= assessed_on.year <= 2100:
            errors["assessed_on"] = "a date between 2000 and 2100"
    except ValueError:
        errors["assessed_on"] = "a date (YYYY-MM-DD)"
    max_score = parse_decimal(fields.get("max_score", ""))
    if max_score is None or not Decimal(0) < max_score <= MAX_SCALE or max_score != max_score.quantize(Decimal(1)):
        errors["max_score"] = f"a whole number from 1 to {MAX_SCALE}"
    weight_text = fields.get("weight", "").strip() or "1"
    weight = parse_decimal(weight_text)
    if weight is None or not Decimal(0) < weight <= MAX_WEIGHT or weight != weight.quantize(Decimal("0.01")):
        errors["weight"] = f"a number above 0, at most {MAX_WEIGHT}"
    if errors or assessed_on is None or max_score is None or weight is None:
        return None, errors
    return EvaluationDraft(subject, title, term, assessed_on, max_score, weight), {}


def weighted_average(items: Iterable[tuple[Decimal | None, Decimal, Decimal]]) -> Decimal | None:
    """The weighted mean, as a percentage rounded to one decimal, of ``(score, scale, weight)``; scores that are
    None (absent) do not count; None when nothing counts."""
    total = Decimal(0)
    weights = Decimal(0)
    for score, scale, weight in items:
        if score is None or scale <= 0 or weight <= 0:
            continue
        total += weight * score / scale
        weights += weight
    if weights == 0:
        return None
    return (total * 100 / weights).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------------------------------------- who writes


async def writable_subjects(writer: Writer, group_id: int) -> tuple[str, ...] | None:
    """The subjects this member of staff may grade in this group: ``()`` means any, None means not this group.

    A class or course of another school, a level or the school group is never graded (None)."""
    group = await Group.filter(id=group_id, school_id=writer.school_id).first()
    if group is None or GroupKind(group.kind) not in (GroupKind.CLASS, GroupKind.COURSE):
        return None
    if access.sees_whole_school(writer.roles):
        return ()
    subjects = [
        str(s) for s in await Teaching.filter(staff_id=writer.id, group_id=group_id).values_list("subject", flat=True)
    ]
    if not subjects:
        return None
    if any(not s for s in subjects):
        return ()
    return tuple(sorted(set(subjects)))


async def writable_groups(writer: Writer) -> list[Group]:
    """The classes and courses this member of staff may grade."""
    ids = await access.staff_group_ids(writer.id, writer.roles, writer.school_id)
    return await Group.filter(id__in=list(ids), kind__in=(GroupKind.CLASS, GroupKind.COURSE)).order_by("kind", "code")


async def may_write(writer: Writer, evaluation: Evaluation) -> bool:
    subjects = await writable_subjects(writer, evaluation.group_id)
    return subjects is not None and (not subjects or evaluation.subject in subjects)


async def writable_evaluation(writer: Writer, evaluation_id: int) -> Evaluation | None:
    """The evaluation with this id if this member of staff may write its grades, else None (404)."""
    evaluation = await Evaluation.filter(id=evaluation_id, school_id=writer.school_id).first()
    if evaluation is None or not await may_write(writer, evaluation):
        return None
    return evaluation


async def evaluations_of(writer: Writer, group_id: int | None = None) -> list[Evaluation]:
    """The evaluations this member of staff may write, latest first (of one group when named)."""
    groups = [g.id for g in await writable_groups(writer)]
    if group_id is not None:
        groups = [g for g in groups if g == group_id]
    found = await (
        Evaluation.filter(group_id__in=groups).order_by("-assessed_on", "-id").prefetch_related("group").limit(200)
    )
    return [e for e in found if await may_write(writer, e)]


# ------------------------------------------------------------------------------------------------ writing


async def create_evaluation(
    writer: Writer, group_id: int, fields: Mapping[str, str], *, now: dt.datetime
) -> Evaluation:
    """A new evaluation for this group; raises GradesError (the fields' errors; ``group`` when this member of
    staff may not grade it or its subject)."""
    draft, errors = parse_evaluation(fields)
    subjects = await writable_subjects(writer, group_id)
    if subjects is None:
        raise GradesError({"group": "not a class or course you teach"})
    if draft is not None and subjects and draft.subject not in subjects:
        errors["subject"] = "one of: " + ", ".join(subjects)
    if errors or draft is None:
        raise GradesError(errors)
    evaluation = await Evaluation.create(
        school_id=writer.school_id,
        group_id=group_id,
        teacher_id=writer.id,
        subject=draft.subject,
        title=draft.title,
        term=draft.term,
        assessed_on=draft.assessed_on,
        max_score=draft.max_score,
        weight=draft.weight,
    )
    await _audit("grades.evaluation_created", writer, evaluation, now)
    return evaluation


@dataclass(frozen=True)
class SheetRow:
    pupil_id: int
    external_id: str
    name: str
    score: Decimal | None
    comment: str
    #: True when a grade row exists (a score or a comment was entered).
    entered: bool


async def pupils_of(group_id: int) -> list[Pupil]:
    """The active pupils of a class or course, by name."""
    ids = await ids_of(Membership.filter(group_id=group_id), "pupil_id")
    return await Pupil.filter(id__in=ids, active=True).order_by("last_name", "first_name", "id")


async def sheet(evaluation: Evaluation) -> list[SheetRow]:
    """The class's sheet for this evaluation: every pupil of the group, with their grade when entered."""
    grades = {g.pupil_id: g for g in await Grade.filter(evaluation_id=evaluation.id)}
    rows = []
    for pupil in await pupils_of(evaluation.group_id):
        grade = grades.get(pupil.id)
        rows.append(
            SheetRow(
                pupil_id=pupil.id,
                external_id=pupil.external_id,
                name=f"{pupil.last_name} {pupil.first_name}",
                score=grade.score if grade else None,
                comment=grade.comment if grade else "",
                entered=grade is not None,
            )
        )
    return rows


async def record_scores(
    writer: Writer, evaluation: Evaluation, entries: Mapping[int, tuple[str, str]], *, now: dt.datetime
) -> int:
    """Write the scores and comments of ``entries`` (pupil id -> (score text, comment)) for this evaluation, all or
    nothing: raises GradesError keyed ``pupil:<id>`` for every wrong one. A pupil left with neither score nor
    comment has no grade; a comment without a score records an absent pupil. Returns how many grades there are."""
    if not await may_write(writer, evaluation):
        raise GradesError({"evaluation": "not one you may write"})
    members = {p.id for p in await pupils_of(evaluation.group_id)}
    errors: dict[str, str] = {}
    values: dict[int, tuple[Decimal | None, str]] = {}
    for pupil_id, (score_text, comment) in entries.items():
        key = f"pupil:{pupil_id}"
        if pupil_id not in members:
            errors[key] = "not a pupil of this group"
            continue
        score, problem = check_score(score_text, evaluation.max_score)
        comment = comment.strip()
        if problem:
            errors[key] = problem
        elif len(comment) > MAX_COMMENT:
            errors[key] = f"comment: at most {MAX_COMMENT} characters"
        else:
            values[pupil_id] = (score, comment)
    if errors:
        raise GradesError(errors)
    async with in_transaction():
        existing = {g.pupil_id: g for g in await Grade.filter(evaluation_id=evaluation.id).select_for_update()}
        for pupil_id, (score, comment) in values.items():
            grade = existing.get(pupil_id)
            if score is None and not comment:
                if grade is not None:
                    await grade.delete()
                continue
            if grade is None:
                await Grade.create(
                    evaluation_id=evaluation.id,
                    pupil_id=pupil_id,
                    teacher_id=evaluation.teacher_id or writer.id,
                    subject=evaluation.subject,
                    title=evaluation.title,
                    term=evaluation.term,
                    max_score=evaluation.max_score,
                    assessed_on=evaluation.assessed_on,
                    published_at=evaluation.published_at,
                    score=score,
                    comment=comment,
                )
            elif grade.score != score or grade.comment != comment:
                await Grade.filter(id=grade.id).update(score=score, comment=comment)
        count = await Grade.filter(evaluation_id=evaluation.id).count()
    await _audit("grades.scores_recorded", writer, evaluation, now, pupils=len(values))
    return count


def parse_grades_csv(text: str, by_external_id: Mapping[str, int], max_score: Decimal) -> dict[int, tuple[str, str]]:
    """A grades file (``pupil_id``, ``score``, ``comment`` columns, ``,`` or ``;``, any other column ignored, as
    a spreadsheet exports it) as sheet entries; raises GradesError naming every wrong line (``line N``)."""
    if len(text) > MAX_FILE_CHARS:
        raise GradesError({"file": f"too long (at most {MAX_FILE_CHARS} characters)"})
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise GradesError({"file": "empty: the first line names the columns " + ", ".join(CSV_COLUMNS)})
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h.strip().lower() for h in next(reader)]
    missing = [c for c in ("pupil_id", "score") if c not in header]
    if missing:
        raise GradesError({"line 1": "missing column(s): " + ", ".join(missing)})
    col = {name: header.index(name) for name in CSV_COLUMNS if name in header}
    errors: dict[str, str] = {}
    entries: dict[int, tuple[str, str]] = {}
    seen: dict[int, int] = {}
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue

        def at(name: str, row: list[str] = row) -> str:
            index = col.get(name)
            return row[index].strip() if index is not None and index < len(row) else ""

        external = at("pupil_id")
        pupil_id = by_external_id.get(external)
        score_text, comment = at("score"), at("comment")
        problems = []
        if pupil_id is None:
            problems.append(f"pupil_id {external[:40]!r} is not a pupil of this group" if external else "no pupil_id")
        elif pupil_id in seen:
            problems.append(f"pupil_id {external!r} already on line {seen[pupil_id]}")
        _score, problem = check_score(score_text, max_score)
        if problem:
            problems.append(f"score {problem}")
        if len(comment) > MAX_COMMENT:
            problems.append(f"comment: at most {MAX_COMMENT} characters")
        if problems:
            errors[f"line {line}"] = "; ".join(problems)
        elif pupil_id is not None:
            seen[pupil_id] = line
            entries[pupil_id] = (score_text, comment)
    if errors:
        raise GradesError(errors)
    return entries


async def import_csv(writer: Writer, evaluation: Evaluation, text: str, *, now: dt.datetime) -> int:
    """A grades file for this evaluation, all or nothing (:func:`parse_grades_csv`, then :func:`record_scores`);
    pupils the file does not name keep their grade."""
    if not await may_write(writer, evaluation):
        raise GradesError({"evaluation": "not one you may write"})
    by_external = {p.external_id: p.id for p in await pupils_of(evaluation.group_id)}
    entries = parse_grades_csv(text, by_external, evaluation.max_score)
    return await record_scores(writer, evaluation, entries, now=now)


async def publish(writer: Writer, evaluation: Evaluation, *, now: dt.datetime) -> bool:
    """Publish the evaluation and its grades (``published_at``): the pupil sees them at once, families after the
    school's delay (:mod:`hub.records.visibility`). False when it was already published (nothing changes)."""
    if not await may_write(writer, evaluation):
        raise GradesError({"evaluation": "not one you may write"})
    async with in_transaction():
        claimed = await Evaluation.filter(id=evaluation.id, published_at__isnull=True).update(published_at=now)
        if not claimed:
            return False
        await Grade.filter(evaluation_id=evaluation.id).update(published_at=now)
    evaluation.published_at = now
    await _audit("grades.evaluation_published", writer, evaluation, now)
    return True


async def _audit(action: str, writer: Writer, evaluation: Evaluation, now: dt.datetime, **details: object) -> None:
    await audit(
        action,
        at=now,
        actor_kind=ActorKind.STAFF,
        actor_id=writer.id,
        subject_type="evaluation",
        subject_id=evaluation.id,
        group_id=evaluation.group_id,
        **details,
    )


# ----------------------------------------------------------------------------------------------- averages


@dataclass(frozen=True)
class Average:
    pupil_id: int
    subject: str
    term: str
    #: The weighted mean as a percentage, None when no grade counts.
    percent: Decimal | None
    grades: int


async def averages(grades: Sequence[Grade]) -> list[Average]:
    """Per pupil, course and term, the weighted average of these grades (the caller chooses which: a family's
    visible ones, the pupil's published ones, all for the staff). Evaluations give the weights; older grades
    without one weigh 1."""
    weights = dict(
        await Evaluation.filter(id__in=list({g.evaluation_id for g in grades if g.evaluation_id})).values_list(
            "id", "weight"
        )
    )
    buckets: dict[tuple[int, str, str], list[tuple[Decimal | None, Decimal, Decimal]]] = defaultdict(list)
    for grade in grades:
        weight = Decimal(weights.get(grade.evaluation_id, 1)) if grade.evaluation_id else Decimal(1)
        buckets[(grade.pupil_id, grade.subject, grade.term)].append((grade.score, Decimal(grade.max_score), weight))
    return [
        Average(pupil_id, subject, term, weighted_average(items), sum(1 for s, _m, _w in items if s is not None))
        for (pupil_id, subject, term), items in sorted(buckets.items())
    ]


# ---------------------------------------------------------------------------------------------- the export


async def class_grades_csv(writer: Writer, group_id: int, term: str | None = None) -> bytes | None:
    """A class's grades (or a course's) as CSV, one line per pupil and evaluation, then the averages per pupil and
    course; None when this member of staff may not read this group. Drafts are included: it is the staff's copy."""
    if await writable_subjects(writer, group_id) is None:
        return None
    evaluations = [e for e in await evaluations_of(writer, group_id) if term is None or e.term == term]
    pupils = await pupils_of(group_id)
    grades = await Grade.filter(evaluation_id__in=[e.id for e in evaluations], pupil_id__in=[p.id for p in pupils])
    by_key = {(g.evaluation_id, g.pupil_id): g for g in grades}
    rows: list[list[object]] = [
        [
            "pupil_id",
            "last_name",
            "first_name",
            "term",
            "subject",
            "date",
            "evaluation",
            "score",
            "max",
            "weight",
            "comment",
            "published",
        ]
    ]
    for pupil in pupils:
        for e in sorted(evaluations, key=lambda e: (e.term, e.subject, e.assessed_on, e.id)):
            grade = by_key.get((e.id, pupil.id))
            rows.append(
                [
                    pupil.external_id,
                    pupil.last_name,
                    pupil.first_name,
                    e.term,
                    e.subject,
                    e.assessed_on.isoformat(),
                    e.title,
                    grade.score if grade else None,
                    e.max_score,
                    e.weight,
                    grade.comment if grade else "",
                    "yes" if e.published_at else "no",
                ]
            )
    rows.append([])
    rows.append(["pupil_id", "last_name", "first_name", "term", "subject", "average_percent", "grades"])
    names = {p.id: p for p in pupils}
    for average in await averages(grades):
        pupil = names[average.pupil_id]
        rows.append(
            [
                pupil.external_id,
                pupil.last_name,
                pupil.first_name,
                average.term,
                average.subject,
                average.percent,
                average.grades,
            ]
        )
    return csvfile.encode(rows)


__all__ = [
    "CSV_COLUMNS",
    "Average",
    "EvaluationDraft",
    "GradesError",
    "SheetRow",
    "Writer",
    "averages",
    "check_score",
    "class_grades_csv",
    "create_evaluation",
    "evaluations_of",
    "import_csv",
    "parse_evaluation",
    "parse_grades_csv",
    "plain",
    "publish",
    "pupils_of",
    "record_scores",
    "sheet",
    "weighted_average",
    "writable_evaluation",
    "writable_groups",
    "writable_subjects",
]
