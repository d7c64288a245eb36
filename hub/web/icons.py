"""What a browser asks of every site: ``/favicon.ico`` (asked on a first visit whatever the page says, so never a
404) and the web app manifest that lets a parent add the portal to a phone's home screen (``/manifest.webmanifest``,
with its icons under ``/static``). Public, cached for a day: they hold nothing about anyone."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from hub.config import ROOT
from hub.web.kit import Web

STATIC = ROOT / "templates" / "static"
#: A day: a new icon shows by the next morning, and no visit asks for it twice.
CACHE = "public, max-age=86400"


def routes(web: Web) -> list[BaseRoute]:
    async def favicon(request: Request) -> Response:
        return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon", headers={"Cache-Control": CACHE})

    async def manifest(request: Request) -> Response:
        return FileResponse(
            STATIC / "manifest.webmanifest", media_type="application/manifest+json", headers={"Cache-Control": CACHE}
        )

    return [Route("/favicon.ico", favicon), Route("/manifest.webmanifest", manifest)]
