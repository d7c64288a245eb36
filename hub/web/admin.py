"""The pages of a real school's setting up: staff sign-in by a one-time link, the staff import, and the banner of
an access recovery.

* ``/login/link`` sends a member of staff a sign-in link by email (the same answer whether the address is known
  or not, throttled as the guardians' links); ``/staff/s/<token>`` shows a button that uses it (a POST, so a mail
  scanner fetching the link does not burn it). The first administrators' links (``carnet school init``) and a
  recovery's (``carnet admin recover``) open here too.
* ``/staff/admin/staff-import`` (administrators): the staff file, as ``carnet import-staff`` takes it, every error
  by line and column, nothing stored on error.
* Every page shows an administrator the access recoveries they have not seen (:data:`Web.staff_notices`);
  ``/staff/admin/recoveries/seen`` records that they saw them.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from channels.base import Rendered
from hub.enums import ActorKind, Channel, StaffRole
from hub.people import school_setup
from hub.people.roster import RosterError, RosterIssue
from hub.people.staff_import import import_staff_text, issue_text
from hub.store.audit import audit
from hub.web.kit import Actor, Web, ids, now, safe_next, staff_only

log = logging.getLogger(__name__)

#: Failed link openings per client address in a quarter of an hour (as the guardians' links).
OPEN_LIMIT = 10
#: Link requests per client address (and per address asked for) in an hour.
LINK_LIMIT = 5
#: The largest staff file the page takes (a school of 300 staff is 30 kB).
MAX_STAFF_FILE = 2 * 1024 * 1024


async def send_staff_link(web: Web, email: str) -> bool:
    """Email a sign-in link to the active member of staff with this address; whether one was sent."""
    member = await school_setup.staff_for_link(email)
    adapter = web.adapters.get(Channel.EMAIL)
    if member is None or adapter is None:
        return False
    token = await school_setup.create_staff_link(member.id, now(), "sign_in")
    url = school_setup.link_url(web.settings.base_url, token)
    _ = web.gettext(str(member.language))
    rendered = Rendered(
        language=str(member.language),
        subject=_("Your link to sign in to Carnet"),
        text=_("Open this link to sign in (valid 15 minutes, once): %(url)s") % {"url": url},
        link=url,
        idempotency_key=f"staff-signin-{token[:16]}",
    )
    outcome = await adapter.send(member.email, rendered)
    if outcome.error:
        log.warning("sign-in link to staff %s failed: %s", member.id, outcome.error)
        return False
    await audit("staff.link_sent", at=now(), subject_type="staff", subject_id=member.id)
    return True


def routes(web: Web) -> list[BaseRoute]:
    admins = staff_only(web, StaffRole.ADMIN)
    staff = staff_only(web)

    async def notices(actor: Actor) -> list[Any]:
        if not actor.has_role(StaffRole.ADMIN):
            return []
        return list(await school_setup.unseen_recoveries(actor.id))

    web.staff_notices = notices

    async def request_link(request: Request) -> Response:
        form = await web.form(request)
        email = str(form.get("email", "")).strip()[:254]
        if not email:
            return await web.render(request, "admin/link_sent.html", status=400, error="empty")
        if await web.throttled(request, "staff-link", limit=LINK_LIMIT, minutes=60, key=email):
            return await web.render(request, "admin/link_sent.html", status=429, error="throttled")
        await send_staff_link(web, email)
        return await web.render(request, "admin/link_sent.html", address=email)

    async def open_link(request: Request) -> Response:
        token = str(request.path_params["token"])
        if request.method == "GET":
            link = await school_setup.peek_staff_link(token, now())
            return await web.render(
                request, "admin/open_link.html", status=200 if link else 410, token=token, link=link
            )
        await web.form(request)
        if await web.too_many_failures(request, "staff-open-link", limit=OPEN_LIMIT, minutes=15):
            return await web.render(request, "admin/open_link.html", status=429, token=token, throttled=True)
        link = await school_setup.consume_staff_link(token, now())
        if link is None:
            await web.count_failure(request, "staff-open-link", minutes=15)
            return await web.render(request, "admin/open_link.html", status=410, token=token, link=None)
        response = RedirectResponse("/staff", status_code=303)
        await web.sign_in(request, response, ActorKind.STAFF, link.staff_id)
        await audit("staff.login", at=now(), actor_kind=ActorKind.STAFF, actor_id=link.staff_id, by=link.purpose)
        return response

    @staff
    async def recoveries_seen(request: Request, actor: Actor) -> Response:
        form = await web.form(request)
        if actor.has_role(StaffRole.ADMIN):
            await school_setup.mark_recoveries_seen(actor.id, ids(str(v) for v in form.getlist("entry")), now=now())
        return RedirectResponse(safe_next(str(form.get("next", "")), "/staff"), status_code=303)

    @admins
    async def staff_import(request: Request, actor: Actor) -> Response:
        if request.method == "GET":
            return await web.render(request, "admin/staff_import.html")
        form = await web.form(request)
        upload = form.get("file")
        _ = web.gettext(web.language(request, actor))
        errors: list[RosterIssue] = []
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors = [RosterIssue(1, "", _("choose the staff file (CSV) to import"))]
        else:
            data = await upload.read(MAX_STAFF_FILE + 1)
            if len(data) > MAX_STAFF_FILE:
                limit = MAX_STAFF_FILE // (1024 * 1024)
                errors = [RosterIssue(1, "", _("the file is larger than %(size)s MB") % {"size": limit})]
            else:
                try:
                    text = data.decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    line = data[: exc.start].count(b"\n") + 1
                    errors = [
                        RosterIssue(line, "", _('the file is not UTF-8 text (save it from Excel as "CSV UTF-8")'))
                    ]
                else:
                    try:
                        report = await import_staff_text(
                            text,
                            file_name=upload.filename[:200],
                            dry_run=form.get("dry_run") == "1",
                            now=now(),
                            by=actor.id,
                        )
                    except RosterError as exc:  # each problem in the page's language (admin.po)
                        errors = [RosterIssue(e.line, e.column, issue_text(e, _)) for e in exc.errors]
                    else:
                        return await web.render(request, "admin/staff_import.html", report=report)
        return await web.render(request, "admin/staff_import.html", status=400, errors=errors)

    return [
        Route("/login/link", request_link, methods=["POST"]),
        Route("/staff/s/{token}", open_link, methods=["GET", "POST"]),
        Route("/staff/admin/recoveries/seen", recoveries_seen, methods=["POST"]),
        Route("/staff/admin/staff-import", staff_import, methods=["GET", "POST"]),
    ]
