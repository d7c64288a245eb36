"""The guardian's own account on the portal: how I am reached, the welcome letter's onboarding, my password.

* ``/portal/channels``: my contacts and their state, adding an email or phone (verified by a code sent through
  the real channel), linking Telegram, web push in this browser, the order of my channels, my quiet hours and my
  consents with their history.
* ``/portal/onboarding``: where the welcome letter's QR code lands (a sign-in link with purpose ONBOARDING):
  confirm or correct my contacts, choose channels and consents, done.
* ``/portal/password``: set or change a password; my other browsers are signed out.
* ``/portal/push/subscribe`` and ``/unsubscribe``: JSON from ``push.js`` (CSRF token in ``X-CSRF-Token``).
* ``/sw.js``: the service worker, served from the root so its scope covers ``/portal`` and the personal links.

The rules are in :mod:`hub.people.account`; these handlers parse, call and answer. A contact id of another family gives
404, like an unknown one.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channels.base import Rendered
from channels.registry import channel_settings
from channels.telegram import make_link_code
from channels.webpush import WebPushAdapter
from charter.document import Block, parse_body
from hub.config import TEMPLATES
from hub.enums import Channel, ConsentPurpose, ContactKind
from hub.people import account
from hub.people.models import Contact, Guardian
from hub.web.guard import json_depth, loads_bounded, parse_id
from hub.web.kit import Actor, Web, guardian_only, now, safe_next

log = logging.getLogger(__name__)

#: Codes sent per guardian (and per client address) in an hour: enough for a typo or two, not for spamming a
#: stranger's phone with codes from someone's account.
CODE_SEND_LIMIT = 5
#: Code tries per client address in a quarter of an hour, over all codes (each code allows five on its own).
CODE_TRY_LIMIT = 20
#: The largest PushSubscription JSON accepted (a real one is about 400 bytes).
MAX_SUBSCRIPTION_BYTES = 4096
#: A PushSubscription nests two levels ({"keys": {...}}): deeper JSON is refused before it is parsed.
MAX_SUBSCRIPTION_DEPTH = 8
_CHANNEL_OF_KIND = {ContactKind.EMAIL: Channel.EMAIL, ContactKind.PHONE: Channel.SMS}
_CHARTER_CONSENT_WORDS = ("consent", "toestemming", "einwilligung")


def routes(web: Web) -> list[BaseRoute]:
    guardian = guardian_only(web)

    async def the_guardian(actor: Actor) -> Guardian:
        found = await Guardian.get_or_none(id=actor.id, erased_at__isnull=True)
        if found is None:
            raise HTTPException(404, "not found")
        return found

    async def own_contact(actor: Actor, request: Request) -> Contact:
        try:
            return await account.contact_of(actor.id, request.path_params["contact_id"])
        except account.NotFound:
            raise HTTPException(404, "not found") from None

    # --------------------------------------------------------------------------------------- the two pages

    async def page_values(actor: Actor, request: Request) -> dict[str, Any]:
        me = await the_guardian(actor)
        document = web.charter.document_in(web.language(request, actor))  # the charter in the reader's language
        offered = set(channel_settings(web.settings))
        return {
            "me": me,
            "contacts": await account.contacts_of(actor.id),
            "choices": await account.channel_choices(actor.id),
            "consents": await account.consent_states(actor.id),
            "telegram": Channel.TELEGRAM in offered,
            "offered": offered,
            "push_key": _push_key(web),
            "can_add": sorted(str(k) for k, c in _CHANNEL_OF_KIND.items() if c in web.adapters),
            "charter_words": charter_consent_words(web, document.language),
            "charter_language": document.language,
        }

    @guardian
    async def channels_page(request: Request, actor: Actor) -> Response:
        done = request.query_params.get("done", "")
        return await web.render(request, "account/channels.html", done=done, **await page_values(actor, request))

    @guardian
    async def onboarding(request: Request, actor: Actor) -> Response:
        if request.method == "POST":
            form = await web.form(request)
            me = await the_guardian(actor)
            wanted = _purposes(form.getlist("purpose"))
            await account.set_consents(me, wanted, version=web.charter.document.version, now=now())
            current = [choice.channel for choice in await account.channel_choices(actor.id)]
            await account.save_channel_order(actor.id, current, _channels(form.getlist("enabled")), now())
            await account.complete_onboarding(actor.id, now())
            return RedirectResponse("/portal/onboarding?done=onboarded", status_code=303)
        done = request.query_params.get("done", "")
        return await web.render(request, "account/onboarding.html", done=done, **await page_values(actor, request))

    async def channels_error(request: Request, actor: Actor, error: str, status: int = 400, **extra: Any) -> Response:
        """The page the form came from, again, with what went wrong and what was typed."""
        onboarding_form = extra.get("next") == "/portal/onboarding"
        template = "account/onboarding.html" if onboarding_form else "account/channels.html"
        values = await page_values(actor, request)
        return await web.render(request, template, status=status, error=error, **{**values, **extra})

    # ------------------------------------------------------------------------------------------- contacts

    @guardian
    async def add_contact(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        back = safe_next(str(form.get("next", "")), "/portal/channels")
        raw = str(form.get("value", ""))
        try:
            kind = ContactKind(str(form.get("kind", "")))
        except ValueError:
            kind = None
        if kind not in _CHANNEL_OF_KIND:
            return await channels_error(request, actor, "kind", typed=raw, next=back)
        if not raw.strip():
            return await channels_error(request, actor, "empty", typed=raw, typed_kind=str(kind), next=back)
        try:
            account.normalise(kind, raw)  # a typing mistake is said before anything else
            if _CHANNEL_OF_KIND[kind] not in web.adapters:
                raise account.AccountError("channel_off")
            contact = await account.add_contact(actor.id, kind, raw, now())
        except account.AccountError as exc:
            return await channels_error(request, actor, exc.code, typed=raw, typed_kind=str(kind), next=back)
        error = await send_code(request, actor, contact)
        target = f"/portal/contacts/{contact.id}/verify?next={quote(back)}"
        if error:
            target += f"&error={error}"
        return RedirectResponse(target, status_code=303)

    async def send_code(request: Request, actor: Actor, contact: Contact) -> str:
        """Send a new code to ``contact`` through its channel; an error code for the page, or "" when sent."""
        if await web.throttled(request, "verify-send", limit=CODE_SEND_LIMIT, minutes=60, key=f"g{actor.id}"):
            return "throttled"
        adapter = web.adapters.get(_CHANNEL_OF_KIND[ContactKind(contact.kind)])
        if adapter is None:
            return "channel_off"
        code = await account.issue_code(actor.id, contact.id, now())
        _ = web.gettext(actor.language)
        text = _("Your Carnet code is %(code)s. It is valid for 15 minutes. If you did not ask for it, ignore this.")
        rendered = Rendered(
            language=actor.language,
            subject=_("Your code to confirm this address"),
            text=text % {"code": code},
            idempotency_key=f"verify-{contact.id}-{int(now().timestamp())}",
        )
        outcome = await adapter.send(contact.value, rendered)
        if outcome.error:
            log.warning("verification code to contact %s failed: %s", contact.id, outcome.error)
            return "send_failed"
        return ""

    @guardian
    async def verify(request: Request, actor: Actor) -> Response:
        contact = await own_contact(actor, request)
        back = safe_next(request.query_params.get("next"), "/portal/channels")
        if request.method == "GET":
            error = request.query_params.get("error", "")
            return await web.render(request, "account/verify.html", status=200, contact=contact, next=back, error=error)
        form = await web.form(request)
        back = safe_next(str(form.get("next", "")), back)
        if await web.throttled(request, "verify-try", limit=CODE_TRY_LIMIT, minutes=15):
            return await web.render(
                request, "account/verify.html", status=429, contact=contact, next=back, error="throttled"
            )
        outcome = await account.verify_code(actor.id, contact.id, str(form.get("code", "")), now())
        if outcome.ok:
            return RedirectResponse(_with_done(back, "verified"), status_code=303)
        return await web.render(
            request,
            "account/verify.html",
            status=400,
            contact=contact,
            next=back,
            error=outcome.result,
            tries_left=outcome.tries_left,
        )

    @guardian
    async def resend(request: Request, actor: Actor) -> Response:
        contact = await own_contact(actor, request)
        form = await web.form(request)
        back = safe_next(str(form.get("next", "")), "/portal/channels")
        try:
            error = await send_code(request, actor, contact)
        except account.AccountError as exc:
            error = exc.code
        target = f"/portal/contacts/{contact.id}/verify?next={quote(back)}&" + (f"error={error}" if error else "sent=1")
        return RedirectResponse(target, status_code=303)

    @guardian
    async def remove(request: Request, actor: Actor) -> Response:
        contact = await own_contact(actor, request)
        form = await web.form(request)
        await account.remove_contact(actor.id, contact.id, now())
        back = safe_next(str(form.get("next", "")), "/portal/channels")
        return RedirectResponse(_with_done(back, "removed"), status_code=303)

    @guardian
    async def link_telegram(request: Request, actor: Actor) -> Response:
        await web.form(request)
        telegram = channel_settings(web.settings).get(Channel.TELEGRAM)
        if telegram is None:
            raise HTTPException(404, "Telegram is not offered by this school")
        link = telegram.deep_link(make_link_code(actor.id, telegram.link_secret, now()))
        return await web.render(request, "account/telegram.html", link=link)

    # ------------------------------------------------------------------------------- order, quiet, consent

    @guardian
    async def save_order(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        current = [choice.channel for choice in await account.channel_choices(actor.id)]
        typed: dict[Channel, int] = {}
        for channel in current:
            rank = _rank(form.get(f"rank_{channel}"))
            if rank is None:
                raise HTTPException(400, "a channel's rank is a number from 1")
            typed[channel] = rank
        order = sorted(current, key=lambda c: (typed[c], current.index(c)))
        await account.save_channel_order(actor.id, order, _channels(form.getlist("enabled")), now())
        return RedirectResponse("/portal/channels?done=order#order", status_code=303)

    @guardian
    async def quiet_hours(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        start, end = str(form.get("quiet_from", "")), str(form.get("quiet_until", ""))
        try:
            hours = account.parse_quiet_hours(start, end)
        except account.AccountError as exc:
            return await channels_error(request, actor, exc.code, quiet_typed=(start, end))
        await account.set_quiet_hours(actor.id, hours, now())
        return RedirectResponse("/portal/channels?done=quiet#quiet", status_code=303)

    @guardian
    async def consents(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        me = await the_guardian(actor)
        wanted = _purposes(form.getlist("purpose"))
        await account.set_consents(me, wanted, version=web.charter.document.version, now=now())
        return RedirectResponse("/portal/channels?done=consents#consents", status_code=303)

    # ------------------------------------------------------------------------------------------ web push

    @guardian
    async def push_subscribe(request: Request, actor: Actor) -> Response:
        await web.check_csrf(request, request.headers.get("x-csrf-token", ""))
        if _push_key(web) is None:
            return JSONResponse({"error": "web push is not offered by this school"}, status_code=404)
        body = await request.body()
        if len(body) > MAX_SUBSCRIPTION_BYTES:
            return JSONResponse({"error": "subscription too large"}, status_code=400)
        raw = body.decode("utf-8", errors="replace")
        if json_depth(raw) > MAX_SUBSCRIPTION_DEPTH:  # before the parser recurses (a RecursionError would be a 500)
            return JSONResponse({"error": "subscription nested too deep"}, status_code=400)
        try:
            contact = await account.add_push_subscription(
                await the_guardian(actor),
                raw,
                now(),
                version=web.charter.document.version,
                allow_loopback_http=web.demo or not web.secure_cookies,
            )
        except account.AccountError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"contact_id": contact.id}, status_code=201)

    @guardian
    async def push_unsubscribe(request: Request, actor: Actor) -> Response:
        await web.check_csrf(request, request.headers.get("x-csrf-token", ""))
        try:
            endpoint = loads_bounded(await request.body()).get("endpoint", "")
        except (ValueError, AttributeError):
            return JSONResponse({"error": 'expected {"endpoint": ...}'}, status_code=400)
        if not isinstance(endpoint, str) or not endpoint:
            return JSONResponse({"error": 'expected {"endpoint": ...}'}, status_code=400)
        removed = await account.remove_push_subscription(actor.id, endpoint, now())
        return JSONResponse({"removed": removed})

    async def service_worker(request: Request) -> Response:
        return FileResponse(
            TEMPLATES / "static" / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},  # browsers check for a new worker at every visit
        )

    # ------------------------------------------------------------------------------------------- password

    @guardian
    async def password(request: Request, actor: Actor) -> Response:
        if request.method == "GET":
            return await web.render(request, "account/password.html", done=request.query_params.get("done", ""))
        form = await web.form(request)
        try:
            await account.set_password(
                actor.id,
                str(form.get("password", "")),
                str(form.get("confirm", "")),
                session_id=actor.session_id,
                now=now(),
            )
        except account.AccountError as exc:
            return await web.render(request, "account/password.html", status=400, error=exc.code)
        return RedirectResponse("/portal/password?done=1", status_code=303)

    return [
        Route("/portal/channels", channels_page),
        Route("/portal/onboarding", onboarding, methods=["GET", "POST"]),
        Route("/portal/contacts", add_contact, methods=["POST"]),
        Route("/portal/contacts/{contact_id:int}/verify", verify, methods=["GET", "POST"]),
        Route("/portal/contacts/{contact_id:int}/resend", resend, methods=["POST"]),
        Route("/portal/contacts/{contact_id:int}/remove", remove, methods=["POST"]),
        Route("/portal/telegram", link_telegram, methods=["POST"]),
        Route("/portal/channels/order", save_order, methods=["POST"]),
        Route("/portal/quiet-hours", quiet_hours, methods=["POST"]),
        Route("/portal/consents", consents, methods=["POST"]),
        Route("/portal/push/subscribe", push_subscribe, methods=["POST"]),
        Route("/portal/push/unsubscribe", push_unsubscribe, methods=["POST"]),
        Route("/portal/password", password, methods=["GET", "POST"]),
        Route("/sw.js", service_worker),
    ]


def _push_key(web: Web) -> str | None:
    """The school's VAPID public key browsers subscribe with, None when web push is not configured."""
    adapter = web.adapters.get(Channel.WEBPUSH)
    return adapter.public_key if isinstance(adapter, WebPushAdapter) else None


def charter_consent_words(web: Web, language: str = "") -> list[Block]:
    """The charter's own paragraphs and bullets about consent (blocks of :func:`charter.document.parse_body`):
    the page quotes the school's words rather than paraphrasing them."""
    found: list[Block] = []
    document = web.charter.document_in(language) if language else web.charter.document
    for section in document.sections:
        for block in parse_body(section.body):
            items = [runs for runs in block.items if _mentions_consent(runs)]
            if items:
                found.append(Block(block.kind, tuple(items)))
    return found


def _mentions_consent(runs: tuple[tuple[str, bool], ...]) -> bool:
    text = "".join(part for part, _bold in runs).lower()
    return any(word in text for word in _CHARTER_CONSENT_WORDS)


def _purposes(values: list[Any]) -> set[ConsentPurpose]:
    """The purposes ticked in a form (unknown values are ignored: a forged form gets nothing it did not name)."""
    return {ConsentPurpose(str(v)) for v in values if str(v) in set(account.PURPOSES)}


def _channels(values: list[Any]) -> set[Channel]:
    return {Channel(str(v)) for v in values if str(v) in set(account.ORDERED_CHANNELS)}


def _rank(value: Any) -> int | None:
    """A channel's rank in the order form: 100 (after the others) when not given, None when not a number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 100
    return parse_id(value)


def _with_done(path: str, done: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}done={done}"
