"""The JSON API (``/api/v1``): what the pages do, for apps and scripts, described at ``/api/openapi.json``.

One table, :data:`OPERATIONS`, names every operation with who may call it, its body and its answer; the routes
and the OpenAPI document (:mod:`hub.web.api_schema`) are both built from it. Each route goes through one dispatcher
that applies the rules in the same order for every operation: signed in (401), the right kind of person (403),
the session's CSRF token in ``X-CSRF-Token`` for POST and DELETE (403), a JSON body its model accepts (415, 422),
then the handler, which reads only through :mod:`hub.messaging.access`: an id that is not the caller's to see answers
404,
exactly like an id that does not exist, so changing an id tells nothing.

Authentication is the pages' session: ``POST /api/v1/session`` with an email and a password sets the same
cookie and returns the CSRF token. Sign-in is throttled with the pages' counters (a script cannot try passwords
faster than a browser), and accepts only ``application/json`` from this site: a cross-site form can send neither.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, cast

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from tortoise.transactions import in_transaction

from channels.registry import available_channels
from hub.delivery import dispatch
from hub.enums import (
    ActorKind,
    AnswerMode,
    AudienceKind,
    Channel,
    GroupKind,
    MessageState,
    QuestionKind,
    Urgency,
)
from hub.messaging import access, composer, portal, threads, translations
from hub.messaging.models import (
    Acknowledgement,
    Message,
    MessageAudience,
    Notice,
    NoticePupil,
    ReplySlip,
    SlipQuestion,
    SlipResponse,
)
from hub.messaging.planning import PlanningError
from hub.messaging.pupil_messages import pupils_only_problem, recipients_of
from hub.messaging.replies import ReplyError
from hub.people import audit_log, security
from hub.people.models import Group, Membership, Pupil
from hub.privacy.export import audited_export
from hub.records import visibility
from hub.records.models import Absence, Grade, JournalEntry, ReportCard
from hub.store.audit import audit
from hub.store.db import ids_of
from hub.web import api_records, api_records_daily
from hub.web.api_schema import (
    API_PREFIX,
    CSRF_HEADER,
    DOCUMENT_PATH,
    AbsenceList,
    AbsenceOut,
    AcknowledgementOut,
    AnswerIn,
    AnswerOut,
    ApiError,
    AudienceIn,
    AudienceOut,
    Counts,
    GradeList,
    GradeOut,
    GroupList,
    GroupOut,
    GroupRef,
    GuardianExport,
    InboxEntryOut,
    InboxList,
    JournalList,
    JournalOut,
    Me,
    MessageDetail,
    MessageIn,
    MessagePage,
    MessageSummary,
    NoticeDetail,
    NoticePage,
    NoticeSummary,
    OpenApiDocument,
    Operation,
    Pagination,
    PostIn,
    PostOut,
    Progress,
    Published,
    PupilDetail,
    PupilList,
    PupilOut,
    PupilRef,
    QuestionOut,
    ReportCardList,
    ReportCardOut,
    ResponsePage,
    ResponseRow,
    SessionIn,
    SessionOut,
    SlipOut,
    ThreadOut,
    Who,
    build_document,
    starlette_path,
)
from hub.web.auth import SIGN_IN_LIMIT
from hub.web.kit import Actor, Web, now
from hub.web.threads import POST_LIMIT


class Refused(Exception):
    """Answer with this status and a JSON error instead of the operation's result."""

    def __init__(self, status: int, error: str, fields: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.fields = status, error, fields

    def response(self) -> JSONResponse:
        body = ApiError(error=self.error, fields=self.fields).model_dump(mode="json", exclude_none=True)
        return JSONResponse(body, status_code=self.status)


def _not_found() -> Refused:
    return Refused(404, "not found")


@dataclass(frozen=True)
class Call:
    """What a handler gets: the request, who makes it (checked), the path's ids, the parsed body and query."""

    web: Web
    request: Request
    actor: Actor | None
    ids: dict[str, int]
    body: Any
    query: Any

    @property
    def me(self) -> Actor:
        assert self.actor is not None  # the dispatcher let only signed-in people through
        return self.actor


# ------------------------------------------------------------------------------------------- dispatching


async def _authorised(web: Web, request: Request, op: Operation) -> Actor | None:
    actor = await web.actor(request)
    if op.who is Who.PUBLIC:
        return actor
    if actor is None:
        raise Refused(401, f"sign in first: POST {API_PREFIX}/session")
    if actor.is_pupil:  # a pupil's session reads their own pages only: no operation of the API is theirs
        raise Refused(403, "not for pupils' accounts")
    if (op.who is Who.STAFF and not actor.is_staff) or (op.who is Who.GUARDIAN and not actor.is_guardian):
        raise Refused(403, f"for {op.who} only")
    if op.needs_csrf:
        try:
            await web.check_csrf(request, request.headers.get(CSRF_HEADER, ""))
        except HTTPException as exc:
            raise Refused(exc.status_code, f"missing or wrong {CSRF_HEADER} header ({exc.detail})") from exc
    return actor


def _field_errors(error: ValidationError) -> dict[str, str]:
    return {".".join(str(part) for part in item["loc"]) or "body": item["msg"] for item in error.errors()}


async def _body(request: Request, op: Operation) -> BaseModel | None:
    if op.body is None:
        return None
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise Refused(415, "send the body as application/json")
    try:
        return op.body.model_validate_json(await request.body())
    except ValidationError as exc:
        raise Refused(422, "invalid request", _field_errors(exc)) from exc


def _query(request: Request, op: Operation) -> BaseModel | None:
    if op.query is None:
        return None
    known = op.query.model_fields
    params = {key: value for key, value in request.query_params.items() if key in known}
    try:
        return op.query.model_validate(params, strict=False)  # a query string holds only strings
    except ValidationError as exc:
        raise Refused(422, "invalid query", _field_errors(exc)) from exc


def _answer(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if op.response is None:
        return Response(status_code=op.status)
    if type(result) is not op.response:
        raise TypeError(f"{op.method} {op.path} answered {type(result).__name__}, not {op.response.__name__}")
    return JSONResponse(result.model_dump(mode="json"), status_code=op.status)


def _endpoint(web: Web, op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            actor = await _authorised(web, request, op)
            call = Call(web, request, actor, dict(request.path_params), await _body(request, op), _query(request, op))
            return _answer(op, await op.handler(call))
        except Refused as refused:
            return refused.response()

    endpoint.__name__ = op.operation_id
    return endpoint


def routes(web: Web) -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        return await web.render(request, "api/index.html", operations=OPERATIONS, document=DOCUMENT_PATH)

    return [
        Route("/api", index),
        *(Route(starlette_path(op), _endpoint(web, op), methods=[op.method]) for op in OPERATIONS),
    ]


# ------------------------------------------------------------------------------------------ conversions


def _me(actor: Actor) -> Me:
    return Me(
        kind="staff" if actor.is_staff else "guardian",
        id=actor.id,
        name=actor.name,
        language=actor.language,
        roles=sorted(str(role) for role in actor.roles),
    )


def _group_ref(group: Group) -> GroupRef:
    return GroupRef(id=group.id, kind=GroupKind(group.kind), code=group.code, name=group.name)


def _grade(grade: Grade) -> GradeOut:
    return GradeOut(
        id=grade.id,
        subject=grade.subject,
        title=grade.title,
        term=grade.term,
        score=float(grade.score) if grade.score is not None else None,
        max_score=float(grade.max_score),
        comment=grade.comment,
        assessed_on=grade.assessed_on,
        published_at=grade.published_at,
    )


def _absence(absence: Absence) -> AbsenceOut:
    return AbsenceOut(
        id=absence.id,
        starts_at=absence.starts_at,
        ends_at=absence.ends_at,
        reason=absence.reason,
        justified=absence.justified,
        note=absence.note,
    )


def _report_card(card: ReportCard) -> ReportCardOut:
    return ReportCardOut(
        id=card.id,
        school_year=card.school_year,
        term=card.term,
        results=dict(card.results),
        general_comment=card.general_comment,
        published_at=card.published_at,
    )


async def _slip(message_id: int, at: dt.datetime) -> SlipOut | None:
    slip = await ReplySlip.get_or_none(message_id=message_id)
    if slip is None:
        return None
    questions = await SlipQuestion.filter(slip_id=slip.id).order_by("position")
    return SlipOut(
        deadline=slip.deadline,
        open=at <= slip.deadline,
        answer_mode=slip.answer_mode,
        needs_signature=slip.needs_signature,
        questions=[
            QuestionOut(
                position=q.position,
                kind=q.kind,
                text=q.text,
                choices=list(q.choices),
                required=q.required,
                unit_price_cents=q.unit_price_cents,
            )
            for q in questions
        ],
    )


async def _answers(**filters: Any) -> list[AnswerOut]:
    rows = await SlipResponse.filter(**filters).order_by("at", "id").prefetch_related("guardian")
    return [
        AnswerOut(
            pupil_id=row.pupil_id,
            guardian_id=row.guardian.id,
            guardian_name=f"{row.guardian.first_name} {row.guardian.last_name}",
            answers=dict(row.answers),
            signed_name=row.signed_name,
            channel=row.channel,
            at=row.at,
        )
        for row in rows
    ]


async def _pupil_refs(notice_ids: Iterable[int], pupil_ids: set[int]) -> dict[int, list[PupilRef]]:
    """The pupils each notice names, among ``pupil_ids`` (those the caller may see)."""
    rows = (
        await NoticePupil.filter(notice_id__in=list(notice_ids), pupil_id__in=list(pupil_ids))
        .order_by("pupil__first_name", "pupil_id")
        .values("notice_id", "pupil_id", "pupil__first_name", "pupil__last_name")
    )
    found: dict[int, list[PupilRef]] = defaultdict(list)
    for row in rows:
        found[row["notice_id"]].append(
            PupilRef(id=row["pupil_id"], first_name=row["pupil__first_name"], last_name=row["pupil__last_name"])
        )
    return found


async def _acknowledged(notice_ids: Iterable[int]) -> dict[int, dt.datetime]:
    return dict(await Acknowledgement.filter(notice_id__in=list(notice_ids)).values_list("notice_id", "at"))


async def _with_slip(message_ids: Iterable[int]) -> set[int]:
    return set(await ids_of(ReplySlip.filter(message_id__in=list(message_ids)), "message_id"))


def _page(query: Pagination) -> tuple[int, int]:
    return (query.page - 1) * query.per_page, query.per_page


# ------------------------------------------------------------------------------------------------ session


def _same_site(web: Web, request: Request) -> bool:
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    own = {web.settings.base_url.rstrip("/"), f"{request.url.scheme}://{request.url.netloc}"}
    return origin.rstrip("/") in own


async def sign_in(call: Call) -> Response:
    """Check the password, start a session (its cookie) and hand over its CSRF token. Throttled with the pages'
    counters: an address that has not been guessing at the account is never refused because others have."""
    body: SessionIn = call.body
    web, request = call.web, call.request
    if not _same_site(web, request):
        raise Refused(403, "cross-site request refused")
    kind = ActorKind(body.kind)
    email = body.email.lower()
    if await web.too_many_failures(request, f"{kind}-login", limit=SIGN_IN_LIMIT, minutes=15, key=email):
        raise Refused(429, "too many attempts: wait a quarter of an hour")
    if kind is ActorKind.STAFF:
        person: Any = await security.staff_by_password(email, body.password)
    else:
        person = await security.guardians_by_password(email, body.password)
    if person is None:
        await web.count_failure(request, f"{kind}-login", minutes=15, key=email)
        if kind is ActorKind.STAFF:
            await audit("staff.login_failed", at=now())
        raise Refused(401, "wrong email or password")
    cookie = Response()
    new = await web.sign_in(request, cookie, kind, person.id)
    actor = await web.actor(request)
    assert actor is not None  # just checked: active, not erased
    response = JSONResponse(SessionOut(csrf_token=new.session.csrf_token, actor=_me(actor)).model_dump(mode="json"))
    response.headers.append("set-cookie", cookie.headers["set-cookie"])
    await audit(f"{kind}.login", at=now(), actor_kind=kind, actor_id=person.id, by="api")
    return response


async def session(call: Call) -> SessionOut:
    """The current session's CSRF token, for an app that signed in through the pages (or restarted)."""
    return SessionOut(csrf_token=call.me.csrf_token, actor=_me(call.me))


async def sign_out(call: Call) -> Response:
    response = Response(status_code=204)
    await call.web.sign_out(call.request, response)
    return response


async def me(call: Call) -> Me:
    return _me(call.me)


async def document(call: Call) -> OpenApiDocument:
    return OpenApiDocument.model_validate(openapi_document())


# ---------------------------------------------------------------------------------------------- guardians


async def _my_notice(call: Call) -> tuple[Notice, set[int]]:
    """The caller's notice of the path (hub.messaging.portal's rule: published, naming a pupil they may still see, so a
    court order given after the message hides it) and its pupils they may see; 404 for anyone else's."""
    notice = await portal.own_notice(call.me.id, call.ids["notice_id"])
    if notice is None:
        raise _not_found()
    await notice.fetch_related("message__author")
    pupils = await access.guardian_pupil_ids(call.me.id)
    named = set(await ids_of(NoticePupil.filter(notice_id=notice.id), "pupil_id"))
    return notice, named & pupils


async def _summaries(notices: list[Notice], pupils: set[int]) -> list[NoticeSummary]:
    ids = [n.id for n in notices]
    refs, acks = await _pupil_refs(ids, pupils), await _acknowledged(ids)
    slips = await _with_slip(n.message.id for n in notices)
    return [
        NoticeSummary(
            id=n.id,
            message_id=n.message.id,
            subject=n.message.subject,
            sender=f"{n.message.author.first_name} {n.message.author.last_name}",
            category=n.message.category,
            urgency=n.message.urgency,
            published_at=n.message.published_at,
            needs_acknowledgement=n.message.needs_acknowledgement,
            acknowledged_at=acks.get(n.id),
            first_read_at=n.first_read_at,
            has_slip=n.message.id in slips,
            pupils=refs[n.id],
        )
        for n in notices
    ]


async def my_notices(call: Call) -> NoticePage:
    query: Pagination = call.query
    ids = await portal.visible_notice_ids(call.me.id)
    offset, limit = _page(query)
    notices = (
        await Notice.filter(id__in=list(ids))
        .order_by("-message__published_at", "-id")
        .offset(offset)
        .limit(limit)
        .prefetch_related("message__author")
    )
    pupils = await access.guardian_pupil_ids(call.me.id)
    items = await _summaries(list(notices), pupils)
    subjects = await translations.subjects_for(  # in my language where the message was written in it
        call.me.language,
        await translations.school_language(call.me.school_id),
        {n.message.id: n.message.subject for n in notices},
    )
    items = [item.model_copy(update={"subject": subjects[item.message_id]}) for item in items]
    return NoticePage(items=items, page=query.page, per_page=query.per_page, total=len(ids))


async def _shown_answers(slip: ReplySlip, guardian_id: int, pupils: set[int]) -> list[AnswerOut]:
    """The answers the portal shows this guardian: their own, and with one answer per pupil the other guardian's
    answer that closed the slip for a pupil (separated parents see who answered, and do not overwrite it)."""
    answers = await _answers(slip_id=slip.id, pupil_id__in=list(pupils))
    own = {a.pupil_id: a for a in answers if a.guardian_id == guardian_id}
    first_other: dict[int, AnswerOut] = {}
    for a in answers:
        if a.guardian_id != guardian_id:
            first_other.setdefault(a.pupil_id, a)
    shown = list(own.values())
    if AnswerMode(slip.answer_mode) is AnswerMode.ONE_PER_PUPIL:
        shown += [a for p, a in first_other.items() if p not in own or a.at < own[p].at]
    return sorted(shown, key=lambda a: (a.at, a.pupil_id))


async def my_notice(call: Call) -> NoticeDetail:
    """One of my notices, with its reply slip and the answers the portal shows. Opening it is reading it."""
    notice, pupils = await _my_notice(call)
    await portal.mark_read(notice, now())
    await notice.refresh_from_db(fields=["first_read_at"])
    (summary,) = await _summaries([notice], pupils)
    slip = await ReplySlip.get_or_none(message_id=notice.message.id)
    answerable = await access.guardian_answerable_pupil_ids(call.me.id)
    shown = await portal.message_page(notice, now())  # the text in my language, as the portal shows it
    return NoticeDetail(
        **{**summary.model_dump(), "subject": shown.subject},
        body=shown.body,
        language_note=shown.language_note,
        may_answer_for=sorted(pupils & answerable),
        slip=await _slip(notice.message.id, now()),
        answers=await _shown_answers(slip, call.me.id, pupils) if slip else [],
    )


async def acknowledge(call: Call) -> AcknowledgementOut:
    notice, _pupils = await _my_notice(call)
    await portal.acknowledge(notice, guardian_id=call.me.id, now=now(), via="api")
    ack = await Acknowledgement.get(notice_id=notice.id)
    return AcknowledgementOut(notice_id=notice.id, acknowledged_at=ack.at)


def _as_posted(question: portal.Question, value: Any) -> list[str]:
    """A JSON answer as the portal's form would post it (a choice by its index), or ValueError if its JSON type is
    not the question's: the portal's own rules (range, length, required) then apply to both alike."""
    kind = QuestionKind(question.kind)
    if value is None or value == "" or value == []:
        return []
    if kind is QuestionKind.YES_NO:
        if not isinstance(value, bool):
            raise ValueError("answer true or false")
        return ["yes" if value else "no"]
    if kind is QuestionKind.ONE_CHOICE:
        if not isinstance(value, str) or value not in question.choices:
            raise ValueError(f"answer one of {list(question.choices)}")
        return [str(question.choices.index(value))]
    if kind is QuestionKind.MANY_CHOICES:
        if not isinstance(value, list) or any(not isinstance(v, str) or v not in question.choices for v in value):
            raise ValueError(f"answer a list of choices among {list(question.choices)}")
        return [str(question.choices.index(v)) for v in value]
    if kind is QuestionKind.FREE_TEXT:
        if not isinstance(value, str):
            raise ValueError("answer a text")
        return [value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("answer a number")
    return [str(value)]


#: What the portal's refusal codes mean in the API: a status and a sentence.
_SLIP_REFUSALS = {
    "no_slip": (409, "this message has no reply slip"),
    "closed": (409, "the reply slip is closed: its deadline has passed"),
    "answered": (409, "another guardian already answered for this pupil: one answer per pupil"),
    "no_right": (403, "you may not answer for this pupil"),
    "unknown_pupil": (422, "not a pupil of this notice"),
}
#: The portal's field error codes, said for a JSON client.
_FIELD_ERRORS = {
    "required": "this question needs an answer",
    "choice": "not one of the choices",
    "count": f"a whole number from 0 to {portal.MAX_COUNT}",
    "amount": f"an amount in euro from 0 to {portal.MAX_AMOUNT} (cents at most)",
    "too_long": "too long",
}


def _posted_form(questions: tuple[portal.Question, ...], body: AnswerIn) -> dict[str, list[str]]:
    by_position = {str(q.position): q for q in questions}
    errors = {f"answers.{key}": "the slip has no such question" for key in body.answers if key not in by_position}
    form: dict[str, list[str]] = {"signed_name": [body.signed_name]}
    for key, question in by_position.items():
        try:
            form[f"q{key}"] = _as_posted(question, body.answers.get(key))
        except ValueError as exc:
            errors[f"answers.{key}"] = str(exc)
    if errors:
        raise Refused(422, "invalid answers", errors)
    return form


async def answer(call: Call) -> AnswerOut:
    """Answer the reply slip of my notice for one of its pupils, by the portal's rules
    (hub.messaging.portal.answer_slip):
    open until the deadline, the guardian's right to answer, one answer per pupil or one per guardian."""
    body: AnswerIn = call.body
    notice, pupils = await _my_notice(call)
    if body.pupil_id not in pupils:
        raise Refused(422, "invalid request", {"pupil_id": _SLIP_REFUSALS["unknown_pupil"][1]})
    if body.pupil_id not in await access.guardian_answerable_pupil_ids(call.me.id):
        raise Refused(*_SLIP_REFUSALS["no_right"])
    slip = await ReplySlip.get_or_none(message_id=notice.message.id)
    if slip is None:
        raise Refused(*_SLIP_REFUSALS["no_slip"])
    questions = tuple(
        portal.Question(q.position, str(q.kind), q.text, tuple(q.choices or ()), q.required, q.unit_price_cents)
        for q in await SlipQuestion.filter(slip_id=slip.id).order_by("position")
    )
    form = _posted_form(questions, body)
    one_per_pupil = AnswerMode(slip.answer_mode) is AnswerMode.ONE_PER_PUPIL
    try:
        await portal.answer_slip(
            notice,
            str(body.pupil_id) if one_per_pupil else "all",
            form,
            guardian_id=call.me.id,
            now=now(),
            via="api",
        )
    except portal.SlipRefused as exc:
        raise Refused(*_SLIP_REFUSALS[exc.code]) from exc
    except portal.FieldErrors as exc:
        fields = {
            (f"answers.{name[1:]}" if name.startswith("q") else name): _FIELD_ERRORS.get(code, code)
            for name, code in exc.errors.items()
        }
        raise Refused(422, "invalid answers", fields) from exc
    (stored,) = await _answers(slip_id=slip.id, guardian_id=call.me.id, pupil_id=body.pupil_id)
    return stored


async def my_data(call: Call) -> GuardianExport:
    """The GDPR export, the same as the portal's "My data" download (audited)."""
    data = await audited_export(call.me.id, now=now(), file_format="json", via="api")
    return GuardianExport.model_validate(data)


async def _pupil_groups(pupil_ids: Iterable[int]) -> dict[int, list[GroupRef]]:
    rows = (
        await Membership.filter(pupil_id__in=list(pupil_ids))
        .order_by("group__kind", "group__code")
        .prefetch_related("group")
    )
    found: dict[int, list[GroupRef]] = defaultdict(list)
    for row in rows:
        found[row.pupil_id].append(_group_ref(row.group))
    return found


async def _pupils_out(pupil_ids: Iterable[int]) -> list[PupilOut]:
    ids = list(pupil_ids)
    pupils = await Pupil.filter(id__in=ids).order_by("last_name", "first_name", "id")
    groups = await _pupil_groups(ids)
    return [PupilOut(id=p.id, first_name=p.first_name, last_name=p.last_name, groups=groups[p.id]) for p in pupils]


async def my_children(call: Call) -> PupilList:
    return PupilList(items=await _pupils_out(await access.guardian_pupil_ids(call.me.id)))


# --------------------------------------------------------------------------------- pupils (both kinds)


@dataclass(frozen=True)
class _RecordsView:
    """Whose eyes read a pupil's records: staff see them all; a guardian only what :mod:`hub.records.visibility`
    lets families see (nothing at all without the records right)."""

    family: bool
    sees_records: bool


async def _pupil(call: Call) -> tuple[Pupil, _RecordsView]:
    """The pupil of the path if the caller may see them (404 otherwise), and how their records show."""
    pupil_id = call.ids["pupil_id"]
    actor = call.me
    if actor.is_guardian:
        allowed = pupil_id in await access.guardian_pupil_ids(actor.id)
        view = _RecordsView(family=True, sees_records=allowed and await visibility.may_see_records(actor.id, pupil_id))
    else:
        allowed = await access.staff_may_see_pupil(actor.id, actor.roles, actor.school_id, pupil_id)
        view = _RecordsView(family=False, sees_records=True)
    pupil = await Pupil.get_or_none(id=pupil_id) if allowed else None
    if pupil is None:
        raise _not_found()
    if actor.is_staff:  # every staff read of a pupil's file or records is audited, one entry per read
        what = call.request.url.path.rstrip("/").rsplit("/", 1)[-1]
        await audit_log.staff_read(
            audit_log.PUPIL_READ,
            actor.id,
            at=now(),
            subject_type="pupil",
            subject_id=pupil.id,
            what="file" if what.isdigit() else what,
            via="api",
        )
    return pupil, view


async def _grades(pupil_id: int, view: _RecordsView) -> list[GradeOut]:
    if not view.sees_records:
        return []
    query = await visibility.family_grades([pupil_id], now()) if view.family else Grade.filter(pupil_id=pupil_id)
    return [_grade(g) for g in await query.order_by("-assessed_on", "subject", "id")]


async def _absences(pupil_id: int, view: _RecordsView) -> list[AbsenceOut]:
    if not view.sees_records:
        return []
    return [_absence(a) for a in await Absence.filter(pupil_id=pupil_id).order_by("-starts_at", "id")]


async def _report_cards(pupil_id: int, view: _RecordsView) -> list[ReportCardOut]:
    if not view.sees_records:
        return []
    query = (
        await visibility.family_report_cards([pupil_id], now()) if view.family else ReportCard.filter(pupil_id=pupil_id)
    )
    return [_report_card(c) for c in await query.order_by("-school_year", "-term", "id")]


async def pupil_detail(call: Call) -> PupilDetail:
    pupil, view = await _pupil(call)
    groups = await _pupil_groups([pupil.id])
    return PupilDetail(
        id=pupil.id,
        first_name=pupil.first_name,
        last_name=pupil.last_name,
        groups=groups[pupil.id],
        birth_date=pupil.birth_date,
        grades=await _grades(pupil.id, view),
        absences=await _absences(pupil.id, view),
        report_cards=await _report_cards(pupil.id, view),
    )


async def pupil_grades(call: Call) -> GradeList:
    pupil, view = await _pupil(call)
    return GradeList(items=await _grades(pupil.id, view))


async def pupil_absences(call: Call) -> AbsenceList:
    pupil, view = await _pupil(call)
    return AbsenceList(items=await _absences(pupil.id, view))


async def pupil_report_cards(call: Call) -> ReportCardList:
    pupil, view = await _pupil(call)
    return ReportCardList(items=await _report_cards(pupil.id, view))


async def pupil_journal(call: Call) -> JournalList:
    """The diary of the pupil's classes and courses, latest first."""
    pupil, view = await _pupil(call)
    if not view.sees_records:
        return JournalList(items=[])
    groups = await ids_of(Membership.filter(pupil_id=pupil.id), "group_id")
    entries = await JournalEntry.filter(group_id__in=list(groups)).order_by("-on_date", "id").prefetch_related("group")
    return JournalList(
        items=[
            JournalOut(
                id=e.id,
                group=_group_ref(e.group),
                kind=e.kind,
                subject=e.subject,
                text=e.text,
                on_date=e.on_date,
                due_on=e.due_on,
            )
            for e in entries
        ]
    )


# -------------------------------------------------------------------------------------------------- staff


async def _members(school_id: int, group_ids: Iterable[int]) -> dict[int, set[int]]:
    """The active pupils of each group, a level or the school holding those of its classes and courses."""
    tree = await Group.filter(school_id=school_id).values_list("id", "parent_id")
    children: dict[int, list[int]] = defaultdict(list)
    for group, parent in tree:
        if parent is not None:
            children[parent].append(group)
    direct: dict[int, set[int]] = defaultdict(set)
    rows = await Membership.filter(group__school_id=school_id, pupil__active=True).values_list("group_id", "pupil_id")
    for group, pupil in rows:
        direct[group].add(pupil)

    def under(group: int) -> set[int]:
        found = set(direct[group])
        for child in children[group]:
            found |= under(child)
        return found

    return {group: under(group) for group in group_ids}


async def my_groups(call: Call) -> GroupList:
    actor = call.me
    ids = await access.staff_group_ids(actor.id, actor.roles, actor.school_id)
    taught = await access.taught_group_ids(actor.id)
    groups = await Group.filter(id__in=list(ids)).order_by("kind", "code")
    members = await _members(actor.school_id, ids)
    return GroupList(
        items=[
            GroupOut(
                **_group_ref(g).model_dump(),
                parent_id=g.parent_id,
                pupils=len(members[g.id]),
                taught=g.id in taught,
            )
            for g in groups
        ]
    )


async def group_pupils(call: Call) -> PupilList:
    actor, group_id = call.me, call.ids["group_id"]
    if not await access.staff_may_see_group(actor.id, actor.roles, actor.school_id, group_id):
        raise _not_found()
    members = await _members(actor.school_id, [group_id])
    return PupilList(items=await _pupils_out(members[group_id]))


async def _message(call: Call) -> Message:
    """The sent message of the path if this member of staff may read it (hub.messaging.composer over
    hub.messaging.access), else 404."""
    message = await composer.visible_message(call.me, call.ids["message_id"])
    if message is None:
        raise _not_found()
    await message.fetch_related("author")
    return message


def _message_summary(message: Message, slips: set[int]) -> MessageSummary:
    return MessageSummary(
        id=message.id,
        subject=message.subject,
        author_id=message.author.id,
        author=f"{message.author.first_name} {message.author.last_name}",
        urgency=message.urgency,
        category=message.category,
        state=message.state,
        needs_acknowledgement=message.needs_acknowledgement,
        has_slip=message.id in slips,
        recipients=recipients_of(message.to_families, message.to_pupils),
        created_at=message.created_at,
        scheduled_at=message.scheduled_at,
        published_at=message.published_at,
    )


async def my_messages(call: Call) -> MessagePage:
    query: Pagination = call.query
    visible = Message.filter(id__in=list(await composer.visible_message_ids(call.me))).exclude(state=MessageState.DRAFT)
    total = await visible.count()
    offset, limit = _page(query)
    messages = await visible.order_by("-created_at", "-id").offset(offset).limit(limit).prefetch_related("author")
    slips = await _with_slip(m.id for m in messages)
    return MessagePage(
        items=[_message_summary(m, slips) for m in messages], page=query.page, per_page=query.per_page, total=total
    )


async def _counts(message_id: int) -> Counts:
    counts = (await composer.counts_of([message_id]))[message_id]
    return Counts(
        notices=counts.families,
        delivered=counts.delivered,
        read=counts.read,
        acknowledged=counts.acknowledged,
        answered=counts.answered,
        failed=counts.failed,
    )


async def message_detail(call: Call) -> MessageDetail:
    message = await _message(call)
    visible = await composer.restricted_pupils(call.me, message)
    terms = await MessageAudience.filter(message_id=message.id).order_by("id").prefetch_related("group", "pupil")
    audience = []
    for term in terms:
        kind = AudienceKind(term.kind)
        if kind is AudienceKind.GROUP:
            assert term.group is not None  # a group term names its group
            audience.append(AudienceOut(kind=kind, id=term.group.id, name=term.group.name))
        elif kind is AudienceKind.PUPIL:
            assert term.pupil is not None  # a pupil term names its pupil
            shown = visible is None or term.pupil.id in visible
            name = f"{term.pupil.first_name} {term.pupil.last_name}" if shown else ""
            audience.append(AudienceOut(kind=kind, id=term.pupil.id if shown else None, name=name))
        else:
            audience.append(AudienceOut(kind=kind, id=None, name=""))
    summary = _message_summary(message, await _with_slip([message.id]))
    return MessageDetail(
        **summary.model_dump(),
        body=message.body,
        audience=audience,
        slip=await _slip(message.id, now()),
        counts=await _counts(message.id),
    )


async def message_responses(call: Call) -> ResponsePage:
    """Who read, acknowledged and answered, notice by notice."""
    query: Pagination = call.query
    message = await _message(call)
    await _delivery_viewed(call, message.id, "responses")
    visible = await composer.restricted_pupils(call.me, message)
    notices = Notice.filter(message_id=message.id)
    if visible is not None:
        named = await ids_of(NoticePupil.filter(notice__message_id=message.id, pupil_id__in=list(visible)), "notice_id")
        notices = notices.filter(id__in=list(set(named)))
    total = await notices.count()
    offset, limit = _page(query)
    page = await notices.order_by("id").offset(offset).limit(limit).prefetch_related("guardian")
    ids = [n.id for n in page]
    pupils_of = await ids_of(NoticePupil.filter(notice_id__in=ids), "pupil_id")
    shown = set(pupils_of) if visible is None else set(pupils_of) & visible
    refs, acks = await _pupil_refs(ids, shown), await _acknowledged(ids)
    answers = await _answers(notice_id__in=ids, pupil_id__in=list(shown))
    by_notice: dict[int, list[AnswerOut]] = defaultdict(list)
    notice_of = {n.guardian.id: n.id for n in page}  # one notice per guardian and message
    for a in answers:
        by_notice[notice_of[a.guardian_id]].append(a)
    items = [
        ResponseRow(
            notice_id=n.id,
            guardian_id=n.guardian.id,
            guardian_name=f"{n.guardian.first_name} {n.guardian.last_name}",
            pupils=refs[n.id],
            first_read_at=n.first_read_at,
            acknowledged_at=acks.get(n.id),
            answers=by_notice[n.id],
        )
        for n in page
    ]
    return ResponsePage(items=items, page=query.page, per_page=query.per_page, total=total)


async def _delivery_viewed(call: Call, message_id: int, what: str) -> None:
    """One audit entry per call for a message's delivery data (issue 13)."""
    await audit_log.staff_read(
        audit_log.DELIVERY_VIEWED,
        call.me.id,
        at=now(),
        subject_type="message",
        subject_id=message_id,
        what=what,
        via="api",
    )


async def message_progress(call: Call) -> Progress:
    message = await _message(call)
    await _delivery_viewed(call, message.id, "progress")
    states = await dispatch.progress(message.id)
    return Progress(message_id=message.id, states=states, total=sum(states.values()))


async def _check_ids(actor: Actor, terms: list[AudienceIn]) -> None:
    """For the whole school's roles, an id the school does not hold is a mistake to correct (422). A teacher gets
    the composer's 403 for any id outside their classes, existing or not: nothing tells them which ids exist."""
    if not access.sees_whole_school(actor.roles):
        return
    known = {
        AudienceKind.GROUP: await access.staff_group_ids(actor.id, actor.roles, actor.school_id),
        AudienceKind.PUPIL: await access.staff_pupil_ids(actor.id, actor.roles, actor.school_id),
    }
    errors = {
        f"audience.{index}.id": f"no such {term.kind} in the school"
        for index, term in enumerate(terms)
        if term.kind in known and term.id not in known[term.kind]
    }
    if errors:
        raise Refused(422, "invalid request", errors)


def _check_times(body: MessageIn, at: dt.datetime) -> None:
    errors: dict[str, str] = {}
    if body.scheduled_at is not None and body.scheduled_at <= at:
        errors["scheduled_at"] = "a time to come, or none for as soon as allowed"
    if body.slip is not None:
        opens = max(at, body.scheduled_at or at)
        if body.slip.deadline <= opens:
            errors["slip.deadline"] = "the deadline must come after the message goes out"
    problem = pupils_only_problem(
        body.recipients, has_slip=body.slip is not None, needs_acknowledgement=body.needs_acknowledgement
    )
    if problem:
        errors["recipients"] = problem
    if errors:
        raise Refused(422, "invalid request", errors)


def _draft(body: MessageIn) -> composer.Draft:
    slip = body.slip
    versions = [
        translations.Version(
            v.language,
            v.subject,
            v.body,
            tuple(translations.QuestionText(q.text, tuple(q.choices)) for q in v.questions),
            v.machine,
        )
        for v in body.versions
    ]
    return composer.Draft(
        versions=versions,
        subject=body.subject,
        body=body.body,
        category=body.category,
        urgency=body.urgency,
        urgency_reason=body.urgency_reason if body.urgency is Urgency.EMERGENCY else "",
        needs_acknowledgement=body.needs_acknowledgement,
        scheduled_at=body.scheduled_at,
        audience=[composer.Term(term.kind, term.id) for term in body.audience],
        recipients=body.recipients,
        slip=composer.SlipDraft(
            deadline=slip.deadline,
            answer_mode=slip.answer_mode,
            needs_signature=slip.needs_signature,
            reminder_hours=tuple(slip.reminder_hours),
            questions=tuple(
                composer.QuestionDraft(q.kind, q.text, tuple(q.choices), q.required, q.unit_price_cents)
                for q in slip.questions
            ),
        )
        if slip
        else None,
    )


async def compose(call: Call) -> Published:
    """Write a message and publish it through the composer (hub.messaging.composer: the audience this member may
    address,
    the urgencies the charter lets them send, planning.publish): all or nothing."""
    body: MessageIn = call.body
    actor, web = call.me, call.web
    if body.urgency not in composer.allowed_urgencies(web.charter, actor.roles):
        raise Refused(403, f"your role may not send {body.urgency} messages")
    await _check_ids(actor, body.audience)
    at = now()
    _check_times(body, at)
    school_language = await translations.school_language(actor.school_id)
    if any(v.language == school_language for v in body.versions):
        raise Refused(422, "invalid request", {"versions": f"the message itself is in {school_language}"})
    try:
        async with in_transaction():  # a refusal while publishing takes the draft back with it
            message = await composer.save_draft(actor, _draft(body), now=at)
            result = await composer.send(
                actor,
                message.id,
                charter=web.charter,
                available_channels=available_channels(web.settings),
                now=at,
                via="api",
            )
    except (composer.ComposeRefused, PlanningError) as exc:
        raise Refused(403, str(exc)) from exc
    # The row's value (Tortoise's stubs type a single flat value as a tuple).
    state = cast(MessageState, await Message.filter(id=message.id).first().values_list("state", flat=True))
    return Published(
        id=message.id,
        state=state,
        notices=result.notices,
        deliveries=result.deliveries,
        due=result.due,
        held=result.held,
        held_until=result.held_until,
    )


# -------------------------------------------------------------------------------------------- reply threads

#: The pages' counter of posts (hub.web.threads: the same name, key and window), so a script writes no faster
#: than the form and the two share one allowance.
_POST_THROTTLE, _POST_WINDOW_MINUTES = "thread-post", 60


def _thread_out(thread: threads.Thread) -> ThreadOut:
    """A thread as hub.messaging.threads gives it; whether staff opened a post is for staff only, as on the pages."""
    return ThreadOut(
        notice_id=thread.notice_id,
        message_id=thread.message_id,
        subject=thread.subject,
        sender=thread.sender,
        pupils=list(thread.pupils),
        family=list(thread.family),
        posts=[
            PostOut(
                id=post.id,
                by_staff=post.by_staff,
                author=post.author,
                body=post.body,
                at=post.at,
                channel=Channel(post.channel),
                unread=post.unread if thread.for_staff else None,
            )
            for post in thread.posts
        ],
        waiting_since=thread.waiting_since,
        answer_by=thread.answer_by,
        staff_open=thread.staff_open,
        staff_opens_at=thread.staff_opens_at,
        max_length=thread.max_length,
    )


async def _thread(call: Call) -> threads.Thread:
    """The thread of the path's notice as the caller may see it (hub.messaging.threads.thread_view), else 404."""
    thread = await threads.thread_view(call.ids["notice_id"], call.me, now(), call.web.charter)
    if thread is None:
        raise _not_found()
    return thread


async def _own_thread(call: Call) -> threads.Thread:
    """A guardian's thread, of a notice the API shows them (hub.messaging.portal.own_notice, as every notice operation:
    a court order given after the message hides it and its conversation)."""
    if await portal.own_notice(call.me.id, call.ids["notice_id"]) is None:
        raise _not_found()
    return await _thread(call)


async def _not_throttled(call: Call, who: str) -> None:
    if await call.web.throttled(
        call.request, _POST_THROTTLE, limit=POST_LIMIT, minutes=_POST_WINDOW_MINUTES, key=f"{who}-{call.me.id}"
    ):
        raise Refused(429, f"more than {POST_LIMIT} posts in an hour: wait a little and send it again")


def _post_refused(error: ReplyError) -> Refused:
    """hub.messaging.replies' refusal as an answer: a thread not the caller's is not found, a bad text is the body's
    fault."""
    if error.code == "unknown_notice":
        return _not_found()
    return Refused(422, "invalid request", {"body": str(error)})


async def my_thread(call: Call) -> ThreadOut:
    """My household's conversation with the school about one of my messages, and when to expect an answer."""
    return _thread_out(await _own_thread(call))


async def write_to_school(call: Call) -> ThreadOut:
    """A post in my household's thread, by the pages' rules (hub.messaging.threads.post_as_guardian): cleaned, at most
    MAX_LENGTH characters, throttled with the form's counter. Nothing is stored when refused."""
    body: PostIn = call.body
    await _own_thread(call)
    await _not_throttled(call, "guardian")
    try:
        await threads.post_as_guardian(call.ids["notice_id"], call.me.id, body.body, now())
    except ReplyError as exc:
        raise _post_refused(exc) from exc
    return _thread_out(await _thread(call))


async def inbox(call: Call) -> InboxList:
    """The threads with guardian posts on the messages this member of staff may read (hub.messaging.threads.inbox)."""
    entries = await threads.inbox(call.me)
    return InboxList(
        items=[
            InboxEntryOut(
                notice_id=entry.notice_id,
                subject=entry.subject,
                family=list(entry.family),
                pupils=list(entry.pupils),
                last_post_at=entry.last_post_at,
                unread=entry.unread,
                answered=entry.answered,
            )
            for entry in entries
        ]
    )


async def inbox_thread(call: Call) -> ThreadOut:
    """A family's thread, as the inbox page opens it: reading it marks the family's posts read (the answer still
    flags the posts that were new)."""
    thread = await _thread(call)
    await threads.mark_read(thread.notice_id, call.me, now())
    return _thread_out(thread)


async def answer_family(call: Call) -> ThreadOut:
    """The school's answer in a family's thread (hub.messaging.threads.post_as_staff), then the family is told by email
    as
    the page does (hub.messaging.threads.notify_family: inside the charter's hours, else the worker tells them
    later)."""
    body: PostIn = call.body
    await _not_throttled(call, "staff")
    try:
        post = await threads.post_as_staff(call.ids["notice_id"], call.me, body.body, now())
    except ReplyError as exc:
        raise _post_refused(exc) from exc
    email = call.web.adapters.get(Channel.EMAIL)
    if email is not None:
        await threads.notify_family(post.id, now(), call.web.charter, email.send, base_url=call.web.settings.base_url)
    return _thread_out(await _thread(call))


# ---------------------------------------------------------------------------------------------- the table

_V = API_PREFIX

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", DOCUMENT_PATH, "This OpenAPI document", Who.PUBLIC, document, OpenApiDocument),
    Operation(
        "POST",
        f"{_V}/session",
        "Sign in with an email and a password",
        Who.PUBLIC,
        sign_in,
        SessionOut,
        body=SessionIn,
        errors=(401, 403, 429),
        description=(
            "Sets the session cookie and returns the CSRF token. Failed sign-ins are counted per client address and"
            " per account: an address that failed too often is refused (429) whatever the account; an account under"
            " attack is refused (429) only to the addresses that failed on it, so the right person signing in from"
            " an address that has not been guessing keeps her password checked. A successful sign-in is never"
            " counted."
        ),
    ),
    Operation(
        "GET",
        f"{_V}/session",
        "The current session and its CSRF token",
        Who.SIGNED_IN,
        session,
        SessionOut,
        description="Same-origin only (no CORS): another site cannot read the token.",
    ),
    Operation("DELETE", f"{_V}/session", "Sign out", Who.SIGNED_IN, sign_out, None, status=204),
    Operation("GET", f"{_V}/me", "Who is signed in", Who.SIGNED_IN, me, Me),
    # guardians
    Operation(
        "GET", f"{_V}/notices", "My messages, latest first", Who.GUARDIAN, my_notices, NoticePage, query=Pagination
    ),
    Operation(
        "GET",
        f"{_V}/notices/{{notice_id}}",
        "One of my messages, its reply slip and my household's answers",
        Who.GUARDIAN,
        my_notice,
        NoticeDetail,
        description="Opening a message records its first reading.",
    ),
    Operation(
        "POST",
        f"{_V}/notices/{{notice_id}}/acknowledge",
        "I have read this message",
        Who.GUARDIAN,
        acknowledge,
        AcknowledgementOut,
    ),
    Operation(
        "POST",
        f"{_V}/notices/{{notice_id}}/answers",
        "Answer the reply slip for one pupil",
        Who.GUARDIAN,
        answer,
        AnswerOut,
        body=AnswerIn,
        status=201,
        errors=(409,),
        description="A second answer for the same pupil replaces the first. Answering also acknowledges.",
    ),
    Operation(
        "GET",
        f"{_V}/me/export",
        "All my data (GDPR)",
        Who.GUARDIAN,
        my_data,
        GuardianExport,
        description="Everything the school holds about me, as the portal's download gives it. Audited.",
    ),
    Operation("GET", f"{_V}/pupils", "My children", Who.GUARDIAN, my_children, PupilList),
    Operation(
        "GET",
        f"{_V}/notices/{{notice_id}}/thread",
        "My household's conversation with the school about a message",
        Who.GUARDIAN,
        my_thread,
        ThreadOut,
        description="The posts of my household (the adults I live with) and the school's answers, and when the "
        "school's charter promises an answer. The other household of a separated family has its own thread.",
    ),
    Operation(
        "POST",
        f"{_V}/notices/{{notice_id}}/thread",
        "Write to the school about a message",
        Who.GUARDIAN,
        write_to_school,
        ThreadOut,
        body=PostIn,
        status=201,
        errors=(429,),
        description="Answers the thread with the new post. Staff are told inside their hours only. An empty or too "
        "long text is refused (422), and so is a flood of posts (429, shared with the pages): nothing is stored.",
    ),
    # pupils, for both
    Operation(
        "GET",
        f"{_V}/pupils/{{pupil_id}}",
        "A pupil and their records",
        Who.SIGNED_IN,
        pupil_detail,
        PupilDetail,
        description="A guardian: their own children, published records only. Staff: the pupils they teach.",
    ),
    Operation("GET", f"{_V}/pupils/{{pupil_id}}/grades", "A pupil's grades", Who.SIGNED_IN, pupil_grades, GradeList),
    Operation(
        "GET", f"{_V}/pupils/{{pupil_id}}/absences", "A pupil's absences", Who.SIGNED_IN, pupil_absences, AbsenceList
    ),
    Operation(
        "GET",
        f"{_V}/pupils/{{pupil_id}}/journal",
        "The diary of a pupil's classes and courses",
        Who.SIGNED_IN,
        pupil_journal,
        JournalList,
    ),
    Operation(
        "GET",
        f"{_V}/pupils/{{pupil_id}}/report-cards",
        "A pupil's report cards",
        Who.SIGNED_IN,
        pupil_report_cards,
        ReportCardList,
    ),
    # staff
    Operation("GET", f"{_V}/groups", "The groups I may address", Who.STAFF, my_groups, GroupList),
    Operation("GET", f"{_V}/groups/{{group_id}}/pupils", "The pupils of a group", Who.STAFF, group_pupils, PupilList),
    Operation(
        "GET",
        f"{_V}/messages",
        "The messages I may follow, latest first",
        Who.STAFF,
        my_messages,
        MessagePage,
        query=Pagination,
    ),
    Operation(
        "POST",
        f"{_V}/messages",
        "Write a message and publish it",
        Who.STAFF,
        compose,
        Published,
        body=MessageIn,
        status=201,
        description="A teacher may address only the classes, courses and pupils they teach (403 otherwise, "
        "nothing stored). The charter decides who may send urgent and emergency messages.",
    ),
    Operation(
        "GET",
        f"{_V}/messages/{{message_id}}",
        "A message, its audience, reply slip and counts",
        Who.STAFF,
        message_detail,
        MessageDetail,
    ),
    Operation(
        "GET",
        f"{_V}/messages/{{message_id}}/responses",
        "Who read, acknowledged and answered",
        Who.STAFF,
        message_responses,
        ResponsePage,
        query=Pagination,
    ),
    Operation(
        "GET",
        f"{_V}/messages/{{message_id}}/progress",
        "The message's deliveries by state",
        Who.STAFF,
        message_progress,
        Progress,
    ),
    Operation(
        "GET",
        f"{_V}/inbox",
        "Families' replies to the messages I may read, unread first",
        Who.STAFF,
        inbox,
        InboxList,
    ),
    Operation(
        "GET",
        f"{_V}/inbox/{{notice_id}}",
        "A family's conversation about a message",
        Who.STAFF,
        inbox_thread,
        ThreadOut,
        description="Reading it marks the family's posts read, as the inbox page does.",
    ),
    Operation(
        "POST",
        f"{_V}/inbox/{{notice_id}}",
        "Answer a family",
        Who.STAFF,
        answer_family,
        ThreadOut,
        body=PostIn,
        status=201,
        errors=(429,),
        description="Answers the thread with the new post; the family's posts are read from then on. The guardians "
        "who wrote are told by email when the charter allows it now, else later by the worker.",
    ),
    # the grade book
    *api_records.OPERATIONS,
    # the absences register and the class journal
    *api_records_daily.OPERATIONS,
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`OPERATIONS` (built once)."""
    return build_document(OPERATIONS)
