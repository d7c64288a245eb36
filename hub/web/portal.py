"""The guardians' portal: one inbox for all their children, a message page (acknowledge, answer the reply slip),
their children's records, and "My data" with its download. The personal link ``/n/<token>`` opens the same
message page without signing in: the token is the credential for that one notice.

* ``/portal``: the inbox, newest first, ``?pupil=`` filters by child, ``?page=`` pages; what needs doing on top.
* ``/portal/notices/{id}`` (+ ``/ack``, ``/answer``) and ``/n/{token}`` (+ ``/ack``, ``/answer``): the message.
  Fetching ``/n/{token}`` records only an opening; ``POST /n/{token}/read`` (the page's signal once displayed) and
  any action record the read (see :mod:`hub.messaging.notice_page`).
* ``/portal/attachments/{id}`` and ``/n/{token}/attachments/{id}``: a file of a message the guardian received.
* ``/portal/children`` and ``/portal/children/{pupil_id}``: published grades and report cards, absences, diary.
* ``/portal/data`` and ``/portal/data/export``: what the school holds about me, as JSON or a zip of CSV files.

The rules are in :mod:`hub.messaging.portal`, :mod:`hub.messaging.notice_page` and :mod:`hub.privacy.export`; these
handlers parse, call and
answer. Another family's notice, pupil or file gives 404, like an unknown one. Every form is CSRF-checked (the
session's token when signed in, the anonymous cookie on a personal link, whose URL also holds the secret token).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import ActorKind
from hub.messaging import notice_page, portal, threads
from hub.messaging.models import Notice
from hub.messaging.portal import FieldErrors, MessagePage, SlipRefused
from hub.privacy import export
from hub.privacy.export_pdf import export_pdf
from hub.records import family as records_family
from hub.records import grade_chart
from hub.web.guard import parse_id, parse_page
from hub.web.kit import Actor, Web, attachment_download, guardian_only, now

#: How a refusal of the reply slip is answered: 409 when the slip's state says no, 403 when the guardian's right.
_REFUSAL_STATUS = {"closed": 409, "answered": 409, "no_slip": 409, "no_right": 403, "unknown_pupil": 400}


def _not_found() -> HTTPException:
    return HTTPException(404, "not found")


def _id_param(request: Request, name: str) -> int | None:
    """An id from the query (ASCII digits within the database's range), else None."""
    return parse_id(request.query_params.get(name))


def _fields(form: FormData) -> dict[str, list[str]]:
    return {key: [str(v) for v in form.getlist(key)] for key in form.keys() if key != "csrf_token"}


def routes(web: Web) -> list[BaseRoute]:
    guardian = guardian_only(web)
    web.sync_templates.add("portal/inbox.html")  # every value is read before it renders: no async rendering

    async def show_message(
        request: Request, page: MessagePage, *, base: str, template: str, status: int = 200, **extra: Any
    ) -> Response:
        """The message page; its reply thread (``threads/thread.html``) is the notice guardian's, as they see it."""
        reader = threads.Reader(ActorKind.GUARDIAN, page.guardian_id)
        if base.startswith("/n/"):  # the personal link's thread posts to its own address
            extra = {"reply_action": f"{base}/reply", "reply_next": base, **extra}
        return await web.render(
            request,
            template,
            status=status,
            page=page,
            base=base,
            notice_id=page.notice_id,
            thread=await threads.thread_view(page.notice_id, reader, now(), web.charter),
            done=request.query_params.get("done", ""),
            **extra,
        )

    async def answer(
        request: Request,
        submit: Callable[[str, dict[str, list[str]]], Awaitable[object]],
        page_of: Callable[[], Awaitable[MessagePage | None]],
        *,
        base: str,
        template: str,
    ) -> Response:
        """Check the form, ``submit(target, fields)`` it, and on a refusal show the page again with what was typed
        and why (nothing stored); ``submit`` returns None for an unknown personal link."""
        form = await web.form(request)
        target = str(form.get("target", ""))
        fields = _fields(form)
        why: dict[str, Any]
        try:
            if await submit(target, fields) is None:
                return await unknown_link(request)
            return RedirectResponse(f"{base}?done=answered#slip", status_code=303)
        except SlipRefused as refused:
            status, why = _REFUSAL_STATUS[refused.code], {"refused": refused.code}
        except FieldErrors as wrong:
            status, why = 400, {"errors": wrong.errors}
        page = await page_of()
        if page is None:
            return await unknown_link(request)
        return await show_message(
            request, page, base=base, template=template, status=status, target=target, posted=fields, **why
        )

    async def unknown_link(request: Request) -> Response:
        return await web.render(request, "notice.html", status=404, page=None)

    # ------------------------------------------------------------------------------------- signed-in guardian

    async def own_notice(actor: Actor, request: Request) -> Notice:
        notice = await portal.own_notice(actor.id, request.path_params["notice_id"])
        if notice is None:
            raise _not_found()
        return notice

    @guardian
    async def inbox(request: Request, actor: Actor) -> Response:
        found = await portal.inbox(
            actor.id, now=now(), pupil_id=_id_param(request, "pupil"), page=parse_page(request.query_params.get("page"))
        )
        if found is None:
            raise _not_found()
        return await web.render(request, "portal/inbox.html", inbox=found)

    @guardian
    async def message(request: Request, actor: Actor) -> Response:
        notice = await own_notice(actor, request)
        await portal.mark_read(notice, now())
        page = await portal.message_page(notice, now())
        return await show_message(request, page, base=f"/portal/notices/{notice.id}", template="portal/message.html")

    @guardian
    async def message_ack(request: Request, actor: Actor) -> Response:
        notice = await own_notice(actor, request)
        await web.form(request)
        await portal.acknowledge(notice, guardian_id=actor.id, now=now(), via="portal")
        return RedirectResponse(f"/portal/notices/{notice.id}", status_code=303)

    @guardian
    async def message_answer(request: Request, actor: Actor) -> Response:
        notice = await own_notice(actor, request)

        async def submit(target: str, fields: dict[str, list[str]]) -> list[int]:
            return await portal.answer_slip(notice, target, fields, guardian_id=actor.id, now=now(), via="portal")

        return await answer(
            request,
            submit,
            lambda: portal.message_page(notice, now()),
            base=f"/portal/notices/{notice.id}",
            template="portal/message.html",
        )

    @guardian
    async def attachment(request: Request, actor: Actor) -> Response:
        found = await portal.guardian_attachment(actor.id, request.path_params["attachment_id"])
        if found is None:
            raise _not_found()
        return attachment_download(found)

    # ------------------------------------------------------------------------------------------ children

    @guardian
    async def children(request: Request, actor: Actor) -> Response:
        at = now()
        today = at.astimezone(web.charter.tz).date()
        return await web.render(
            request, "portal/children.html", children=await records_family.children(actor.id, at, today)
        )

    @guardian
    async def child(request: Request, actor: Actor) -> Response:
        at = now()
        today = at.astimezone(web.charter.tz).date()
        record = await records_family.child_record(actor.id, request.path_params["pupil_id"], at, today)
        if record is None:
            raise _not_found()
        chart = grade_chart.monthly(record.grades)  # the year's grades as families see them, drawn
        return await web.render(request, "portal/child.html", record=record, chart=chart)

    # ---------------------------------------------------------------------------------------------- my data

    @guardian
    async def my_data(request: Request, actor: Actor) -> Response:
        try:
            data = await export.guardian_data(actor.id, now=now())
        except export.NothingToExport:
            raise _not_found() from None
        return await web.render(request, "portal/data.html", data=data)

    @guardian
    async def my_data_export(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        asked = str(form.get("format", ""))
        file_format = asked if asked in ("zip", "pdf") else "json"
        try:
            data = await export.audited_export(actor.id, now=now(), file_format=file_format, via="portal")
        except export.NothingToExport:
            raise _not_found() from None
        stamp = now().strftime("%Y%m%d")
        if file_format == "zip":
            body, media = export.export_zip(data), "application/zip"
        elif file_format == "pdf":
            body = export_pdf(data, language=web.language(request, actor), timezone=web.settings.timezone)
            media = "application/pdf"
        else:
            body, media = export.export_json(data), "application/json"
        return Response(
            body,
            media_type=media,
            headers={
                "Content-Disposition": f'attachment; filename="carnet-mes-donnees-{stamp}.{file_format}"',
                "Cache-Control": "private, no-store",
            },
        )

    # ------------------------------------------------------------------------------------ the personal link

    async def link_page(request: Request) -> Response:
        token = request.path_params["token"]
        page = await notice_page.open_notice(token, now())
        if page is None:
            return await unknown_link(request)
        response = await show_message(request, page, base=f"/n/{token}", template="notice.html")
        # The address is the credential: never sent to another site, never kept by a shared cache.
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    async def link_ack(request: Request) -> Response:
        token = request.path_params["token"]
        await web.form(request)
        await notice_page.confirm_read(token, now())  # an action: a person is there
        if not await notice_page.acknowledge(token, now()):
            return await unknown_link(request)
        return RedirectResponse(f"/n/{token}", status_code=303)

    async def link_answer(request: Request) -> Response:
        token = request.path_params["token"]

        async def submit(target: str, fields: dict[str, list[str]]) -> list[int] | None:
            await notice_page.confirm_read(token, now())  # an action, even one refused: a person is there
            return await notice_page.answer(token, target, fields, now())

        return await answer(
            request, submit, lambda: notice_page.page(token, now()), base=f"/n/{token}", template="notice.html"
        )

    async def link_read(request: Request) -> Response:
        """The signal the link's page sends once displayed (``static/read.js``): a person is reading. CSRF-checked
        like every form; 204, or 404 for an unknown link."""
        await web.form(request)
        if await notice_page.confirm_read(request.path_params["token"], now()) is None:
            raise _not_found()
        return Response(status_code=204)

    async def link_attachment(request: Request) -> Response:
        found = await notice_page.attachment(request.path_params["token"], request.path_params["attachment_id"])
        if found is None:
            raise _not_found()
        return attachment_download(found)

    return [
        Route("/portal", inbox),
        Route("/portal/notices/{notice_id:int}", message),
        Route("/portal/notices/{notice_id:int}/ack", message_ack, methods=["POST"]),
        Route("/portal/notices/{notice_id:int}/answer", message_answer, methods=["POST"]),
        Route("/portal/attachments/{attachment_id:int}", attachment),
        Route("/portal/children", children),
        Route("/portal/children/{pupil_id:int}", child),
        Route("/portal/data", my_data),
        Route("/portal/data/export", my_data_export, methods=["POST"]),
        Route("/n/{token}", link_page),
        Route("/n/{token}/ack", link_ack, methods=["POST"]),
        Route("/n/{token}/answer", link_answer, methods=["POST"]),
        Route("/n/{token}/read", link_read, methods=["POST"]),
        Route("/n/{token}/attachments/{attachment_id:int}", link_attachment),
    ]
