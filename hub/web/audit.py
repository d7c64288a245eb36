"""The audit log's page (``/staff/audit``) and its CSV export (``/staff/audit.csv``), for the principal and the
administrators: filters by who (a member of staff), what (a kind of entry) and when (from, to, in the school's
time zone). Exporting the log is itself written to the log. Bad filters get the page again with a 400, never a
500; nothing is stored by reading.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub import csvfile
from hub.enums import ActorKind, StaffRole
from hub.inputs import parse_date, parse_id, parse_page
from hub.people import audit_log
from hub.store.audit import audit
from hub.web.kit import Actor, Web, now, staff_only


@dataclass(frozen=True)
class _Typed:
    who: str
    what: str
    since: str
    until: str


def _filters(request: Request, tz: str) -> tuple[audit_log.AuditFilter, _Typed, str]:
    """The filters of the query string, what was typed, and the field at fault ("" when all is right)."""
    params = request.query_params
    typed = _Typed(
        params.get("who", "")[:20], params.get("what", "")[:64], params.get("from", "")[:20], params.get("to", "")[:20]
    )
    zone = ZoneInfo(tz)
    actor_id: int | None = None
    if typed.who:
        actor_id = parse_id(typed.who)
        if actor_id is None:
            return audit_log.AuditFilter(), typed, "who"
    since = until = None
    for name, value in (("from", typed.since), ("to", typed.until)):
        if not value:
            continue
        day = parse_date(value)
        if day is None:
            return audit_log.AuditFilter(), typed, name
        start = dt.datetime.combine(day, dt.time(0), zone)
        if name == "from":
            since = start
        else:
            until = start + dt.timedelta(days=1)  # "to" includes its day
    if since and until and until <= since:
        return audit_log.AuditFilter(), typed, "to"
    return audit_log.AuditFilter(actor_id=actor_id, action=typed.what, since=since, until=until), typed, ""


def routes(web: Web) -> list[BaseRoute]:
    readers = staff_only(web, StaffRole.PRINCIPAL, StaffRole.ADMIN)

    @readers
    async def page(request: Request, actor: Actor) -> Response:
        flt, typed, wrong = _filters(request, web.settings.timezone)
        page_no = parse_page(request.query_params.get("page"))
        choices: dict[str, Any] = {
            "people": await audit_log.staff_choices(actor.school_id),
            "kinds": await audit_log.actions(),
        }
        if wrong:
            return await web.render(
                request, "admin/audit.html", status=400, error=wrong, typed=typed, rows=[], total=0, **choices
            )
        total = await audit_log.count(actor.school_id, flt)
        pages = max(1, -(-total // audit_log.PAGE_SIZE))

        def at_page(number: int) -> str:
            url = request.url.include_query_params(page=number)
            return f"{url.path}?{url.query}"

        rows = await audit_log.search(actor.school_id, flt, offset=(page_no - 1) * audit_log.PAGE_SIZE)
        return await web.render(
            request,
            "admin/audit.html",
            typed=typed,
            rows=rows,
            total=total,
            page=page_no,
            pages=pages,
            newer=at_page(page_no - 1) if page_no > 1 else "",
            older=at_page(page_no + 1) if page_no < pages else "",
            query=request.url.query,
            **choices,
        )

    @readers
    async def export(request: Request, actor: Actor) -> Response:
        flt, typed, wrong = _filters(request, web.settings.timezone)
        if wrong:
            return Response(f"invalid filter: {wrong}", status_code=400, media_type="text/plain; charset=utf-8")
        data = await audit_log.export_csv(actor.school_id, flt, tz=web.settings.timezone)
        await audit(
            audit_log.AUDIT_EXPORTED,
            at=now(),
            actor_kind=ActorKind.STAFF,
            actor_id=actor.id,
            subject_type="audit_log",
            who=flt.actor_id,
            what=flt.action,
            since=typed.since,
            until=typed.until,
        )
        stamp = now().astimezone(ZoneInfo(web.settings.timezone)).strftime("%Y%m%d-%H%M")
        return Response(
            data,
            media_type=csvfile.MEDIA_TYPE,
            headers={
                "Content-Disposition": f'attachment; filename="carnet-audit-{stamp}.csv"',
                "Cache-Control": "private, no-store",
            },
        )

    return [Route("/staff/audit", page), Route("/staff/audit.csv", export)]
