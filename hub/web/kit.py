"""What every page module of the web app shares: templates and their translations, who is signed in, CSRF,
throttling, and the error pages.

A page module exposes ``routes(web: Web) -> list[BaseRoute]``; :func:`hub.web.create_app` mounts them all. A
handler reads the signed-in person with ``await web.actor(request)`` or is wrapped by :func:`staff_only` /
:func:`guardian_only`, parses a POSTed form with ``await web.form(request)`` (which checks the CSRF token and
raises 403 otherwise) and answers with ``await web.render(request, "dir/page.html", **values)``.

Translations: templates call ``_`` with the English text and ``ngettext``; the words come from every catalogue
``hub/locale/<lang>/LC_MESSAGES/*.po`` merged (one ``.po`` per page module, e.g. ``portal.po``, so modules do not
edit one file), compiled in memory. English needs no catalogue (msgids are English). The language is, in order:
``?lang=`` (then kept in a cookie), that cookie, the signed-in person's language, the browser's
``Accept-Language``, French.

CSRF: a signed-in form carries the session's ``csrf_token``; an anonymous form (sign-in) carries the value of the
``carnet_csrf`` cookie (double submit), which :meth:`Web.render` sets when missing. The JSON API sends the token in
the ``X-CSRF-Token`` header. Cookies are HttpOnly (but the CSRF one), SameSite=Lax, and Secure when the public
address is https.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import io
import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from channels.base import ChannelAdapter
from charter import Charter
from hub import clock, typography
from hub.config import TEMPLATES, Settings
from hub.dates import long_date
from hub.enums import ActorKind, Channel, StaffRole
from hub.messaging.models import Attachment
from hub.people import security
from hub.people.labels import group_label
from hub.people.models import Guardian, Pupil, School, Staff, StaffRoleGrant, WebSession
from hub.web.guard import parse_ids
from hub.web.translated import TranslatedEnvironment

SESSION_COOKIE = "carnet_session"
CSRF_COOKIE = "carnet_csrf"
LANG_COOKIE = "carnet_lang"
LANGUAGES = ("fr", "nl", "en")
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
_BABEL_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "en": "en_GB"}


def now() -> dt.datetime:
    return clock.now()


@dataclass(frozen=True)
class Actor:
    """The signed-in person of a request."""

    kind: ActorKind
    id: int
    name: str
    language: str
    school_id: int
    session_id: int
    csrf_token: str
    roles: frozenset[StaffRole] = field(default_factory=frozenset)

    @property
    def is_staff(self) -> bool:
        return self.kind == ActorKind.STAFF

    @property
    def is_guardian(self) -> bool:
        return self.kind == ActorKind.GUARDIAN

    @property
    def is_pupil(self) -> bool:
        return self.kind == ActorKind.PUPIL

    def has_role(self, *roles: StaffRole) -> bool:
        return self.is_staff and bool(self.roles.intersection(roles))


@cache
def page_translations(lang: str) -> Translations:
    """Every catalogue of ``lang`` merged, compiled in memory (English: the msgids themselves)."""
    merged: Translations | None = None
    directory = LOCALE_DIR / lang / "LC_MESSAGES"
    for path in sorted(directory.glob("*.po")) if lang != "en" else ():
        with path.open("rb") as po:
            catalog = read_po(po, locale=_BABEL_LOCALES[lang])
        for message in catalog:  # the language's typography, by the one helper (French: U+202F before ":")
            if message.id and message.string:
                forms = message.string
                message.string = (
                    typography.fix(forms, lang)
                    if isinstance(forms, str)
                    else tuple(typography.fix(form, lang) for form in forms)
                )
        buffer = io.BytesIO()
        write_mo(buffer, catalog, use_fuzzy=False)  # the language's plural rule goes in the header
        buffer.seek(0)
        translations = Translations(buffer, domain=path.stem)
        if merged is None:
            merged = translations  # the base keeps the language's plural rule (French: n > 1)
        else:
            merged.merge(translations)
    return merged or Translations()


class Web:
    """The app's shared state and helpers, handed to every page module."""

    def __init__(self, settings: Settings, charter: Charter) -> None:
        self.settings = settings
        self.charter = charter
        #: The channel adapters this process sends with (sign-in links, verification codes); set by the lifespan.
        self.adapters: dict[Channel, ChannelAdapter] = {}
        self.demo = False
        #: The demo only: what the page header shows of the demo's clock (``hub.demo.guide.clock_view``).
        self.demo_header: Callable[[], Awaitable[Any]] | None = None
        #: What every page shows a signed-in member of staff above its content (an access recovery's banner,
        #: ``hub.web.admin``): set by the page module that owns it.
        self.staff_notices: Callable[[Actor], Awaitable[list[Any]]] | None = None
        self.secure_cookies = urlsplit(settings.base_url).scheme == "https"
        self._envs: dict[str, Environment] = {}
        self._sync_envs: dict[str, Environment] = {}
        #: Templates whose values are all read before rendering, rendered by :meth:`sync_env` (the page modules say
        #: which of theirs).
        self.sync_templates: set[str] = set()

    # ------------------------------------------------------------------------------------------ templates

    def env(self, lang: str) -> Environment:
        if lang not in self._envs:
            env = TranslatedEnvironment(
                loader=FileSystemLoader(TEMPLATES / "pages"),
                autoescape=select_autoescape(),
                enable_async=True,
                extensions=["jinja2.ext.i18n"],
                trim_blocks=True,
                lstrip_blocks=True,
            )
            env.install_gettext_translations(page_translations(lang), newstyle=True)  # type: ignore[attr-defined]
            env.fold_gettext = page_translations(lang).gettext  # the fixed texts, translated at compile time
            env.globals["LANGUAGES"] = LANGUAGE_NAMES
            env.filters["long_date"] = functools.partial(_long_date, lang=lang, tz=self.settings.timezone)
            env.filters["date_time"] = functools.partial(_date_time, lang=lang, tz=self.settings.timezone)
            env.filters["group_label"] = lambda group: group_label(str(group.kind), group.code, group.name)
            env.filters["typo"] = functools.partial(_typo, lang=lang)
            env.filters["punct"] = functools.partial(typography.mark, lang=lang)
            self._envs[lang] = env
        return self._envs[lang]

    def sync_env(self, lang: str) -> Environment:
        """The same templates rendered synchronously: for a page whose values are all read before rendering (no
        awaitable in them), Jinja's async mode costs a check on every expression (the portal's inbox)."""
        if lang not in self._sync_envs:
            self._sync_envs[lang] = self.env(lang).overlay(enable_async=False)
        return self._sync_envs[lang]

    def language(self, request: Request, actor: Actor | None = None) -> str:
        asked = request.query_params.get("lang", "")
        if asked in LANGUAGES:
            return asked
        cookie = request.cookies.get(LANG_COOKIE, "")
        if cookie in LANGUAGES:
            return cookie
        if actor and actor.language in LANGUAGES:
            return actor.language
        for part in request.headers.get("accept-language", "").split(","):
            code = part.split(";")[0].strip()[:2].lower()
            if code in LANGUAGES:
                return code
        return "fr"

    def gettext(self, lang: str) -> Callable[[str], str]:
        return page_translations(lang).gettext

    async def render(self, request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
        """The page ``template`` with ``values`` (synchronously for the templates of :attr:`sync_templates`)."""
        actor = await self.actor(request)
        lang = self.language(request, actor)
        csrf = actor.csrf_token if actor else request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        context = dict(
            request=request,
            actor=actor,
            lang=lang,
            csrf_token=csrf,
            demo=self.demo,
            demo_clock=await self.demo_header() if self.demo and self.demo_header else None,
            school_name=await self.current_school_name(request),
            staff_notices=await self.staff_notices(actor) if self.staff_notices and actor and actor.is_staff else [],
            **values,
        )
        if template in self.sync_templates:
            page = self.sync_env(lang).get_template(template).render(context)
        else:
            page = await self.env(lang).get_template(template).render_async(context)
        response = HTMLResponse(page, status_code=status)
        if not actor and request.cookies.get(CSRF_COOKIE) != csrf:
            self.set_cookie(response, CSRF_COOKIE, csrf, http_only=False, max_age=12 * 3600)
        if request.query_params.get("lang") in LANGUAGES:
            self.set_cookie(response, LANG_COOKIE, lang, http_only=False, max_age=365 * 24 * 3600)
        return response

    async def current_school_name(self, request: Request | None = None) -> str:
        """The school's name of the page header: read with the session when the request has one (no statement of
        its own, and never stale: it is read on every request), else on its own."""
        if request is not None and "school_name" in request.scope.get("state", {}):
            return str(request.state.school_name)
        # A flat values list is a list of values (Tortoise's stubs type it as a list of tuples).
        names = cast(list[str], await School.all().order_by("id").limit(1).values_list("name", flat=True))
        return names[0] if names else ""

    def set_cookie(
        self, response: Response, name: str, value: str, *, http_only: bool = True, max_age: int | None = None
    ) -> None:
        response.set_cookie(
            name, value, max_age=max_age, httponly=http_only, secure=self.secure_cookies, samesite="lax", path="/"
        )

    # ------------------------------------------------------------------------------------------- identity

    async def actor(self, request: Request) -> Actor | None:
        """The signed-in person of this request (looked up once per request), or None."""
        if "actor" in request.scope.get("state", {}):
            return request.state.actor
        session, school_name = await security.find_session_and_school(request.cookies.get(SESSION_COOKIE, ""), now())
        actor = await _actor_of(session) if session else None
        request.state.actor = actor
        if school_name is not None:
            request.state.school_name = school_name
        return actor

    async def sign_in(
        self, request: Request, response: Response, kind: ActorKind, actor_id: int
    ) -> security.NewSession:
        """Start a session for this person and set its cookie on ``response`` (after a checked sign-in)."""
        old = request.cookies.get(SESSION_COOKIE)
        if old:  # never reuse a session id across a sign-in (session fixation)
            await security.end_session(old, now())
        new = await security.start_session(kind, actor_id, now(), user_agent=request.headers.get("user-agent", ""))
        max_age = int(security.SESSION_LIFETIME[kind].total_seconds())
        self.set_cookie(response, SESSION_COOKIE, new.token, max_age=max_age)
        request.state.actor = await _actor_of(new.session)  # the rest of this request is by the new person
        return new

    async def sign_out(self, request: Request, response: Response) -> None:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            await security.end_session(token, now())
        response.delete_cookie(SESSION_COOKIE, path="/")

    # ------------------------------------------------------------------------------------------------ forms

    async def form(self, request: Request) -> FormData:
        """The POSTed form, after checking its CSRF token (403 otherwise) and that it comes from this site."""
        form = await request.form()
        await self.check_csrf(request, str(form.get("csrf_token", "")))
        return form

    async def check_csrf(self, request: Request, token: str) -> None:
        origin = request.headers.get("origin")
        if origin and origin != "null" and not self._same_origin(origin, request):
            raise HTTPException(403, "cross-site request refused")
        actor = await self.actor(request)
        expected = actor.csrf_token if actor else request.cookies.get(CSRF_COOKIE, "")
        if not expected or not token or not hmac.compare_digest(expected, token):
            raise HTTPException(403, "the form has expired: reload the page and try again")

    def _same_origin(self, origin: str, request: Request) -> bool:
        own = {self.settings.base_url.rstrip("/"), f"{request.url.scheme}://{request.url.netloc}"}
        return origin.rstrip("/") in own

    def client_ip(self, request: Request) -> str:
        return request.client.host if request.client else "unknown"

    async def too_many_failures(self, request: Request, what: str, *, limit: int, minutes: int, key: str = "") -> bool:
        """True when this client went past ``limit`` failures in the window, or the account ``key`` did and this
        client is one that failed on it: the password is not even checked. A client that has not been guessing
        at this account keeps signing in (:func:`hub.people.security.sign_in_refused` explains the choice)."""
        return await security.sign_in_refused(
            what,
            address=self.client_ip(request),
            account=key,
            limit=limit,
            window=dt.timedelta(minutes=minutes),
            now=now(),
        )

    async def count_failure(self, request: Request, what: str, *, minutes: int, key: str = "") -> None:
        """Count one failure of this client (at the account ``key``, when given)."""
        await security.count_failed_sign_in(
            what, address=self.client_ip(request), account=key, window=dt.timedelta(minutes=minutes), now=now()
        )

    async def throttled(self, request: Request, what: str, *, limit: int, minutes: int, key: str = "") -> bool:
        """True when this client (and ``key``, e.g. the email tried) went past ``limit`` attempts."""
        window = dt.timedelta(minutes=minutes)
        ok = await security.throttle(f"{what}:ip:{self.client_ip(request)}", limit=limit, window=window, now=now())
        if key:
            ok = await security.throttle(f"{what}:key:{key.lower()}", limit=limit, window=window, now=now()) and ok
        return not ok


async def _actor_of(session: WebSession) -> Actor | None:
    if session.actor_kind == ActorKind.STAFF:
        staff = await Staff.filter(id=session.staff_id, active=True).first()
        if staff is None:
            return None
        roles = cast(list[str], await StaffRoleGrant.filter(staff_id=staff.id).values_list("role", flat=True))
        return Actor(
            kind=ActorKind.STAFF,
            id=staff.id,
            name=f"{staff.first_name} {staff.last_name}",
            language=str(staff.language),
            school_id=staff.school_id,
            session_id=session.id,
            csrf_token=session.csrf_token,
            roles=frozenset(StaffRole(r) for r in roles),
        )
    if session.actor_kind == ActorKind.PUPIL:
        pupil = await Pupil.filter(id=session.pupil_id, active=True).first()
        if pupil is None:
            return None
        return Actor(
            kind=ActorKind.PUPIL,
            id=pupil.id,
            name=f"{pupil.first_name} {pupil.last_name}",
            language="fr",
            school_id=pupil.school_id,
            session_id=session.id,
            csrf_token=session.csrf_token,
        )
    if session.actor_kind != ActorKind.GUARDIAN:
        return None
    loaded = session.guardian  # read with the session by ``security.find_session`` (else a query to run)
    if isinstance(loaded, Guardian):
        guardian: Guardian | None = loaded if loaded.erased_at is None else None
    else:
        guardian = await Guardian.filter(id=session.guardian_id, erased_at__isnull=True).first()
    if guardian is None:
        return None
    return Actor(
        kind=ActorKind.GUARDIAN,
        id=guardian.id,
        name=f"{guardian.first_name} {guardian.last_name}",
        language=str(guardian.language),
        school_id=guardian.school_id,
        session_id=session.id,
        csrf_token=session.csrf_token,
    )


def _local(value: dt.datetime | dt.date, tz: str) -> dt.datetime | dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(ZoneInfo(tz)) if value.tzinfo else value
    return value


def _typo(value: object, *, lang: str) -> str:
    """``|typo``: the page language's typography of a phrase with names in it ("le portail d’Anne-Sophie"); markup
    stays markup (its character references are left alone)."""
    text = typography.fix(str(value), lang)
    return Markup(text) if isinstance(value, Markup) else text


def _long_date(value: dt.datetime | dt.date | None, *, lang: str, tz: str) -> str:
    """``lundi 30 novembre 2026`` of a date, or of a datetime in the school's time zone."""
    if not value:
        return ""
    local = _local(value, tz)
    day = local.date() if isinstance(local, dt.datetime) else local
    return long_date(day, lang, weekday=True)


def _date_time(value: dt.datetime | None, *, lang: str, tz: str) -> str:
    """``lundi 30 novembre 2026, 14:05`` in the school's time zone."""
    if not value:
        return ""
    local = _local(value, tz)
    assert isinstance(local, dt.datetime)
    return f"{long_date(local.date(), lang, weekday=True)}, {local:%H:%M}"


Handler = Callable[..., Awaitable[Response]]


def _login_redirect(request: Request, path: str) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{path}?next={quote(target)}", status_code=303)


def staff_only(web: Web, *roles: StaffRole) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap ``handler(request, actor)``: staff only (any role when none is named), else sign-in or 403."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def page(request: Request) -> Response:
            actor = await web.actor(request)
            if actor is None or not actor.is_staff:
                return _login_redirect(request, "/login")
            if roles and not actor.has_role(*roles):
                raise HTTPException(403, "your role does not give access to this page")
            return await handler(request, actor)

        return page

    return wrap


def guardian_only(web: Web) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap ``handler(request, actor)``: a signed-in guardian only, else the guardian sign-in page."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def page(request: Request) -> Response:
            actor = await web.actor(request)
            if actor is None or not actor.is_guardian:
                return _login_redirect(request, "/signin")
            return await handler(request, actor)

        return page

    return wrap


def pupil_only(web: Web) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Wrap ``handler(request, actor)``: a signed-in pupil only, else the pupils' sign-in page."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def page(request: Request) -> Response:
            actor = await web.actor(request)
            if actor is None or not actor.is_pupil:
                return _login_redirect(request, "/pupil/signin")
            return await handler(request, actor)

        return page

    return wrap


def safe_next(value: str | None, default: str) -> str:
    """A redirect target from a ``next`` parameter: a path on this site only (no ``//host`` or scheme)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    return value


def ids(values: Iterable[str]) -> list[int]:
    """Integers from form values, ignoring anything else (a forged form gets nothing it did not name)."""
    return parse_ids(values)


def attachment_download(attachment: Attachment) -> Response:
    """A message's attached file, to save (never rendered inline: it comes from a sender, not from Carnet)."""
    name = attachment.filename.replace('"', "").replace("\r", "").replace("\n", "") or "file"
    return Response(
        bytes(attachment.data),
        media_type=attachment.content_type or "application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
