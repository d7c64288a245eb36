"""The JSON API's contract: its bodies, its route table's entry type, and the OpenAPI 3.1 document.

Every body is a pydantic model. A request body is parsed by its model (strict JSON, unknown fields refused), and a
handler answers with an instance of its response model, which the dispatcher serialises: the models are both
what the code does and what the document says. The document is built from the same table of
:class:`Operation` that :mod:`hub.web.api` mounts, so a route cannot exist without being described, nor be
described without existing (a test checks both directions).

No web framework here: the table's entries carry their handler as an opaque callable.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import models_json_schema

from hub.enums import (
    AbsenceReason,
    AnswerMode,
    AudienceKind,
    Category,
    Channel,
    GroupKind,
    JournalKind,
    MessageState,
    QuestionKind,
    Urgency,
)
from hub.inputs import MAX_ID, MAX_YEAR, MIN_YEAR, check_datetime_range
from hub.messaging.pupil_messages import Recipients
from hub.messaging.replies import MAX_LENGTH

API_PREFIX = "/api/v1"
DOCUMENT_PATH = "/api/openapi.json"
SESSION_COOKIE_NAME = "carnet_session"
CSRF_HEADER = "X-CSRF-Token"
#: Methods that change something: they need the session's CSRF token in the X-CSRF-Token header.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PATH_PARAM = re.compile(r"{(\w+)}")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]

#: An id the database can hold (its ``integer``): the same limits as the ``{id}`` of a path.
IdIn = Annotated[int, Field(ge=1, le=MAX_ID)]
#: A date and time with its offset, within the years the product reads (moving a time between zones cannot
#: overflow within them): the document states the years as a pattern, the code checks them.
DateTimeIn = Annotated[
    AwareDatetime,
    AfterValidator(check_datetime_range),
    Field(
        json_schema_extra={"pattern": "^(19[0-9]{2}|2[0-9]{3})-"},
        description=f"an ISO 8601 date and time with its offset, in the years {MIN_YEAR} to {MAX_YEAR}",
    ),
]


class Who(StrEnum):
    """Who may call an operation."""

    PUBLIC = "public"  #: anyone, signed in or not
    SIGNED_IN = "signed_in"  #: staff or guardian (the answer depends on who)
    STAFF = "staff"  #: a member of staff, any role (what they see depends on their classes and roles)
    GUARDIAN = "guardian"  #: a guardian


class Input(BaseModel):
    """A request body or query: strict, and a field the API does not know is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Output(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------------------------------------ common


class ApiError(Output):
    """Every error: a sentence, and for a 422 the message of each invalid field (by its dotted path)."""

    error: str
    fields: dict[str, str] | None = None


class Pagination(Input):
    page: int = Field(default=1, ge=1, le=100_000, description="1 is the first page")
    per_page: int = Field(default=20, ge=1, le=100)


class Me(Output):
    kind: Literal["staff", "guardian"]
    id: int
    name: str
    language: str
    roles: list[str] = Field(description="staff roles (teacher, secretary, principal, admin); empty for a guardian")


class SessionIn(Input):
    kind: Literal["staff", "guardian"]
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class SessionOut(Output):
    csrf_token: str = Field(description="send it in the X-CSRF-Token header of every POST and DELETE")
    actor: Me


class GroupRef(Output):
    id: int
    kind: GroupKind
    code: str
    name: str


class PupilRef(Output):
    id: int
    first_name: str
    last_name: str


class GradeOut(Output):
    id: int
    subject: str
    title: str
    term: str
    score: float | None
    max_score: float
    comment: str
    assessed_on: date
    published_at: datetime | None


class AbsenceOut(Output):
    id: int
    starts_at: datetime
    ends_at: datetime
    reason: AbsenceReason
    justified: bool
    note: str


class JournalOut(Output):
    id: int
    group: GroupRef
    kind: JournalKind
    subject: str
    text: str
    on_date: date
    due_on: date | None


class ReportCardOut(Output):
    id: int
    school_year: str
    term: str
    results: dict[str, Any] = Field(description='{subject: {"score": .., "max": .., "comment": ..}}')
    general_comment: str
    published_at: datetime | None


class GradeList(Output):
    items: list[GradeOut]


class AbsenceList(Output):
    items: list[AbsenceOut]


class JournalList(Output):
    items: list[JournalOut]


class ReportCardList(Output):
    items: list[ReportCardOut]


class PupilOut(PupilRef):
    groups: list[GroupRef] = Field(description="the pupil's classes and courses")


class PupilList(Output):
    items: list[PupilOut]


class PupilDetail(PupilOut):
    """A pupil with their records: a guardian sees published grades and report cards only."""

    birth_date: date | None
    grades: list[GradeOut]
    absences: list[AbsenceOut]
    report_cards: list[ReportCardOut]


class GroupOut(GroupRef):
    parent_id: int | None
    pupils: int = Field(description="active pupils in the group (a level or the school: through its classes)")
    taught: bool = Field(description="the signed-in member of staff teaches this group")


class GroupList(Output):
    items: list[GroupOut]


# ------------------------------------------------------------------------------------------ notices, slips


class QuestionOut(Output):
    position: int
    kind: QuestionKind
    text: str
    choices: list[str]
    required: bool
    unit_price_cents: int | None


class SlipOut(Output):
    deadline: datetime
    open: bool = Field(description="answers are still taken (the deadline has not passed)")
    answer_mode: AnswerMode
    needs_signature: bool
    questions: list[QuestionOut]


class AnswerOut(Output):
    pupil_id: int
    guardian_id: int
    guardian_name: str
    answers: dict[str, Any] = Field(
        description="by question position: yes/no as 'yes' or 'no', a choice's text, "
        "a list of choices, a text, or a number"
    )
    signed_name: str
    channel: Channel
    at: datetime


class NoticeSummary(Output):
    id: int
    message_id: int
    subject: str
    sender: str
    category: Category
    urgency: Urgency
    published_at: datetime | None
    needs_acknowledgement: bool
    acknowledged_at: datetime | None
    first_read_at: datetime | None
    has_slip: bool
    pupils: list[PupilRef]


class NoticePage(Output):
    items: list[NoticeSummary]
    page: int
    per_page: int
    total: int


class NoticeDetail(NoticeSummary):
    """One of my notices; ``answers`` are mine and those of my household for the notice's pupils."""

    body: str
    may_answer_for: list[int] = Field(description="the pupils I may answer the reply slip for")
    slip: SlipOut | None
    answers: list[AnswerOut]
    language_note: str = Field(
        default="", description="says the text is not in my language, or is a machine translation (in my language)"
    )


class AcknowledgementOut(Output):
    notice_id: int
    acknowledged_at: datetime


class AnswerIn(Input):
    pupil_id: IdIn
    answers: dict[Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}$")], Any] = Field(
        description="by question position ('1', '2'...): yes_no true/false, one_choice a choice's text, "
        "many_choices a list of choices, free_text a text, amount a number (a count when the question has a "
        "unit price)"
    )
    signed_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""


# ------------------------------------------------------------------------------------------------ messages


class AudienceOut(Output):
    kind: AudienceKind
    id: int | None
    name: str


class Counts(Output):
    notices: int = Field(description="guardians the message was planned for (one notice each)")
    delivered: int = Field(description="notices a channel other than the portal inbox sent or delivered")
    read: int
    acknowledged: int
    answered: int = Field(description="notices with at least one reply-slip answer")
    failed: int = Field(description="notices with a failed delivery and none sent or delivered")


class MessageSummary(Output):
    id: int
    subject: str
    author_id: int
    author: str
    urgency: Urgency
    category: Category
    state: MessageState
    needs_acknowledgement: bool
    has_slip: bool
    recipients: Recipients = Field(
        description="who reads it: the families get notices, the pupils read it on their page"
    )
    created_at: datetime
    scheduled_at: datetime | None
    published_at: datetime | None


class MessagePage(Output):
    items: list[MessageSummary]
    page: int
    per_page: int
    total: int


class MessageDetail(MessageSummary):
    body: str
    audience: list[AudienceOut]
    slip: SlipOut | None
    counts: Counts


class ResponseRow(Output):
    notice_id: int
    guardian_id: int
    guardian_name: str
    pupils: list[PupilRef]
    first_read_at: datetime | None
    acknowledged_at: datetime | None
    answers: list[AnswerOut]


class ResponsePage(Output):
    """The notices of a message; a teacher who did not write it sees those of the pupils they teach."""

    items: list[ResponseRow]
    page: int
    per_page: int
    total: int


class Progress(Output):
    message_id: int
    states: dict[str, int] = Field(description="deliveries per state (planned, held, due, sent, delivered...)")
    total: int


def _audience_schema(schema: dict[str, Any]) -> None:
    """The document says what the validator checks: the school takes no id, a pupil or a group needs one."""
    properties = schema.pop("properties")
    schema.pop("required", None)
    schema.pop("additionalProperties", None)
    id_schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID, "description": "the pupil's or group's id"}
    others = [str(kind) for kind in AudienceKind if kind is not AudienceKind.SCHOOL]
    schema["oneOf"] = [
        {
            "type": "object",
            "properties": {"kind": {"type": "string", "const": str(AudienceKind.SCHOOL)}, "id": {"type": "null"}},
            "required": ["kind"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"kind": {"type": "string", "enum": others}, "id": id_schema},
            "required": ["kind", "id"],
            "additionalProperties": False,
        },
    ]
    assert set(properties) == {"kind", "id"}, "the schema above names every field"


class AudienceIn(Input):
    """The whole school (no id), or a group or a pupil by id."""

    model_config = ConfigDict(json_schema_extra=_audience_schema)

    kind: AudienceKind
    id: int | None = Field(default=None, ge=1, le=MAX_ID, description="the pupil's or group's id; none for the school")

    @model_validator(mode="after")
    def _id_matches_kind(self) -> AudienceIn:
        if self.kind is AudienceKind.SCHOOL and self.id is not None:
            raise ValueError("the whole school takes no id")
        if self.kind is not AudienceKind.SCHOOL and self.id is None:
            raise ValueError(f"a {self.kind} needs its id")
        return self


class QuestionIn(Input):
    kind: QuestionKind
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    choices: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20
    )
    required: bool = True
    unit_price_cents: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _coherent(self) -> QuestionIn:
        with_choices = self.kind in (QuestionKind.ONE_CHOICE, QuestionKind.MANY_CHOICES)
        if with_choices and len(self.choices) < 2:
            raise ValueError("a choice question needs at least two choices")
        if with_choices and len(set(self.choices)) != len(self.choices):
            raise ValueError("the choices must differ")
        if not with_choices and self.choices:
            raise ValueError(f"a {self.kind} question has no choices")
        if self.unit_price_cents is not None and self.kind is not QuestionKind.AMOUNT:
            raise ValueError("only an amount question has a unit price")
        return self


class SlipIn(Input):
    deadline: DateTimeIn
    answer_mode: AnswerMode = AnswerMode.ONE_PER_PUPIL
    needs_signature: bool = False
    reminder_hours: list[Annotated[int, Field(ge=1, le=24 * 30)]] = Field(
        default_factory=list, max_length=5, description="hours before the deadline to remind who has not answered"
    )
    questions: list[QuestionIn] = Field(min_length=1, max_length=30)


class VersionQuestionIn(Input):
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = Field(
        default="", description="empty keeps the school's words of this question"
    )
    choices: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]] = Field(
        default_factory=list, max_length=20, description="in the same order as the school's"
    )


class VersionIn(Input):
    """The message in another language the product speaks than the school's (hub.messaging.translations)."""

    language: Literal["fr", "nl", "en"]
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    questions: list[VersionQuestionIn] = Field(default_factory=list, max_length=30, description="by position")
    machine: bool = Field(default=False, description="a machine translation the author reviewed: families are told")


class MessageIn(Input):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
    audience: list[AudienceIn] = Field(min_length=1, max_length=200)
    urgency: Urgency = Urgency.NORMAL
    urgency_reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = Field(
        default="", description="required for an emergency (written to the audit log)"
    )
    category: Category = Category.INFORMATION
    needs_acknowledgement: bool = False
    scheduled_at: DateTimeIn | None = Field(
        default=None, description="later, or none for as soon as allowed (in the years 1900 to 2999)"
    )
    recipients: Recipients = Field(
        default="families", description="who reads it: the families get notices, the pupils read it on their page"
    )
    slip: SlipIn | None = None
    versions: list[VersionIn] = Field(
        default_factory=list, max_length=2, description="the message in the families' other languages"
    )

    @model_validator(mode="after")
    def _one_version_per_language(self) -> MessageIn:
        if len({v.language for v in self.versions}) != len(self.versions):
            raise ValueError("one version per language")
        return self

    @model_validator(mode="after")
    def _emergency_has_reason(self) -> MessageIn:
        if self.urgency is Urgency.EMERGENCY and not self.urgency_reason:
            raise ValueError("an emergency needs its reason (urgency_reason)")
        return self


class Published(Output):
    id: int
    state: MessageState
    notices: int
    deliveries: int
    due: int
    held: int
    held_until: datetime | None


# ------------------------------------------------------------------------------------------------- threads


class PostOut(Output):
    id: int
    by_staff: bool
    author: str = Field(description="the writer's name (empty for a guardian whose data was erased)")
    body: str
    at: datetime
    channel: Channel = Field(description="where a guardian wrote it (portal, sms, telegram); portal for staff")
    unread: bool | None = Field(
        description="for staff: a guardian's post no member of staff has opened yet; null for a guardian"
    )


class ThreadOut(Output):
    """One household's conversation with the school about one message. The guardians of a household share it;
    the other household of a separated family has its own and never sees this one."""

    notice_id: int
    message_id: int
    subject: str
    sender: str
    pupils: list[str] = Field(description="the pupils the household's notices name")
    family: list[str] = Field(description="the household's guardians who received the message")
    posts: list[PostOut] = Field(description="oldest first")
    waiting_since: datetime | None = Field(
        description="the oldest post of the family the school has not answered yet; null when all are"
    )
    answer_by: datetime = Field(
        description="when the school's charter promises an answer: to the waiting post, else to a post written now"
    )
    staff_open: bool = Field(description="staff read messages now (the charter's staff hours)")
    staff_opens_at: datetime = Field(description="when staff next read messages (now when staff_open)")
    max_length: int = Field(description="the longest post taken, in characters")


class PostIn(Input):
    body: str = Field(
        json_schema_extra={"minLength": 1},  # the code's own check (below) answers an empty post with its words
        description=f"at most {MAX_LENGTH} characters once line endings are made \\n, control characters dropped "
        "and the outer whitespace trimmed (an empty or longer text is refused with 422, nothing stored)",
    )


class InboxEntryOut(Output):
    notice_id: int = Field(description=f"open the thread at {API_PREFIX}/inbox/{{notice_id}}")
    subject: str
    family: list[str] = Field(description="the guardians who wrote")
    pupils: list[str]
    last_post_at: datetime
    unread: int = Field(description="the family's posts no member of staff has opened yet")
    answered: bool = Field(description="the last post is the school's")


class InboxList(Output):
    """Unread threads first, then the most recent."""

    items: list[InboxEntryOut]


class GuardianExport(BaseModel):
    """Everything the school holds about me (GDPR art. 15 and 20), as hub.privacy.export writes it: the guardian, and
    one
    list of rows per table (contacts, consents, channel_preferences, children, notices, deliveries,
    acknowledgements, answers, thread_posts, sessions, sign_in_links, activity)."""

    model_config = ConfigDict(extra="allow")
    format: str
    exported_at: str
    school: str
    guardian: dict[str, Any]


class OpenApiDocument(BaseModel):
    """This document (OpenAPI 3.1)."""

    model_config = ConfigDict(extra="allow")
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]


# --------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Operation:
    """One method on one path of the API, with everything the dispatcher checks and the document says."""

    method: str
    #: The OpenAPI template, e.g. ``/api/v1/notices/{notice_id}``; every ``{name}`` is a positive integer id.
    path: str
    summary: str
    who: Who
    handler: Callable[..., Awaitable[Any]]
    #: The model of the 2xx answer, None for 204 No Content.
    response: type[BaseModel] | None
    body: type[Input] | None = None
    query: type[Input] | None = None
    status: int = 200
    #: Error statuses beyond those the dispatcher derives (401, 403, 404, 415, 422).
    errors: tuple[int, ...] = ()
    description: str = ""

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE_METHODS

    @property
    def needs_csrf(self) -> bool:
        return self.unsafe and self.who is not Who.PUBLIC

    @property
    def path_params(self) -> list[str]:
        return _PATH_PARAM.findall(self.path)

    @property
    def operation_id(self) -> str:
        """The handler's name (``my_notice``, ``compose``): unique, and what a generated client calls it."""
        return self.handler.__name__

    def statuses(self) -> dict[int, str]:
        """The error statuses this operation may answer with, and why."""
        found: dict[int, str] = {}
        if self.who is not Who.PUBLIC:
            found[401] = "not signed in (no session, or it expired)"
        if self.who in (Who.STAFF, Who.GUARDIAN) or self.needs_csrf:
            reasons = []
            if self.who in (Who.STAFF, Who.GUARDIAN):
                reasons.append(f"only for {self.who}")
            if self.needs_csrf:
                reasons.append(f"missing or wrong {CSRF_HEADER} header, or a cross-site request")
            found[403] = "; ".join(reasons)
        if self.path_params:
            found[404] = "no such thing, or not yours to see"
        if self.body is not None:
            found[415] = "the body is not application/json"
        if self.body is not None or self.query is not None:
            found[422] = "invalid request: see fields"
        for status in self.errors:
            found.setdefault(status, _ERROR_TEXT[status])
        return dict(sorted(found.items()))


_ERROR_TEXT = {
    401: "wrong email or password",
    403: "refused: see error",
    404: "no such thing, or not yours to see",
    409: "the request conflicts with the current state: see error",
    429: "too many attempts in a short time: see error",
}


def starlette_path(op: Operation) -> str:
    """The route path Starlette matches: every parameter is an integer."""
    return _PATH_PARAM.sub(r"{\1:int}", op.path)


# ------------------------------------------------------------------------------------------ the document


Refs = dict[tuple[type[BaseModel], str], dict[str, str]]


def _schemas(operations: Iterable[Operation]) -> tuple[dict[str, Any], Refs]:
    """The components' schemas of every body, and the ``$ref`` of each (model, mode). Pydantic names them Foo, or
    Foo-Input and Foo-Output when a model reads differently than it writes."""
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [(ApiError, "serialization")]
    for op in operations:
        if op.body is not None:
            wanted.append((op.body, "validation"))
        if op.response is not None:
            wanted.append((op.response, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, definitions = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    # Pydantic's keys allow dataclasses and its values any JSON: here they are our models and ``$ref`` objects.
    return definitions.get("$defs", {}), cast(Refs, dict(refs))


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
        for name in op.path_params
    ]
    if op.query is not None:
        schema = op.query.model_json_schema()
        required = set(schema.get("required", ()))
        for name, prop in schema["properties"].items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    return params


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [str(op.who)],
    }
    if op.description:
        doc["description"] = op.description
    if params := _parameters(op):
        doc["parameters"] = params
    if op.body is not None:
        doc["requestBody"] = {"required": True, "content": _json(refs[(op.body, "validation")])}
    success: dict[str, Any] = {"description": "done" if op.response is None else "OK"}
    if op.response is not None:
        success["content"] = _json(refs[(op.response, "serialization")])
    if op.path == f"{API_PREFIX}/session" and op.method == "POST":
        success["headers"] = {
            "Set-Cookie": {"description": f"the session cookie ({SESSION_COOKIE_NAME})", "schema": {"type": "string"}}
        }
    responses: dict[str, Any] = {str(op.status): success}
    for status, text in op.statuses().items():
        responses[str(status)] = {"description": text, "content": _json(refs[(ApiError, "serialization")])}
    doc["responses"] = responses
    if op.who is Who.PUBLIC:
        doc["security"] = []
    elif op.needs_csrf:
        doc["security"] = [{"session": [], "csrf": []}]
    return doc


def build_document(operations: Iterable[Operation], *, base_url: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of these operations."""
    ops = list(operations)
    schemas, refs = _schemas(ops)
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, refs)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Carnet API",
            "version": "1",
            "summary": "The school's messages to families, their answers, and the pupils' records.",
            "description": (
                "Sign in with POST /api/v1/session: the answer sets the session cookie (the same as the web "
                "pages') and gives the CSRF token to send in the X-CSRF-Token header of every POST and DELETE. "
                'Errors are JSON: {"error": "..."}, with "fields" for a 422. An id that is not yours to see '
                "answers 404, like one that does not exist."
            ),
            "license": {"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE_NAME},
                "csrf": {"type": "apiKey", "in": "header", "name": CSRF_HEADER},
            },
        },
        "security": [{"session": []}],
    }
    if base_url:
        document["servers"] = [{"url": base_url.rstrip("/")}]
    return document
