"""The absence register's pages (:mod:`hub.records.absences` does the work; the JSON API's operations are
:mod:`hub.web.api_records_daily`).

* ``/staff/absences``: the classes and courses this member of staff may take the register of, and a form to open
  one (day, period); ``/staff/absences/register?group=&date=&period=``: the whole group on one screen, present,
  absent or late per pupil, saved at once (the same through the API: ``/api/v1/groups/{id}/register``).
* ``/staff/absences/justify`` (secretary, principal, admin): the absences still to justify and a paper note
  typed in; ``/staff/absences/flagged`` (principal, admin, secretary): the pupils at the school's threshold of
  unjustified half-days; ``/staff/absences/export.csv?group=&from=&to=``: a class's absences as CSV.

A teacher asking for a group they do not teach gets 404, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channels.registry import available_channels
from charter import rules
from hub import csvfile
from hub.enums import AbsenceReason, StaffRole
from hub.inputs import parse_date, parse_id
from hub.messaging import routing
from hub.records import absences
from hub.web.kit import Actor, Web, now, staff_only

_OFFICE = (StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN)
_NO_STORE = {"Cache-Control": "no-store"}


def _today(web: Web) -> dt.date:
    return routing.local_day(web.charter, now())


def _period(text: object) -> int | None:
    value = parse_id(text)
    return value if value is not None and value in absences.PERIODS else None


def _query(request: Request, web: Web) -> tuple[int, dt.date, int]:
    """group, date and period of the query string; 400 when one is missing or wrong."""
    params = request.query_params
    group_id = parse_id(params.get("group", ""))
    on_date = parse_date(params.get("date", "")) if params.get("date") else _today(web)
    period = _period(params.get("period", "1"))
    if group_id is None or on_date is None or period is None:
        raise HTTPException(400, "group, date (YYYY-MM-DD) and period (1 to 8) are needed")
    return group_id, on_date, period


def routes(web: Web) -> list[BaseRoute]:
    staff = staff_only(web)
    office = staff_only(web, *_OFFICE)

    async def _sheet(actor: Actor, group_id: int, on_date: dt.date, period: int) -> absences.Sheet:
        try:
            return await absences.sheet(
                actor.id, actor.roles, actor.school_id, group_id, on_date, period, today=_today(web)
            )
        except absences.NotAllowed:
            raise HTTPException(404, "no such class or course") from None
        except absences.RegisterError as exc:
            raise HTTPException(400, str(exc)) from None

    async def _take(
        actor: Actor, group_id: int, on_date: dt.date, period: int, marks: dict[int, absences.Mark]
    ) -> absences.TakeResult:
        try:
            return await absences.take_register(
                actor.id,
                actor.roles,
                actor.school_id,
                group_id,
                on_date,
                period,
                marks,
                now=now(),
                charter=web.charter,
                available_channels=available_channels(web.settings),
            )
        except absences.NotAllowed:
            raise HTTPException(404, "no such class or course") from None
        except absences.RegisterError as exc:
            raise HTTPException(400, str(exc)) from None

    @staff
    async def index(request: Request, actor: Actor) -> Response:
        groups = await absences.register_groups(actor.id, actor.roles, actor.school_id)
        return await web.render(
            request,
            "records/absences.html",
            groups=groups,
            today=_today(web),
            periods=absences.PERIODS,
            may_justify=actor.has_role(*_OFFICE),
        )

    @staff
    async def register_page(request: Request, actor: Actor) -> Response:
        group_id, on_date, period = _query(request, web)
        sheet = await _sheet(actor, group_id, on_date, period)
        return await web.render(
            request, "records/register.html", sheet=sheet, periods=absences.PERIODS, result=None, marks=absences.Mark
        )

    @staff
    async def register_post(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        group_id = parse_id(form.get("group", ""))
        on_date = parse_date(form.get("date", ""))
        period = _period(form.get("period", ""))
        if group_id is None or on_date is None or period is None:
            raise HTTPException(400, "group, date (YYYY-MM-DD) and period (1 to 8) are needed")
        try:
            marks = absences.read_marks((k, str(v)) for k, v in form.multi_items())
        except absences.RegisterError as exc:
            raise HTTPException(400, str(exc)) from None
        result = await _take(actor, group_id, on_date, period, marks)
        sheet = await _sheet(actor, group_id, on_date, period)
        return await web.render(
            request, "records/register.html", sheet=sheet, periods=absences.PERIODS, result=result, marks=absences.Mark
        )

    @office
    async def justify_page(request: Request, actor: Actor) -> Response:
        lang = web.language(request, actor)
        return await web.render(
            request,
            "records/justify.html",
            open_absences=await absences.unjustified(actor.school_id),
            reasons=absences.reason_words(lang),
            done=parse_id(request.query_params.get("done", "")),
        )

    @office
    async def justify_post(request: Request, actor: Actor) -> Response:
        absence_id = int(request.path_params["absence_id"])
        form = await web.form(request)
        try:
            reason = AbsenceReason(str(form.get("reason", "")))
            count = await absences.justify_from_office(
                actor.id,
                actor.roles,
                actor.school_id,
                absence_id,
                reason,
                str(form.get("note", "")).strip(),
                now=now(),
            )
        except ValueError as exc:
            if isinstance(exc, absences.NotAllowed):
                raise HTTPException(404, "no such absence") from None
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"/staff/absences/justify?{urlencode({'done': count})}", status_code=303)

    @office
    async def flagged_page(request: Request, actor: Actor) -> Response:
        threshold, flagged = await absences.flagged_pupils(actor.school_id, today=_today(web), charter=web.charter)
        return await web.render(request, "records/flagged.html", threshold=threshold, flagged=flagged)

    @staff
    async def export_csv(request: Request, actor: Actor) -> Response:
        params = request.query_params
        group_id = parse_id(params.get("group", ""))
        today = _today(web)
        first = parse_date(params["from"]) if params.get("from") else rules.school_year_start(web.charter, today)
        last = parse_date(params["to"]) if params.get("to") else today
        if group_id is None or first is None or last is None:
            raise HTTPException(400, "group, from and to (YYYY-MM-DD) are needed")
        try:
            name, data = await absences.class_absences_csv(
                actor.id, actor.roles, actor.school_id, group_id, first, last, tz=web.charter.tz
            )
        except absences.NotAllowed:
            raise HTTPException(404, "no such class or course") from None
        except absences.RegisterError as exc:
            raise HTTPException(400, str(exc)) from None
        return Response(
            data,
            media_type=csvfile.MEDIA_TYPE,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", **_NO_STORE},
        )

    return [
        Route("/staff/absences", index),
        Route("/staff/absences/register", register_page),
        Route("/staff/absences/register", register_post, methods=["POST"]),
        Route("/staff/absences/justify", justify_page),
        Route("/staff/absences/{absence_id:int}/justify", justify_post, methods=["POST"]),
        Route("/staff/absences/flagged", flagged_page),
        Route("/staff/absences/export.csv", export_csv),
    ]
