"""The office's GDPR actions on people: a guardian's erasure on request.

* ``/staff/erase``: find a guardian by name (secretary, principal, administrator).
* ``/staff/settings/retention``: how long the school keeps what it sent (the principal reads, an administrator
  changes; ``hub.privacy.retention`` applies them).
* ``/staff/guardians/{id}/erase``: what erasure removes and what it keeps, and the button; the POST erases
  (:func:`hub.privacy.erasure.erase_guardian`, audited) and shows that it is done.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import StaffRole
from hub.people import settings_admin
from hub.people.models import Guardian
from hub.privacy.erasure import ErasureError, erase_guardian
from hub.web.kit import Actor, Web, now, staff_only

ERASE_ROLES = (StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN)
#: The principal reads the retention periods, an administrator changes them.
RETENTION_ROLES = (StaffRole.PRINCIPAL, StaffRole.ADMIN)
#: A search lists at most this many guardians: a name narrows it down.
_SEARCH_LIMIT = 50
_QUERY_MAX = 100


def routes(web: Web) -> list[BaseRoute]:
    @staff_only(web, *ERASE_ROLES)
    async def search(request: Request, actor: Actor) -> Response:
        query = " ".join(request.query_params.get("q", "").split())[:_QUERY_MAX]
        found: list[Guardian] = []
        if query:
            found = (
                await Guardian.filter(school_id=actor.school_id, erased_at__isnull=True, last_name__icontains=query)
                .order_by("last_name", "first_name", "id")
                .limit(_SEARCH_LIMIT)
            )
        return await web.render(request, "office/erase_search.html", query=query, found=found)

    @staff_only(web, *ERASE_ROLES)
    async def erase(request: Request, actor: Actor) -> Response:
        guardian_id: int = request.path_params["guardian_id"]
        guardian = await Guardian.get_or_none(id=guardian_id, school_id=actor.school_id)
        if guardian is None:
            raise HTTPException(404, "not found")
        if request.method == "POST":
            await web.form(request)
            try:
                await erase_guardian(guardian_id, actor.school_id, by_staff_id=actor.id, at=now())
            except ErasureError:
                raise HTTPException(409, "this guardian is already erased") from None
            return RedirectResponse(f"/staff/guardians/{guardian_id}/erase", status_code=303)
        return await web.render(request, "office/erase.html", guardian=guardian)

    async def retention_page(request: Request, actor: Actor, *, status: int = 200, error: str = "") -> Response:
        periods = await settings_admin.retention_periods(actor.school_id)
        return await web.render(
            request,
            "office/retention.html",
            status=status,
            periods=periods,
            error=error,
            bounds=(settings_admin.MIN_RETENTION_DAYS, settings_admin.MAX_RETENTION_DAYS),
            may_change=actor.has_role(StaffRole.ADMIN),
            done=request.query_params.get("done", ""),
        )

    @staff_only(web, *RETENTION_ROLES)
    async def retention(request: Request, actor: Actor) -> Response:
        if request.method == "GET":
            return await retention_page(request, actor)
        form = await web.form(request)
        if not actor.has_role(StaffRole.ADMIN):
            raise HTTPException(403, "only an administrator changes the school's settings")
        raw = {key: str(form.get(key, "")) for key in settings_admin.DEFAULT_RETENTION_DAYS}
        try:
            periods = settings_admin.checked_periods(raw)
        except settings_admin.SettingsError as exc:
            return await retention_page(request, actor, status=400, error=exc.field)
        await settings_admin.update_retention(actor.school_id, periods, by=actor.id, at=now())
        return RedirectResponse("/staff/settings/retention?done=1", status_code=303)

    return [
        Route("/staff/settings/retention", retention, methods=["GET", "POST"]),
        Route("/staff/erase", search),
        Route("/staff/guardians/{guardian_id:int}/erase", erase, methods=["GET", "POST"]),
    ]
