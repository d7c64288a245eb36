"""The web application (Starlette, server-rendered Jinja2 pages).

This module assembles the app: the public pages (home, charter, a notice's personal link), the providers'
webhooks, and the page modules of ``hub/web/`` (each ``routes(web)``, see :mod:`hub.web.kit`): sign-in, the
staff side (composer, messages, print queue, reports, settings), the guardians' portal, reply threads and the
JSON API.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from channels.registry import build_adapters
from channels.sms import ForgedCallback
from channels.telegram import ForgedButton, InvalidLinkCode
from charter import Charter, default_charter, load_charter, use_charter
from hub import clock
from hub.config import TEMPLATES, Settings
from hub.delivery import dispatch
from hub.demo.guide import clock_view, demo_guide, is_demo_school, jump_to_next_release
from hub.demo.peers import DemoPeers
from hub.demo.school import install_demo_clock
from hub.enums import ActorKind
from hub.messaging import inbound
from hub.people.models import Guardian
from hub.reports.overview import school_overview
from hub.store import db
from hub.web import (
    account,
    admin,
    api,
    audit,
    auth,
    compose,
    consents,
    guard,
    icons,
    office,
    optouts,
    portal,
    privacy,
    pupil,
    pupil_accounts_admin,
    records_absences,
    records_grades,
    records_journal,
    records_settings,
    reports,
    threads,
)
from hub.web.charter_page import CharterPages
from hub.web.kit import Web, safe_next

#: The page modules, in the order their routes are tried.
PAGE_MODULES = (
    auth,
    portal,
    account,
    compose,
    office,
    reports,
    threads,
    admin,
    audit,
    records_absences,
    records_journal,
    records_grades,
    pupil,
    optouts,
    privacy,
    records_settings,
    pupil_accounts_admin,
    consents,
    api,
    icons,
)


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> Starlette:
    return _app(settings or Settings.from_env(), run_migrations=run_migrations)


def _app(settings: Settings, *, run_migrations: bool) -> Starlette:
    """The application over these settings (never None here: the handlers below read them, and the demo's
    lifespan replaces them by the settings of its local providers)."""
    charter: Charter = load_charter(settings.charter_path) if settings.charter_path else default_charter()
    use_charter(charter)  # the rules publish and the worker obey, not only the document shown
    web = Web(settings, charter)

    async def home(request: Request) -> Response:
        if web.demo and await is_demo_school():
            return await demo_page(request)
        overview = await school_overview()
        return await web.render(request, "home.html", overview=overview, charter=charter)

    async def demo_page(request: Request) -> Response:
        return await web.render(request, "demo.html", guide=await demo_guide())

    async def demo_signin(request: Request) -> Response:
        """The demo only: open a demo guardian's portal in one click (never offered outside ``scripts/demo``)."""
        if not (web.demo and await is_demo_school()):
            raise HTTPException(404, "not found")
        await web.form(request)
        guardian_id = request.path_params["guardian_id"]
        if not await Guardian.filter(id=guardian_id, erased_at__isnull=True).exists():
            raise HTTPException(404, "not found")
        response = RedirectResponse("/portal", status_code=303)
        await web.sign_in(request, response, ActorKind.GUARDIAN, guardian_id)
        return response

    charter_pages = CharterPages(web, charter)  # /charter and /charter.pdf in the reader's language
    charter_html, charter_pdf = charter_pages.html, charter_pages.pdf

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return await web.render(
            request, "error.html", status=exc.status_code, status_code=exc.status_code, detail=exc.detail
        )

    async def health(request: Request) -> Response:
        overview = await school_overview()
        return JSONResponse({"status": "ok", "pupils": overview.pupils if overview else 0})

    # ------------------------------------------------------------------------------------- provider webhooks

    async def _twilio_form(request: Request) -> tuple[str, dict[str, str], str] | None:
        """The public URL Twilio signed, the form fields and the signature; None when SMS is not configured."""
        if not settings.twilio_auth_token:
            return None
        form = await request.form()
        params = {key: str(value) for key, value in form.multi_items()}
        url = settings.base_url.rstrip("/") + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        return url, params, request.headers.get("X-Twilio-Signature", "")

    async def twilio_status_hook(request: Request) -> Response:
        got = await _twilio_form(request)
        if got is None:
            return Response(status_code=404)
        url, params, signature = got
        try:
            await inbound.twilio_status(url, params, signature, settings.twilio_auth_token, clock.now())
        except ForgedCallback:
            return Response("forged", status_code=403)
        except ValueError as exc:  # signed, but unreadable: Twilio should not retry it
            return Response(str(exc), status_code=400)
        return Response(status_code=204)

    async def twilio_inbound_hook(request: Request) -> Response:
        got = await _twilio_form(request)
        if got is None:
            return Response(status_code=404)
        url, params, signature = got
        try:
            result = await inbound.twilio_inbound(url, params, signature, settings.twilio_auth_token, clock.now())
        except ForgedCallback:
            return Response("forged", status_code=403)
        return Response(inbound.twiml(result), media_type="application/xml")

    async def telegram_hook(request: Request) -> Response:
        if not inbound.verify_telegram_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token"), settings):
            return Response("forbidden", status_code=403)
        try:
            update = guard.loads_bounded(await request.body())
        except ValueError:  # invalid JSON (UnicodeDecodeError included) or nested too deep
            return Response("not JSON", status_code=400)
        try:
            result = await inbound.telegram_update(update, settings, clock.now())
        except (ForgedButton, InvalidLinkCode, inbound.Refused) as exc:
            # Answered 200 all the same: Telegram would otherwise repeat the update.
            return JSONResponse({"ok": False, "error": str(exc)})
        return JSONResponse(inbound.telegram_webhook_answer(result))

    peers: DemoPeers | None = None
    #: The demo's clock (``scripts/demo`` only): shown in the page header, moved by its "jump" button.
    demo_clock: clock.DemoClock | None = None

    async def outbox(request: Request) -> Response:
        if peers is None:
            return Response(status_code=404)
        guardian = request.query_params.get("guardian", "")
        items = await peers.outbox(guard.parse_id(guardian))
        return await web.render(request, "outbox.html", items=items, guardian=guardian)

    async def demo_clock_jump(request: Request) -> Response:
        """The demo only: move the demo clock to the next release; the worker then sends what became due."""
        if demo_clock is None or not web.demo:
            raise HTTPException(404, "not found")
        form = await web.form(request)
        spread = dt.timedelta(minutes=charter.release_spread_minutes)
        await jump_to_next_release(demo_clock, spread)
        return RedirectResponse(safe_next(str(form.get("next", "")), "/demo/outbox"), status_code=303)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal settings, peers, demo_clock
        async with db.open_db(settings, run_migrations=run_migrations):
            if not settings.demo_peers:
                # Production: the system's time, which nothing here shifts.
                web.adapters = build_adapters(settings)
                try:
                    yield
                finally:
                    for adapter in web.adapters.values():
                        await adapter.close()
                return
            # The demo: its own clock (the one `carnet demo-data` started, in the data directory), local
            # providers, the real clients pointed at them, and one worker in this process.
            previous_clock = clock.current()
            demo_clock = install_demo_clock(settings.data_dir, charter)
            peers = await DemoPeers().start()
            settings = peers.settings_for(settings)
            adapters = build_adapters(settings)
            web.settings, web.adapters, web.demo = settings, adapters, True
            web.demo_header = clock_view
            stop = asyncio.Event()
            # Passes close together: what a person just sent, or what the clock's jump released, shows at once.
            worker = asyncio.create_task(
                dispatch.run(adapters, base_url=settings.base_url, stop=stop, charter=charter, interval=0.5)
            )
            try:
                yield
            finally:
                stop.set()
                await worker
                for adapter in adapters.values():
                    await adapter.close()
                await peers.stop()
                clock.use(previous_clock)

    module_routes = [route for module in PAGE_MODULES for route in module.routes(web)]
    return Starlette(
        routes=[
            *module_routes,
            Route("/", home),
            Route("/charter", charter_html),
            Route("/charter.pdf", charter_pdf),
            Route("/health", health),
            Route("/demo", demo_page),
            Route("/demo/signin/{guardian_id:int}", demo_signin, methods=["POST"]),
            Route("/demo/outbox", outbox),
            Route("/demo/clock/jump", demo_clock_jump, methods=["POST"]),
            Route("/hooks/twilio/status", twilio_status_hook, methods=["POST"]),
            Route("/hooks/twilio/inbound", twilio_inbound_hook, methods=["POST"]),
            Route("/hooks/telegram", telegram_hook, methods=["POST"]),
            Mount("/static", StaticFiles(directory=TEMPLATES / "static"), name="static"),
        ],
        exception_handlers={HTTPException: http_error},
        lifespan=lifespan,
        # Bounded bodies, security headers, no-store on private pages, Allow on 405 (hub/web/guard.py).
        middleware=[Middleware(guard.GuardMiddleware)],
    )
