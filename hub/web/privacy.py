"""The office's GDPR actions on people: a guardian's erasure on request.

* ``/staff/erase``: find a guardian by name (secretary, principal, administrator).
* ``/staff/guardians/{id}/erase``: what erasure removes and what it keeps, and the button; the POST erases
  (:func:`hub.privacy.erasure.erase_guardian`, audited) and shows that it is done.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import StaffRole
from hub.people.models import Guardian
from hub.privacy.erasure import ErasureError, erase_guardian
from hub.web.kit import Actor, Web, now, staff_only

ERASE_ROLES = (StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN)
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

    return [
        Route("/staff/erase", search),
        Route("/staff/guardians/{guardian_id:int}/erase", erase, methods=["GET", "POST"]),
    ]
