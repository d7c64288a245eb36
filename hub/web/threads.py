"""Reply threads in the browser: a guardian writes to the school about a message, staff read and answer.

Guardians post from the portal (``/portal/notices/{id}/reply``, their own notice only) or from a notice's
personal link (``/n/{token}/reply``, the token being the credential, as on the notice page). Staff find the
threads of the messages they may read at ``/staff/inbox`` and answer at ``/staff/inbox/{notice_id}``. Another
family's notice, or a message a teacher does not follow, is "not found" (404), whatever the form says.

The thread itself (:func:`hub.messaging.threads.thread_view`) is shown by the partial ``threads/thread.html``, which the
portal's message page includes too. A refused post (empty, too long, too many) is shown again with its text and
the reason, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import ActorKind, Channel
from hub.messaging import notice_page, threads
from hub.messaging.portal import notice_by_token, own_notice
from hub.messaging.replies import ReplyError
from hub.web.kit import Actor, Web, guardian_only, now, safe_next, staff_only

#: Posts a guardian (or a member of staff) may write in an hour: enough for a conversation, not for a flood.
POST_LIMIT = 20


def _posted(target: str) -> str:
    """``target`` with ``posted=1`` (the page says "sent") and the thread's anchor."""
    path = target.split("#", 1)[0]
    return f"{path}{'&' if '?' in path else '?'}posted=1#thread"


def routes(web: Web) -> list[BaseRoute]:
    async def refused(
        request: Request, template: str, thread_of: threads.Thread, error: str, text: str, **values: object
    ) -> Response:
        """The page again, with the reason and the text typed, and nothing stored."""
        status = 429 if error == "throttled" else 400
        return await web.render(
            request, template, status=status, thread=thread_of, reply_error=error, reply_text=text, **values
        )

    async def guardian_post(
        request: Request, form: FormData, notice_id: int, viewer: threads.Viewer, *, default_next: str, **page: str
    ) -> Response:
        """Store a guardian's post on their own notice and go back to ``next`` (the page the form was on), or show
        the form again with the reason, still going back there once it succeeds."""
        text = str(form.get("body", ""))
        target = safe_next(str(form.get("next", "")), default_next)
        if await web.throttled(request, "thread-post", limit=POST_LIMIT, minutes=60, key=f"guardian-{viewer.id}"):
            error = "throttled"
        else:
            try:
                await threads.post_as_guardian(notice_id, viewer.id, text, now())
            except ReplyError as exc:
                if exc.code == "unknown_notice":
                    raise HTTPException(404, "not found") from exc
                error = exc.code
            else:
                return RedirectResponse(_posted(target), status_code=303)
        thread = await threads.thread_view(notice_id, viewer, now(), web.charter)
        if thread is None:
            raise HTTPException(404, "not found")
        page = {**page, "reply_next": target}
        return await refused(request, "threads/reply.html", thread, error, text, notice_id=notice_id, **page)

    # ------------------------------------------------------------------------------------------ guardians

    @guardian_only(web)
    async def portal_reply(request: Request, actor: Actor) -> Response:
        notice_id = request.path_params["notice_id"]
        back: dict[str, Any] = {"back_url": f"/portal/notices/{notice_id}"}
        own = f"/portal/notices/{notice_id}/reply"
        if await own_notice(actor.id, notice_id) is None:  # not theirs, or barred since the message went out
            raise HTTPException(404, "not found")
        if request.method == "POST":
            form = await web.form(request)
            return await guardian_post(request, form, notice_id, actor, default_next=own, **back)
        thread = await threads.thread_view(notice_id, actor, now(), web.charter)
        if thread is None:
            raise HTTPException(404, "not found")
        return await web.render(request, "threads/reply.html", thread=thread, notice_id=notice_id, **back)

    async def link_reply(request: Request) -> Response:
        """The personal link's conversation: whoever holds the notice's secret is its guardian."""
        token = request.path_params["token"]
        notice = await notice_by_token(token)  # not erased, not barred since the message went out
        if notice is None:
            return await web.render(request, "notice.html", status=404, page=None)
        viewer = threads.Reader(ActorKind.GUARDIAN, notice.guardian_id)
        own = f"/n/{token}/reply"
        page: dict[str, Any] = {"back_url": f"/n/{token}", "reply_action": own}
        if request.method == "POST":
            form = await web.form(request)
            await notice_page.confirm_read(token, now())  # an action on the link: a person is there
            return await guardian_post(request, form, notice.id, viewer, default_next=own, **page)
        thread = await threads.thread_view(notice.id, viewer, now(), web.charter)
        if thread is None:
            raise HTTPException(404, "not found")
        return await web.render(request, "threads/reply.html", thread=thread, notice_id=notice.id, **page)

    # ---------------------------------------------------------------------------------------------- staff

    @staff_only(web)
    async def staff_inbox(request: Request, actor: Actor) -> Response:
        return await web.render(request, "threads/inbox.html", entries=await threads.inbox(actor))

    @staff_only(web)
    async def staff_thread(request: Request, actor: Actor) -> Response:
        notice_id = request.path_params["notice_id"]
        if request.method == "POST":
            return await staff_answer(request, actor, notice_id)
        thread = await threads.thread_view(notice_id, actor, now(), web.charter)
        if thread is None:
            raise HTTPException(404, "not found")
        await threads.mark_read(notice_id, actor, now())  # after reading: the page still shows what was new
        return await web.render(request, "threads/staff_thread.html", thread=thread, notice_id=notice_id)

    async def staff_answer(request: Request, actor: Actor, notice_id: int) -> Response:
        form = await web.form(request)
        text = str(form.get("body", ""))
        if await web.throttled(request, "thread-post", limit=POST_LIMIT, minutes=60, key=f"staff-{actor.id}"):
            error = "throttled"
        else:
            try:
                post = await threads.post_as_staff(notice_id, actor, text, now())
            except ReplyError as exc:
                if exc.code == "unknown_notice":
                    raise HTTPException(404, "not found") from exc
                error = exc.code
            else:
                await tell_family(post.id)
                return RedirectResponse(_posted(f"/staff/inbox/{notice_id}"), status_code=303)
        thread = await threads.thread_view(notice_id, actor, now(), web.charter)
        if thread is None:
            raise HTTPException(404, "not found")
        return await refused(request, "threads/staff_thread.html", thread, error, text, notice_id=notice_id)

    async def tell_family(post_id: int) -> None:
        """Email the family that the school answered, when email is configured and the charter allows it now."""
        email = web.adapters.get(Channel.EMAIL)
        if email is not None:
            await threads.notify_family(post_id, now(), web.charter, email.send, base_url=web.settings.base_url)

    return [
        Route("/portal/notices/{notice_id:int}/reply", portal_reply, methods=["GET", "POST"]),
        Route("/n/{token}/reply", link_reply, methods=["GET", "POST"]),
        Route("/staff/inbox", staff_inbox),
        Route("/staff/inbox/{notice_id:int}", staff_thread, methods=["GET", "POST"]),
    ]
