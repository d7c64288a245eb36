"""The JSON API of the grade book (``/api/v1/evaluations``), mounted from :data:`hub.web.api.OPERATIONS`: what the
grade book pages do (:mod:`hub.web.records_grades`), through the same functions (:mod:`hub.records.grades`).

A teacher reads and writes only the evaluations of the classes and courses they teach, in the subjects they teach
there; an evaluation or a group outside them answers 404, exactly like one that does not exist, and stores nothing.
A sheet with any wrong score answers 422 naming each (``pupil:<id>``) and stores nothing.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from pydantic import Field

from hub.inputs import MAX_ID
from hub.records import grades
from hub.records.models import Evaluation
from hub.web.api_schema import API_PREFIX, IdIn, Input, Operation, Output, Who
from hub.web.kit import now

if TYPE_CHECKING:
    from hub.web.api import Call


class EvaluationIn(Input):
    group_id: IdIn = Field(description="a class or course you teach")
    subject: str = Field(min_length=1, max_length=100)
    title: str = Field(min_length=1, max_length=200)
    term: str = Field(min_length=1, max_length=20, examples=["T1"])
    assessed_on: date
    max_score: int = Field(ge=1, le=1000, description="the scale: scores are out of this")
    weight: float = Field(default=1, gt=0, le=100, description="the weight in the course's average for the term")


class EvaluationQuery(Input):
    group_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class ScoreIn(Input):
    pupil_id: IdIn
    score: float | None = Field(default=None, ge=0, le=1000, description="none: no score (absent, with a comment)")
    comment: str = Field(default="", max_length=grades.MAX_COMMENT)


class ScoresIn(Input):
    grades: list[ScoreIn] = Field(max_length=200, description="a pupil left out keeps their grade")


class EvaluationOut(Output):
    id: int
    group_id: int
    subject: str
    title: str
    term: str
    assessed_on: date
    max_score: float
    weight: float
    published_at: datetime | None


class EvaluationList(Output):
    items: list[EvaluationOut]


class SheetRowOut(Output):
    pupil_id: int
    name: str
    score: float | None
    comment: str
    entered: bool


class EvaluationDetail(Output):
    evaluation: EvaluationOut
    grades: list[SheetRowOut]


def _refused(status: int, error: str, fields: dict[str, str] | None = None) -> Exception:
    from hub.web.api import Refused  # the dispatcher's answer; imported here, as api.py mounts this module

    return Refused(status, error, fields)


def _out(evaluation: Evaluation) -> EvaluationOut:
    return EvaluationOut(
        id=evaluation.id,
        group_id=evaluation.group_id,
        subject=evaluation.subject,
        title=evaluation.title,
        term=evaluation.term,
        assessed_on=evaluation.assessed_on,
        max_score=float(evaluation.max_score),
        weight=float(evaluation.weight),
        published_at=evaluation.published_at,
    )


async def _detail(evaluation: Evaluation) -> EvaluationDetail:
    rows = await grades.sheet(evaluation)
    return EvaluationDetail(
        evaluation=_out(evaluation),
        grades=[
            SheetRowOut(
                pupil_id=r.pupil_id,
                name=r.name,
                score=float(r.score) if r.score is not None else None,
                comment=r.comment,
                entered=r.entered,
            )
            for r in rows
        ],
    )


async def _writable(call: Call) -> Evaluation:
    evaluation = await grades.writable_evaluation(call.me, call.ids["evaluation_id"])
    if evaluation is None:
        raise _refused(404, "not found")
    return evaluation


async def list_evaluations(call: Call) -> EvaluationList:
    query: EvaluationQuery = call.query
    return EvaluationList(items=[_out(e) for e in await grades.evaluations_of(call.me, query.group_id)])


async def create_evaluation(call: Call) -> EvaluationOut:
    body: EvaluationIn = call.body
    if await grades.writable_subjects(call.me, body.group_id) is None:
        raise _refused(404, "not found")
    fields = {
        "subject": body.subject,
        "title": body.title,
        "term": body.term,
        "assessed_on": body.assessed_on.isoformat(),
        "max_score": str(body.max_score),
        "weight": str(Decimal(str(body.weight))),
    }
    try:
        evaluation = await grades.create_evaluation(call.me, body.group_id, fields, now=now())
    except grades.GradesError as exc:
        raise _refused(422, "invalid evaluation", exc.errors) from exc
    return _out(evaluation)


async def evaluation_detail(call: Call) -> EvaluationDetail:
    return await _detail(await _writable(call))


async def record_grades(call: Call) -> EvaluationDetail:
    evaluation = await _writable(call)
    body: ScoresIn = call.body
    entries = {
        item.pupil_id: ("" if item.score is None else str(Decimal(str(item.score))), item.comment)
        for item in body.grades
    }
    try:
        await grades.record_scores(call.me, evaluation, entries, now=now())
    except grades.GradesError as exc:
        raise _refused(422, "nothing was stored", exc.errors) from exc
    return await _detail(evaluation)


async def publish_evaluation(call: Call) -> EvaluationDetail:
    evaluation = await _writable(call)
    await grades.publish(call.me, evaluation, now=now())
    return await _detail(await Evaluation.get(id=evaluation.id))


_V = API_PREFIX

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        f"{_V}/evaluations",
        "The evaluations I may grade, latest first",
        Who.STAFF,
        list_evaluations,
        EvaluationList,
        query=EvaluationQuery,
    ),
    Operation(
        "POST",
        f"{_V}/evaluations",
        "Create an evaluation for a class or course I teach",
        Who.STAFF,
        create_evaluation,
        EvaluationOut,
        body=EvaluationIn,
        status=201,
        errors=(404,),
        description="A teacher only for the classes and courses they teach, in their subjects there (404 "
        "otherwise, nothing stored); the secretary and the principal for the school.",
    ),
    Operation(
        "GET",
        f"{_V}/evaluations/{{evaluation_id}}",
        "An evaluation and its class sheet",
        Who.STAFF,
        evaluation_detail,
        EvaluationDetail,
    ),
    Operation(
        "POST",
        f"{_V}/evaluations/{{evaluation_id}}/grades",
        "Enter scores and comments",
        Who.STAFF,
        record_grades,
        EvaluationDetail,
        body=ScoresIn,
        description="All or nothing: any wrong score (off the scale, more than two decimals, not a pupil of the "
        "group) answers 422 naming each, and nothing is stored. Neither score nor comment removes the grade.",
    ),
    Operation(
        "POST",
        f"{_V}/evaluations/{{evaluation_id}}/publish",
        "Publish an evaluation",
        Who.STAFF,
        publish_evaluation,
        EvaluationDetail,
        description="The pupils see the grades at once, families after the school's delay. Publishing twice "
        "changes nothing.",
    ),
)

__all__ = ["OPERATIONS"]
