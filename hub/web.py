"""The web application (Starlette, server-rendered Jinja2 pages).

For now it shows the school the database holds and serves the charter families download; the composer, the
portal and the reports are built on this app.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from charter import Charter, default_charter, load_charter, render_html, render_pdf
from hub import db
from hub.config import ROOT, Settings
from hub.overview import school_overview


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> Starlette:
    settings = settings or Settings.from_env()
    env = Environment(
        loader=FileSystemLoader(ROOT / "templates" / "pages"), autoescape=select_autoescape(), enable_async=True
    )
    charter: Charter = load_charter(settings.charter_path) if settings.charter_path else default_charter()

    async def home(request: Request) -> Response:
        overview = await school_overview()
        page = await env.get_template("home.html").render_async(overview=overview, charter=charter)
        return HTMLResponse(page)

    async def charter_html(request: Request) -> Response:
        return HTMLResponse(render_html(charter))

    async def charter_pdf(request: Request) -> Response:
        return Response(
            render_pdf(charter),
            media_type="application/pdf",
            headers={"Content-Disposition": 'inline; filename="charte.pdf"'},
        )

    async def health(request: Request) -> Response:
        overview = await school_overview()
        return JSONResponse({"status": "ok", "pupils": overview.pupils if overview else 0})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with db.open_db(settings, run_migrations=run_migrations):
            yield

    return Starlette(
        routes=[
            Route("/", home),
            Route("/charter", charter_html),
            Route("/charter.pdf", charter_pdf),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )
