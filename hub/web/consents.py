"""Consent for a pupil on the web: each guardian answers for the purposes about their child, and sees the pupil's
state, a conflict included; the school's office sees the same state for any pupil of the school.

* ``/portal/children/{pupil}/consents``: the guardian's answers and the pupil's state (GET), an answer (POST).
* ``/staff/pupils/{pupil}/consents``: the state and every guardian's answer, for the office.

The rules: :mod:`hub.people.pupil_consent`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import ConsentPurpose, ConsentSource, StaffRole
from hub.people.models import Guardian, Guardianship, Pupil
from hub.people.pupil_consent import PUPIL_PURPOSES, NotEntitled, answer, pupil_consents
from hub.web.kit import Actor, Web, guardian_only, now, staff_only

OFFICE_ROLES = (StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN)


def routes(web: Web) -> list[BaseRoute]:
    guardian = guardian_only(web)

    async def own_pupil(actor: Actor, pupil_id: int) -> Pupil:
        linked = await Guardianship.exists(pupil_id=pupil_id, guardian_id=actor.id, barred=False)
        pupil = await Pupil.get_or_none(id=pupil_id) if linked else None
        if pupil is None:
            raise HTTPException(404, "not found")
        return pupil

    @guardian
    async def family_page(request: Request, actor: Actor) -> Response:
        pupil = await own_pupil(actor, request.path_params["pupil_id"])
        status = 200
        error = ""
        if request.method == "POST":
            form = await web.form(request)
            try:
                purpose = ConsentPurpose(str(form.get("purpose", "")))
                value = str(form.get("answer", ""))
                if purpose not in PUPIL_PURPOSES or value not in ("yes", "no"):
                    raise ValueError(value)
            except ValueError:
                status, error = 400, "invalid"
            else:
                try:
                    await answer(pupil.id, actor.id, purpose, value == "yes", source=ConsentSource.PORTAL, at=now())
                except NotEntitled:
                    status, error = 403, "not_entitled"
                else:
                    return RedirectResponse(f"/portal/children/{pupil.id}/consents?done=1", status_code=303)
        views = await pupil_consents(pupil.id)
        return await web.render(
            request,
            "portal/consents.html",
            status=status,
            pupil=pupil,
            views=[views[p] for p in PUPIL_PURPOSES],
            me=actor.id,
            error=error,
            done=request.query_params.get("done", ""),
        )

    @staff_only(web, *OFFICE_ROLES)
    async def office_page(request: Request, actor: Actor) -> Response:
        pupil = await Pupil.get_or_none(id=request.path_params["pupil_id"], school_id=actor.school_id)
        if pupil is None:
            raise HTTPException(404, "not found")
        views = await pupil_consents(pupil.id)
        ids = {guardian_id for view in views.values() for guardian_id, _a in view.answers}
        names = {g.id: f"{g.first_name} {g.last_name}" for g in await Guardian.filter(id__in=list(ids))}
        return await web.render(
            request, "office/pupil_consents.html", pupil=pupil, views=[views[p] for p in PUPIL_PURPOSES], names=names
        )

    return [
        Route("/portal/children/{pupil_id:int}/consents", family_page, methods=["GET", "POST"]),
        Route("/staff/pupils/{pupil_id:int}/consents", office_page),
    ]
