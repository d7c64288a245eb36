"""The charter families read, in their language: ``/charter`` and ``/charter.pdf`` (``?lang=``, then the language
cookie, the person's language or the browser's, as every page), with the school's name, address and
data-protection officer from the settings (``School``), never from the charter file's fallback.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from charter import Charter
from charter.document import SchoolDetails, render_html, render_pdf
from hub.people.models import School
from hub.people.settings_admin import school_dpo
from hub.web import guard
from hub.web.kit import Web


async def school_details(charter: Charter) -> SchoolDetails:
    """The school as its settings describe it (the charter file's name when there is no school yet)."""
    school = await School.first()
    if school is None:
        return SchoolDetails(charter.name)
    return SchoolDetails(
        school.name,
        ", ".join(line.strip() for line in school.address.splitlines() if line.strip()),
        await school_dpo(school.id),
    )


class CharterPages:
    def __init__(self, web: Web, charter: Charter) -> None:
        self.web, self.charter = web, charter
        #: The PDF per language and school details: rendered once each, off the event loop.
        self._pdfs: dict[tuple[str, SchoolDetails], bytes] = {}

    async def _reader(self, request: Request) -> tuple[str, SchoolDetails]:
        lang = self.web.language(request, await self.web.actor(request))
        return (lang if lang in self.charter.languages else self.charter.document.language), await school_details(
            self.charter
        )

    async def html(self, request: Request) -> Response:
        lang, school = await self._reader(request)
        html = render_html(self.charter, language=lang, school=school, link="/charter")
        # The charter document carries its own stylesheet: the page allows exactly that one, by its hash.
        return HTMLResponse(html, headers={"Content-Security-Policy": guard.policy_with_style_hashes(html)})

    async def pdf(self, request: Request) -> Response:
        key = await self._reader(request)
        if key not in self._pdfs:
            self._pdfs[key] = await asyncio.to_thread(render_pdf, self.charter, None, key[0], key[1])
        name = "charte.pdf" if key[0] == self.charter.document.language else f"charte.{key[0]}.pdf"
        return Response(
            self._pdfs[key],
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"', "Content-Language": key[0]},
        )
