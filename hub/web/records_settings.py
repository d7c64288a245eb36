"""The school's records settings on a staff page.

* ``/staff/settings/records``: the pupil-first window (hours before families see a grade or report card), the
  weekly grade notices on or off, the absence threshold, the day of the journal's weekly digest (the principal
  reads, an administrator changes; rules in :mod:`hub.people.records_settings`, audited). Bad input is refused
  whole with a 400 and nothing saved.
"""

from __future__ import annotations

from babel.dates import get_day_names
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from hub.enums import StaffRole
from hub.people import records_settings as rules
from hub.people.settings_admin import SettingsError
from hub.web.kit import Actor, Web, now, staff_only

#: The principal reads the records settings, an administrator changes them.
RECORDS_SETTINGS_ROLES = (StaffRole.PRINCIPAL, StaffRole.ADMIN)
_FIELDS = ("family_records_delay_hours", "grade_notices", "absence_threshold_half_days", "journal_digest_weekday")


def _weekday_names(lang: str) -> list[str]:
    """Monday first, as the setting counts, in the page's language."""
    names = get_day_names("wide", locale=lang)
    return [str(names[i]) for i in range(7)]


def routes(web: Web) -> list[BaseRoute]:
    async def page(request: Request, actor: Actor, *, status: int = 200, error: str = "") -> Response:
        return await web.render(
            request,
            "office/records_settings.html",
            status=status,
            values=await rules.records_settings(actor.school_id),
            error=error,
            delay_bounds=(rules.MIN_DELAY_HOURS, rules.MAX_DELAY_HOURS),
            threshold_bounds=(rules.MIN_THRESHOLD, rules.MAX_THRESHOLD),
            weekdays=_weekday_names(web.language(request)),
            may_change=actor.has_role(StaffRole.ADMIN),
            done=request.query_params.get("done", ""),
        )

    @staff_only(web, *RECORDS_SETTINGS_ROLES)
    async def records_settings(request: Request, actor: Actor) -> Response:
        if request.method == "GET":
            return await page(request, actor)
        form = await web.form(request)
        if not actor.has_role(StaffRole.ADMIN):
            raise HTTPException(403, "only an administrator changes the school's settings")
        raw = {key: str(form.get(key, "")) for key in _FIELDS}
        if "journal_digest_weekday" not in form:  # a form of before the setting: the day stays as it is
            raw["journal_digest_weekday"] = str((await rules.records_settings(actor.school_id)).journal_digest_weekday)
        try:
            wanted = rules.checked_records_settings(raw)
        except SettingsError as exc:
            return await page(request, actor, status=400, error=exc.field)
        await rules.update_records_settings(actor.school_id, wanted, by=actor.id, at=now())
        return RedirectResponse("/staff/settings/records?done=1", status_code=303)

    return [Route("/staff/settings/records", records_settings, methods=["GET", "POST"])]
