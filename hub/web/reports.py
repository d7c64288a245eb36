"""The principal's delivery report: ``/staff/report`` (the page) and ``/staff/report.json`` (the same figures).

Principals and administrators only (a teacher or a secretary gets 403). The query string chooses the period
(``from`` and ``to``, local dates, both included; by default 1 September of the school year to today), one
message (``message``) and the page of families that cannot be reached without someone acting (``after`` or
``before`` a family's notice, as the page's links say, ``offset`` numbering it; an ``offset`` alone, typed by
hand, is counted from the first; the families held until the charter allows are counted, not listed);
``part=funnel`` asks the JSON for the funnel alone (the page's 15-second refresh). The figures come from
:func:`hub.reports.delivery_report`; this module parses, formats in the page's language and renders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from charter import Charter
from hub import csvfile
from hub.enums import StaffRole
from hub.messaging.models import Message
from hub.people import audit_log
from hub.people.models import School
from hub.reports import calls
from hub.reports.delivery import (
    UNREACHED_PAGE,
    Period,
    Report,
    ReportError,
    delivery_funnel,
    delivery_report,
    funnel_json,
    period_of,
    published_messages,
)
from hub.web.guard import MAX_ID, parse_id, parse_page
from hub.web.kit import Actor, Web, now, staff_only

#: Babel's locale of each page language (numbers, money and month names as a Belgian reader writes them).
_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}
#: The figures change as families read: never from a cache.
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class Formats:
    """Numbers, money, shares and months in the page's language, for the templates."""

    locale: str

    def number(self, value: int) -> str:
        return format_decimal(value, locale=self.locale)

    def money(self, value: Decimal) -> str:
        return format_currency(value, "EUR", locale=self.locale)

    def percent(self, count: int, base: int) -> str:
        return format_percent(count / base if base else 0, locale=self.locale)

    def month(self, value: date) -> str:
        return format_date(value, "LLLL yyyy", locale=self.locale)


@dataclass(frozen=True)
class Query:
    """What the visitor asked for, read from the query string."""

    period: Period
    message_id: int | None
    offset: int
    #: The page of families after or before this notice (the page links: keyset), else the one at ``offset``.
    after: int | None = None
    before: int | None = None

    def link(self, **changes: Any) -> str:
        """This report's address with some parameters changed (pagination, the JSON twin)."""
        values = {"from": self.period.first.isoformat(), "to": self.period.last.isoformat()}
        if self.message_id:
            values["message"] = str(self.message_id)
        values.update({k: str(v) for k, v in changes.items()})
        return urlencode(values)


async def _query(request: Request, actor: Actor, charter: Charter) -> Query:
    """The period, message and page asked for; ReportError for a bad date, 404 for another school's message."""
    school = await School.get(id=actor.school_id)
    params = request.query_params
    period = period_of(params.get("from", ""), params.get("to", ""), now=now(), tz=school.timezone, charter=charter)
    message = params.get("message", "").strip()
    message_id = None
    if message:
        message_id = parse_id(message)
        if message_id is None or not await Message.filter(id=message_id, school_id=actor.school_id).exists():
            raise HTTPException(404, "no such message")
    # An offset past every family shows an empty page; past the database's integer it would overflow the OFFSET.
    offset = parse_page(params.get("offset"), default=0, maximum=MAX_ID)
    keys: dict[str, int | None] = {}
    for name in ("after", "before"):
        typed = params.get(name, "").strip()
        keys[name] = parse_id(typed) if typed else None
        if typed and keys[name] is None:
            raise HTTPException(400, f"{name}: not a notice number")
    return Query(period, message_id, offset, after=keys["after"], before=keys["before"])


async def _report(actor: Actor, query: Query) -> Report:
    return await delivery_report(
        actor.school_id,
        query.period,
        now=now(),
        message_id=query.message_id,
        offset=query.offset,
        after=query.after,
        before=query.before,
    )


def routes(web: Web) -> list[BaseRoute]:
    managers = staff_only(web, StaffRole.PRINCIPAL, StaffRole.ADMIN)

    @managers
    async def page(request: Request, actor: Actor) -> Response:
        lang = web.language(request, actor)
        values: dict[str, Any] = {"fmt": Formats(_LOCALES[lang]), "page_size": UNREACHED_PAGE}
        try:
            query = await _query(request, actor, web.charter)
        except ReportError as exc:
            params = request.query_params
            return await web.render(
                request,
                "reports/report.html",
                status=400,
                error=exc.reason,
                typed_from=params.get("from", ""),
                typed_to=params.get("to", ""),
                **values,
            )
        report = await _report(actor, query)
        await audit_log.staff_read(
            audit_log.REPORT_VIEWED, actor.id, at=now(), subject_type="report", message=query.message_id, via="page"
        )
        return await web.render(
            request,
            "reports/report.html",
            report=report,
            query=query,
            messages=await published_messages(actor.school_id, query.period),
            **values,
        )

    @managers
    async def as_json(request: Request, actor: Actor) -> Response:
        try:
            query = await _query(request, actor, web.charter)
        except ReportError as exc:
            return JSONResponse({"error": str(exc), "field": exc.reason}, status_code=400)
        if request.query_params.get("part") == "funnel":  # the page's refresh: one query, not ten
            stages = await delivery_funnel(actor.school_id, query.period, message_id=query.message_id)
            return JSONResponse({"funnel": funnel_json(stages)}, headers=_NO_STORE)
        report = await _report(actor, query)
        await audit_log.staff_read(
            audit_log.REPORT_VIEWED, actor.id, at=now(), subject_type="report", message=query.message_id, via="json"
        )
        return JSONResponse(report.as_json(), headers=_NO_STORE)

    callers = staff_only(web, StaffRole.PRINCIPAL, StaffRole.ADMIN, StaffRole.SECRETARY)

    async def _calls(request: Request, actor: Actor) -> calls.CallList:
        """The call list a request asks for: 400 for a bad period, 404 for a class or message not of the school."""
        try:
            query = await _query(request, actor, web.charter)
        except ReportError as exc:
            raise HTTPException(400, str(exc)) from None
        group_id = parse_id(request.path_params.get("group_id"))
        found = None
        if group_id is not None:
            found = await calls.call_list(
                actor.school_id, group_id, query.period, now=now(), message_id=query.message_id
            )
        if found is None:
            raise HTTPException(404, "no such class")
        return found

    def _filename(found: calls.CallList, suffix: str) -> str:
        code = "".join(ch for ch in found.code if ch.isalnum() or ch in "-_") or str(found.group_id)
        return f"appels-{code}.{suffix}"

    @callers
    async def call_page(request: Request, actor: Actor) -> Response:
        found = await _calls(request, actor)
        lang = web.language(request, actor)
        query = await _query(request, actor, web.charter)
        return await web.render(
            request, "reports/calls.html", calls=found, query=query, why=lambda m: calls.why(m, lang)
        )

    @callers
    async def call_pdf(request: Request, actor: Actor) -> Response:
        found = await _calls(request, actor)
        data = calls.pdf_bytes(found, web.language(request, actor))
        disposition = f'attachment; filename="{_filename(found, "pdf")}"'
        return Response(data, media_type="application/pdf", headers={"Content-Disposition": disposition, **_NO_STORE})

    @callers
    async def call_csv(request: Request, actor: Actor) -> Response:
        found = await _calls(request, actor)
        data = calls.csv_bytes(found, web.language(request, actor))
        disposition = f'attachment; filename="{_filename(found, "csv")}"'
        return Response(data, media_type=csvfile.MEDIA_TYPE, headers={"Content-Disposition": disposition, **_NO_STORE})

    return [
        Route("/staff/report", page),
        Route("/staff/report.json", as_json),
        Route("/staff/report/calls/{group_id}.pdf", call_pdf),
        Route("/staff/report/calls/{group_id}.csv", call_csv),
        Route("/staff/report/calls/{group_id}", call_page),
    ]
