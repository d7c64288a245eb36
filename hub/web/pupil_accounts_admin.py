"""The office's page of pupils' accounts (secretary, principal, administrator).

* ``/staff/pupil-accounts``: the school's classes, to pick one.
* ``/staff/pupil-accounts/{group_id}``: the class's pupils and their account's state (none, login, password set,
  a personal link waiting), with the actions.
* ``POST /staff/pupil-accounts/{group_id}/{pupil_id}`` with ``action``: ``give`` (an optional ``login``; the
  enrolment number by default), ``password`` (a one-time password shown once, to hand to the pupil), ``link`` (a
  personal sign-in link shown once, to print), ``revoke``. Rules and audit in
  :mod:`hub.people.pupil_account_admin`.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import StaffRole
from hub.people import pupil_account_admin as rules
from hub.people.models import Pupil
from hub.web.kit import Actor, Web, now, staff_only

ACCOUNT_ROLES = (StaffRole.SECRETARY, StaffRole.PRINCIPAL, StaffRole.ADMIN)
_ACTIONS = ("give", "password", "link", "revoke")


def routes(web: Web) -> list[BaseRoute]:
    @staff_only(web, *ACCOUNT_ROLES)
    async def classes(request: Request, actor: Actor) -> Response:
        found = await rules.school_classes(actor.school_id)
        return await web.render(request, "office/pupil_accounts_classes.html", classes=found)

    async def class_page(
        request: Request, actor: Actor, group_id: int, *, status: int = 200, error: str = ""
    ) -> Response:
        try:
            group = await rules.class_group(actor.school_id, group_id)
        except rules.PupilAccountError:
            raise HTTPException(404, "no such class") from None
        rows = await rules.class_accounts(actor.school_id, group_id, now())
        return await web.render(
            request,
            "office/pupil_accounts.html",
            status=status,
            group=group,
            rows=rows,
            error=error,
            done=request.query_params.get("done", ""),
        )

    @staff_only(web, *ACCOUNT_ROLES)
    async def one_class(request: Request, actor: Actor) -> Response:
        return await class_page(request, actor, request.path_params["group_id"])

    @staff_only(web, *ACCOUNT_ROLES)
    async def act(request: Request, actor: Actor) -> Response:
        group_id: int = request.path_params["group_id"]
        pupil_id: int = request.path_params["pupil_id"]
        form = await web.form(request)
        action = str(form.get("action", ""))
        if action not in _ACTIONS:
            raise HTTPException(400, "action is one of give, password, link, revoke")
        at = now()
        try:
            await rules.class_group(actor.school_id, group_id)
            if pupil_id not in {row.pupil_id for row in await rules.class_accounts(actor.school_id, group_id, at)}:
                raise rules.PupilAccountError("not_found")
            if action == "give":
                await rules.give_account(
                    actor.school_id, pupil_id, str(form.get("login", ""))[:200], by=actor.id, at=at
                )
            elif action == "revoke":
                await rules.revoke(actor.school_id, pupil_id, by=actor.id, at=at)
            else:
                pupil = await Pupil.get(id=pupil_id)
                name = f"{pupil.first_name} {pupil.last_name}"
                back = f"/staff/pupil-accounts/{group_id}"
                if action == "password":
                    login, password = await rules.one_time_password(actor.school_id, pupil_id, by=actor.id, at=at)
                    return await web.render(
                        request,
                        "office/pupil_account_secret.html",
                        name=name,
                        login=login,
                        password=password,
                        back=back,
                        signin=web.settings.base_url.rstrip("/") + "/pupil/signin",
                    )
                token, expires = await rules.personal_link(actor.school_id, pupil_id, by=actor.id, at=at)
                link = web.settings.base_url.rstrip("/") + f"/p/{token}"
                return await web.render(
                    request, "office/pupil_account_secret.html", name=name, link=link, expires=expires, back=back
                )
        except rules.PupilAccountError as exc:
            if exc.problem == "not_found":
                raise HTTPException(404, "no such pupil in this class") from None
            return await class_page(request, actor, group_id, status=400, error=exc.problem)
        return RedirectResponse(f"/staff/pupil-accounts/{group_id}?done={action}", status_code=303)

    return [
        Route("/staff/pupil-accounts", classes),
        Route("/staff/pupil-accounts/{group_id:int}", one_class),
        Route("/staff/pupil-accounts/{group_id:int}/{pupil_id:int}", act, methods=["POST"]),
    ]
