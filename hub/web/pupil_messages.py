"""The messages addressed to pupils, on the pupil's own pages: ``/pupil/messages/<id>`` and its attachments
(:mod:`hub.messaging.pupil_messages` decides which messages a pupil may read; the list is on ``/pupil``). A message
another pupil may read, a message for the families only or a guardian's notice is "not found" here.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from hub.messaging import pupil_messages
from hub.people.models import Staff
from hub.web import guard
from hub.web.kit import Actor, Web, attachment_download, now, pupil_only


def _path_id(request: Request, name: str) -> int:
    return guard.parse_id(str(request.path_params[name])) or 0  # beyond a database integer: nothing


def routes(web: Web) -> list[BaseRoute]:
    @pupil_only(web)
    async def message(request: Request, actor: Actor) -> Response:
        found = await pupil_messages.pupil_message(actor.id, _path_id(request, "message_id"), now())
        if found is None:
            raise HTTPException(404, "no such message")
        author = await Staff.get_or_none(id=found.author_id)
        return await web.render(
            request,
            "pupil/message.html",
            message=found,
            sender=f"{author.first_name} {author.last_name}" if author else "",
            sent_at=pupil_messages.shown_at(found),
            attachments=await pupil_messages.attachments_of(found.id),
        )

    @pupil_only(web)
    async def attachment(request: Request, actor: Actor) -> Response:
        found = await pupil_messages.pupil_attachment(actor.id, _path_id(request, "attachment_id"), now())
        if found is None:
            raise HTTPException(404, "no such file")
        return attachment_download(found)

    return [
        Route("/pupil/messages/{message_id:int}", message),
        Route("/pupil/attachments/{attachment_id:int}", attachment),
    ]
