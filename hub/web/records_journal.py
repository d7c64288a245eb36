"""The class journal's pages and the families' private calendar feeds (:mod:`hub.records.journal`,
:mod:`hub.records.calendar_feed` do the work; the JSON API's operations are :mod:`hub.web.api_records_daily`).

* ``/staff/journal?group=``: the journal of a class or course the member of staff teaches, and a form to write
  an entry (what was done, homework, a test with its due date); ``/staff/journal/<id>/delete`` (the same through
  the API: ``/api/v1/groups/{id}/journal``). Another teacher's class is 404, and nothing is stored.
* ``/portal/calendar``: a guardian makes (or renews: the old one stops working) the secret address of their own
  calendar or of a child's whose records they may see; ``/calendar/<secret>.ics`` serves it, without signing in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.inputs import parse_date, parse_id
from hub.messaging.portal import visible_pupils
from hub.people.models import Group
from hub.records import calendar_feed, journal, visibility
from hub.records.models import JournalEntry
from hub.web.kit import Actor, Web, guardian_only, now, staff_only

_NO_STORE = {"Cache-Control": "no-store"}


def _optional_date(value: object) -> Any:
    text = str(value or "").strip()
    return parse_date(text) if text else None


def routes(web: Web) -> list[BaseRoute]:
    staff = staff_only(web)
    guardian = guardian_only(web)

    async def _write(actor: Actor, values: dict[str, Any]) -> JournalEntry:
        group_id = parse_id(str(values.get("group_id") or values.get("group") or ""))
        if group_id is None:
            raise journal.JournalError("group", "the class or course is needed")
        return await journal.write_entry(
            actor.id,
            actor.roles,
            actor.school_id,
            group_id,
            kind=str(values.get("kind", "")),
            subject=str(values.get("subject", "")),
            text=str(values.get("text", "")),
            on_date=_optional_date(values.get("on_date")),
            due_on=_optional_date(values.get("due_on")),
        )

    @staff
    async def page(request: Request, actor: Actor) -> Response:
        groups = await journal.journal_groups(actor.id, actor.roles, actor.school_id)
        chosen = request.query_params.get("group")
        group_id = parse_id(chosen) if chosen else (groups[0].id if groups else None)
        if chosen and group_id is None:
            raise HTTPException(400, "the group is an id")
        group: Group | None = None
        entries: list[JournalEntry] = []
        if group_id is not None:
            try:
                group, entries = await journal.group_entries(actor.id, actor.roles, actor.school_id, group_id)
            except journal.NotAllowed:
                raise HTTPException(404, "no such class or course") from None
        return await web.render(
            request,
            "records/journal.html",
            groups=groups,
            group=group,
            entries=entries,
            today=now().astimezone(web.charter.tz).date(),
            error=None,
        )

    @staff
    async def create(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        try:
            entry = await _write(actor, dict(form))
        except journal.NotAllowed:
            raise HTTPException(404, "no such class or course") from None
        except journal.JournalError as exc:
            raise HTTPException(400, str(exc)) from None
        return RedirectResponse(f"/staff/journal?{urlencode({'group': entry.group_id})}", status_code=303)

    @staff
    async def delete(request: Request, actor: Actor) -> Response:
        await web.form(request)
        entry_id = int(request.path_params["entry_id"])
        entry = await JournalEntry.get_or_none(id=entry_id)
        try:
            await journal.delete_entry(actor.id, actor.roles, actor.school_id, entry_id)
        except journal.NotAllowed:
            raise HTTPException(404, "no such entry") from None
        assert entry is not None
        return RedirectResponse(f"/staff/journal?{urlencode({'group': entry.group_id})}", status_code=303)

    async def _calendar_page(request: Request, actor: Actor, **values: Any) -> Response:
        children = [p for p in await visible_pupils(actor.id) if await visibility.may_see_records(actor.id, p.id)]
        feeds = {"me": await calendar_feed.current_feed(guardian_id=actor.id)}
        for child in children:
            feeds[str(child.id)] = await calendar_feed.current_feed(pupil_id=child.id)
        return await web.render(request, "records/calendar.html", children=children, feeds=feeds, **values)

    @guardian
    async def calendar_page(request: Request, actor: Actor) -> Response:
        return await _calendar_page(request, actor, new_url=None)

    @guardian
    async def calendar_renew(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        owner = str(form.get("owner", ""))
        if owner == "me":
            token = await calendar_feed.new_feed(now=now(), guardian_id=actor.id)
        else:
            pupil_id = parse_id(owner)
            if pupil_id is None or not await calendar_feed.guardian_may_give_pupil_feed(actor.id, pupil_id):
                raise HTTPException(404, "no such child")
            token = await calendar_feed.new_feed(now=now(), pupil_id=pupil_id)
        url = f"{web.settings.base_url.rstrip('/')}/calendar/{token}.ics"
        return await _calendar_page(request, actor, new_url=url, new_owner=owner)

    async def feed(request: Request) -> Response:
        ics = await calendar_feed.feed_ics(request.path_params["token"], now=now(), tz=web.charter.tz)
        if ics is None:
            raise HTTPException(404, "no such calendar")
        return Response(ics, media_type="text/calendar; charset=utf-8", headers=_NO_STORE)

    return [
        Route("/staff/journal", page),
        Route("/staff/journal", create, methods=["POST"]),
        Route("/staff/journal/{entry_id:int}/delete", delete, methods=["POST"]),
        Route("/portal/calendar", calendar_page),
        Route("/portal/calendar", calendar_renew, methods=["POST"]),
        Route("/calendar/{token}.ics", feed),
    ]
