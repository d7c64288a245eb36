"""Pupils' own pages: signing in (``/pupil/signin`` with a login and a password, ``/p/<token>`` with the personal
link the school hands out, once) and ``/pupil``, their own grades from publication, averages, report cards,
absences and coming homework and tests (:mod:`hub.records.pupil_view`). The page reads the signed-in pupil's id
only: there is no id in its address to change, so a sibling's records cannot be reached. A pupil's session opens no
guardian page, staff page or API operation.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import ActorKind
from hub.messaging import pupil_messages
from hub.people import pupil_accounts
from hub.records import grades, pupil_view
from hub.store.audit import audit
from hub.web import pupil_messages as pupil_messages_pages
from hub.web.auth import SIGN_IN_LIMIT
from hub.web.kit import Actor, Web, now, pupil_only


def routes(web: Web) -> list[BaseRoute]:
    async def signin(request: Request) -> Response:
        if request.method == "GET":
            return await web.render(request, "pupil/signin.html")
        form = await web.form(request)
        login = str(form.get("login", "")).strip()[:100]
        if await web.too_many_failures(request, "pupil-login", limit=SIGN_IN_LIMIT, minutes=15, key=login.lower()):
            return await web.render(request, "pupil/signin.html", status=429, login=login, error="throttled")
        pupil_id = await pupil_accounts.pupil_by_password(login, str(form.get("password", "")))
        if pupil_id is None:
            await web.count_failure(request, "pupil-login", minutes=15, key=login.lower())
            return await web.render(request, "pupil/signin.html", status=401, login=login, error="wrong")
        response = RedirectResponse("/pupil", status_code=303)
        await web.sign_in(request, response, ActorKind.PUPIL, pupil_id)
        await audit("pupil.login", at=now(), actor_kind=ActorKind.PUPIL, actor_id=pupil_id, by="password")
        return response

    async def open_link(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "GET":  # a link previewer must not use it up: the pupil presses the button
            return await web.render(request, "pupil/open_link.html", token=token)
        await web.form(request)
        if await web.too_many_failures(request, "pupil-link", limit=SIGN_IN_LIMIT, minutes=15):
            return await web.render(request, "pupil/open_link.html", status=429, token=token, error="throttled")
        pupil_id = await pupil_accounts.consume_link(token, now())
        if pupil_id is None:
            await web.count_failure(request, "pupil-link", minutes=15)
            return await web.render(request, "pupil/open_link.html", status=410, token=token, error="used")
        response = RedirectResponse("/pupil", status_code=303)
        await web.sign_in(request, response, ActorKind.PUPIL, pupil_id)
        await audit("pupil.login", at=now(), actor_kind=ActorKind.PUPIL, actor_id=pupil_id, by="link")
        return response

    @pupil_only(web)
    async def home(request: Request, actor: Actor) -> Response:
        at = now()
        record = await pupil_view.own_record(actor.id, at, at.date())
        messages = await pupil_messages.for_pupil(actor.id, at)  # those addressed to pupils that name this one
        return await web.render(
            request,
            "pupil/home.html",
            record=record,
            plain=grades.plain,
            messages=messages,
            shown_at=pupil_messages.shown_at,
        )

    return [
        Route("/pupil/signin", signin, methods=["GET", "POST"]),
        Route("/p/{token}", open_link, methods=["GET", "POST"]),
        Route("/pupil", home),
        *pupil_messages_pages.routes(web),
    ]
