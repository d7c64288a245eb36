"""Signing in and out: staff with a password; guardians with a password or a personal sign-in link.

The sign-in link is asked for with an email address or a phone number and sent there; the answer is the same
whether the address is known or not, so the page does not tell who is a parent at the school. Opening a link shows
a button that uses it (a POST): mail scanners that fetch every link would otherwise burn a single-use link before
the parent clicks it. Failed attempts are counted per client address, per account tried and per both: an address
past the limit, or an address that failed on an account past its limit, has its password not even checked for the
rest of the quarter of an hour; an address that has not been guessing at the account still signs in, so that
guessing at the principal's password cannot lock her out (:func:`hub.people.security.sign_in_refused`). Sign-ins
are audited.
"""

from __future__ import annotations

import logging

import phonenumbers
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channels.base import Rendered
from hub.enums import ActorKind, Channel, ContactKind, LinkPurpose
from hub.people import security
from hub.people.models import Contact, Guardian
from hub.store.audit import audit
from hub.web.kit import Web, now, safe_next

log = logging.getLogger(__name__)

#: Failed sign-ins per client address (and per account, for the addresses failing on it) in a quarter of an hour.
SIGN_IN_LIMIT = 10
#: Personal-link requests per client address (and per address asked for) in an hour.
LINK_LIMIT = 5


def routes(web: Web) -> list[BaseRoute]:
    async def staff_login(request: Request) -> Response:
        if request.method == "GET":
            return await web.render(request, "auth/login.html", next=request.query_params.get("next", ""))
        form = await web.form(request)
        email = str(form.get("email", "")).strip().lower()
        password = str(form.get("password", ""))
        target = safe_next(str(form.get("next", "")), "/staff")
        if await web.too_many_failures(request, "staff-login", limit=SIGN_IN_LIMIT, minutes=15, key=email):
            return await web.render(request, "auth/login.html", status=429, next=target, email=email, error="throttled")
        staff = await security.staff_by_password(email, password)
        if staff is None:
            await web.count_failure(request, "staff-login", minutes=15, key=email)
            await audit("staff.login_failed", at=now())
            return await web.render(request, "auth/login.html", status=401, next=target, email=email, error="wrong")
        response = RedirectResponse(target, status_code=303)
        await web.sign_in(request, response, ActorKind.STAFF, staff.id)
        await audit("staff.login", at=now(), actor_kind=ActorKind.STAFF, actor_id=staff.id)
        return response

    async def logout(request: Request) -> Response:
        await web.form(request)
        response = RedirectResponse("/", status_code=303)
        await web.sign_out(request, response)
        return response

    async def guardian_signin(request: Request) -> Response:
        if request.method == "GET":
            return await web.render(request, "auth/signin.html", next=request.query_params.get("next", ""))
        form = await web.form(request)
        email = str(form.get("email", "")).strip().lower()
        target = safe_next(str(form.get("next", "")), "/portal")
        if await web.too_many_failures(request, "guardian-login", limit=SIGN_IN_LIMIT, minutes=15, key=email):
            return await web.render(request, "auth/signin.html", status=429, email=email, error="throttled")
        guardian = await security.guardians_by_password(email, str(form.get("password", "")))
        if guardian is None:
            await web.count_failure(request, "guardian-login", minutes=15, key=email)
            return await web.render(request, "auth/signin.html", status=401, email=email, error="wrong", next=target)
        response = RedirectResponse(target, status_code=303)
        await web.sign_in(request, response, ActorKind.GUARDIAN, guardian.id)
        await audit("guardian.login", at=now(), actor_kind=ActorKind.GUARDIAN, actor_id=guardian.id, by="password")
        return response

    async def request_link(request: Request) -> Response:
        form = await web.form(request)
        address = str(form.get("address", "")).strip()
        if not address:
            return await web.render(request, "auth/signin.html", status=400, error="empty")
        if await web.throttled(request, "link", limit=LINK_LIMIT, minutes=60, key=address):
            return await web.render(request, "auth/signin.html", status=429, error="throttled")
        await send_sign_in_link(web, address)
        return await web.render(request, "auth/link_sent.html", address=address)

    async def open_link(request: Request) -> Response:
        token = request.path_params["token"]
        if request.method == "GET":
            link = await security.peek_sign_in_link(token, now())
            return await web.render(request, "auth/open_link.html", status=200 if link else 410, token=token, link=link)
        await web.form(request)
        if await web.too_many_failures(request, "open-link", limit=SIGN_IN_LIMIT, minutes=15):
            return await web.render(request, "auth/open_link.html", status=429, token=token, link=None)
        link = await security.consume_sign_in_link(token, now())
        if link is None:
            await web.count_failure(request, "open-link", minutes=15)
            return await web.render(request, "auth/open_link.html", status=410, token=token, link=None)
        target = "/portal/onboarding" if link.purpose == LinkPurpose.ONBOARDING else "/portal"
        response = RedirectResponse(target, status_code=303)
        await web.sign_in(request, response, ActorKind.GUARDIAN, link.guardian_id)
        await audit(
            "guardian.login",
            at=now(),
            actor_kind=ActorKind.GUARDIAN,
            actor_id=link.guardian_id,
            by=str(link.purpose),
        )
        return response

    return [
        Route("/login", staff_login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/signin", guardian_signin, methods=["GET", "POST"]),
        Route("/signin/link", request_link, methods=["POST"]),
        Route("/s/{token}", open_link, methods=["GET", "POST"]),
    ]


async def _contacts_for(address: str) -> list[Contact]:
    """The verified, live contacts matching what a parent typed: an email address or a phone number."""
    if "@" in address:
        kind, value = ContactKind.EMAIL, address.lower()
    else:
        try:
            number = phonenumbers.parse(address, "BE")
        except phonenumbers.NumberParseException:
            return []
        if not phonenumbers.is_valid_number(number):
            return []
        kind, value = ContactKind.PHONE, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return await Contact.filter(
        kind=kind, value=value, verified=True, dead_at__isnull=True, guardian__erased_at__isnull=True
    ).prefetch_related("guardian")


async def send_sign_in_link(web: Web, address: str) -> int:
    """Send a personal sign-in link to every guardian reachable at ``address``; how many were sent.

    One address can belong to two guardians (a shared family email): each gets their own link, since a link
    signs in one person.
    """
    sent = 0
    for contact in await _contacts_for(address):
        guardian: Guardian = contact.guardian
        channel = Channel.EMAIL if contact.kind == ContactKind.EMAIL else Channel.SMS
        adapter = web.adapters.get(channel)
        if adapter is None:
            continue
        token = await security.create_sign_in_link(guardian.id, now())
        url = f"{web.settings.base_url.rstrip('/')}/s/{token}"
        _ = web.gettext(str(guardian.language))
        subject = _("Your link to sign in to Carnet")
        text = _("Open this link to sign in (valid 15 minutes, once): %(url)s") % {"url": url}
        rendered = Rendered(
            language=str(guardian.language),
            subject=subject,
            text=text,
            link=url,
            idempotency_key=f"signin-{token[:16]}",
        )
        outcome = await adapter.send(contact.value, rendered)
        if outcome.error:
            log.warning("sign-in link to guardian %s by %s failed: %s", guardian.id, channel, outcome.error)
            continue
        await audit(
            "guardian.link_sent", at=now(), subject_type="guardian", subject_id=guardian.id, channel=str(channel)
        )
        sent += 1
    return sent
