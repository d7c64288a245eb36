"""What a guardian stops, and the email's one-click unsubscribe.

* ``/portal/stops``: under the guardian's account, each topic that may be stopped, by channel or everywhere; the
  page says that absences and emergencies cannot be stopped and what replaces a stopped channel (the portal, or
  paper where nothing else is left). The rules: :mod:`hub.people.optout_rules`, stored by :mod:`hub.people.optouts`.
* ``/u/{notice}/{signature}``: the address of an email's ``List-Unsubscribe`` header (RFC 8058). GET shows what
  the click would stop, with a button; POST, as a mailbox provider sends it (no cookie, no CSRF token: the signed
  address is the proof), stops that notice's topic by email only and says what is kept. An address that is not
  ours answers 404 and stores nothing.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import UNSTOPPABLE_TOPICS, Channel, ConsentPurpose, Topic
from hub.messaging.unsubscribe import one_click, unsubscribe_target
from hub.people.models import Consent
from hub.people.optout_rules import STOPPABLE_TOPICS, Stop
from hub.people.optouts import STOPPABLE_CHANNELS, replace_stops, stops_of
from hub.web.kit import Actor, Web, guardian_only, now

#: The longest signature accepted in an address (ours are 32 hex digits).
_SIGNATURE_MAX = 64
#: At most this many boxes in the form (topics times channels and "everywhere"): more is not our form.
_MAX_BOXES = 64
EVERYWHERE = "all"


def _parse_stops(values: list[str]) -> set[Stop] | None:
    """The form's ``topic:channel`` boxes; None when one names something that may not be stopped."""
    if len(values) > _MAX_BOXES:
        return None
    found: set[Stop] = set()
    for value in values:
        topic_name, _sep, channel_name = value.partition(":")
        try:
            topic = Topic(topic_name)
            channel = None if channel_name == EVERYWHERE else Channel(channel_name)
        except ValueError:
            return None
        if topic in UNSTOPPABLE_TOPICS or (channel is not None and channel not in STOPPABLE_CHANNELS):
            return None
        found.add((topic, channel))
    return found


def routes(web: Web) -> list[BaseRoute]:
    guardian = guardian_only(web)

    def offered_channels() -> list[Channel]:
        return [c for c in STOPPABLE_CHANNELS if c in web.adapters] or [Channel.EMAIL, Channel.SMS]

    async def stops_page(request: Request, actor: Actor, *, status: int = 200, **extra: object) -> Response:
        current = (await stops_of([actor.id])).get(actor.id, frozenset())
        has_portal = await Consent.filter(
            guardian_id=actor.id, purpose=ConsentPurpose.SCHOOL_MESSAGES, withdrawn_at__isnull=True
        ).exists()
        return await web.render(
            request,
            "account/stops.html",
            status=status,
            topics=STOPPABLE_TOPICS,
            kept=sorted(UNSTOPPABLE_TOPICS),
            channels=offered_channels(),
            checked={f"{topic}:{channel or EVERYWHERE}" for topic, channel in current},
            has_portal=has_portal,
            done=request.query_params.get("done", ""),
            **extra,
        )

    @guardian
    async def stops(request: Request, actor: Actor) -> Response:
        if request.method == "GET":
            return await stops_page(request, actor)
        form = await web.form(request)
        wanted = _parse_stops([str(v) for v in form.getlist("stop")])
        if wanted is None:
            return await stops_page(request, actor, status=400, error="invalid")
        await replace_stops(actor.id, wanted, source="portal", at=now())
        return RedirectResponse("/portal/stops?done=saved", status_code=303)

    async def unsubscribe(request: Request) -> Response:
        notice_id: int = request.path_params["notice_id"]
        signature: str = request.path_params["signature"]
        if len(signature) > _SIGNATURE_MAX:
            raise HTTPException(404, "not found")
        if request.method == "POST":
            target = await one_click(notice_id, signature, now())
        else:
            target = await unsubscribe_target(notice_id, signature)
        if target is None:
            raise HTTPException(404, "not found")
        return await web.render(
            request,
            "account/unsubscribe.html",
            topic=target.topic,
            stopped=target.stopped,
            has_portal=target.has_portal,
            kept=sorted(UNSTOPPABLE_TOPICS),
            action=request.url.path,
        )

    return [
        Route("/portal/stops", stops, methods=["GET", "POST"]),
        Route("/u/{notice_id:int}/{signature}", unsubscribe, methods=["GET", "POST"]),
    ]
