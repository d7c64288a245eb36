"""Hardened edges: reading numbers, ids and dates from a request without a 500, bounded bodies, bounded JSON,
and the security headers of every response.

* **Ids in paths.** :func:`install_convertors` registers :class:`DatabaseIdConvertor` over Starlette's ``int``
  convertor, so ``{id:int}`` matches only 1..2147483647 (PostgreSQL's ``integer``; leading zeros are fine): a
  larger id does not match the route and answers 404 instead of an OverflowError (SQLite) or a DataError
  (asyncpg). Starlette compiles a route's regex when the ``Route`` is created: the convertor must be registered
  before the app's routes are built. Importing this module registers it; :func:`install_convertors` is idempotent
  and may be called again first thing in ``create_app``.
* **Numbers from queries and forms.** :func:`parse_id`, :func:`parse_ids`, :func:`parse_page` read ASCII digits
  only (``"²".isdigit()`` is true but ``int("²")`` fails; ``int("٣")`` is 3): anything else, or out of range,
  is None (or the default page).
* **Dates from forms and JSON.** :func:`parse_datetime_local` reads a ``datetime-local`` value of a zone,
  :func:`parse_date` an ISO date;
  :func:`check_datetime_range` refuses an aware datetime (from the API) outside the years 1900..2999, where
  converting between zones cannot overflow.
* **JSON depth.** :func:`loads_bounded` refuses JSON nested deeper than a limit before :func:`json.loads` recurses
  (a RecursionError is no ValueError and would be a 500).
* **The middleware.** :class:`GuardMiddleware` (pure ASGI) bounds request bodies (413 before reading when the
  Content-Length says too much, 413 once a chunked body passes the limit), adds the security headers to every
  response (:data:`CONTENT_SECURITY_POLICY` and the others), ``Cache-Control: no-store`` to signed-in and
  personal-link answers, and a complete ``Allow`` on 405 answers (the app's error page drops Starlette's, which
  names only the first route of the path). Add it inside the app (``Starlette(middleware=[Middleware(
  GuardMiddleware)])``): a body cut mid-stream then gets the app's own 413 page (JSON under ``/api/``).
* **Pages with inline styles.** A handler sets its own policy, which the middleware keeps:
  :func:`policy_with_style_hashes` for a page with ``<style>`` elements (the charter),
  :data:`CONTENT_SECURITY_POLICY_INLINE_STYLES` for a page framing HTML with style attributes (an email preview).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from starlette.convertors import CONVERTOR_TYPES, Convertor, register_url_convertor
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.inputs import (
    ID_REGEX,
    MAX_ID,
    MAX_PAGE,
    MAX_YEAR,
    MIN_YEAR,
    check_datetime_range,
    parse_date,
    parse_datetime_local,
    parse_id,
    parse_ids,
    parse_page,
)

#: Reading numbers, ids, pages and dates is the leaf :mod:`hub.inputs`' (the rules below the web use it too),
#: re-exported here beside the route convertor, the JSON depth and the middleware.
__all__ = [
    "ID_REGEX",
    "MAX_ID",
    "MAX_PAGE",
    "MAX_YEAR",
    "MIN_YEAR",
    "check_datetime_range",
    "parse_date",
    "parse_datetime_local",
    "parse_id",
    "parse_ids",
    "parse_page",
]

MIB = 1024 * 1024
#: Default body limits (bytes): the JSON API, forms (and anything else), multipart uploads (attachments).
MAX_JSON_BODY = 1 * MIB
MAX_FORM_BODY = 1 * MIB
MAX_UPLOAD_BODY = 26 * MIB  # five attachments of 5 MiB and the form around them

#: The policy of every answer: the product's own scripts, styles and images (and ``data:`` images), never framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'"
)
#: The policy of a page showing HTML it does not write itself with inline styles (the composer's preview of an email,
#: in a sandboxed ``srcdoc`` frame, which inherits the page's policy): style attributes allowed, scripts still not.
CONTENT_SECURITY_POLICY_INLINE_STYLES = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self';", "style-src 'self' 'unsafe-inline';"
)
#: The policy of a PDF: browsers show PDFs in a viewer of their own, which a document policy could break.
PDF_CONTENT_SECURITY_POLICY = "frame-ancestors 'none'"

SESSION_COOKIE = "carnet_session"
#: Paths whose answers are never stored by a browser or a proxy (signed-in pages, the API, personal links).
PRIVATE_PREFIXES = ("/portal", "/staff", "/api/v1", "/n/", "/s/")
#: Paths that carry a credential (a personal link's token): their address must not leak in a Referer.
TOKEN_PREFIXES = ("/n/", "/s/")
STATIC_PREFIX = "/static"


# --------------------------------------------------------------------------------------------- ids in paths


class DatabaseIdConvertor(Convertor[int]):
    """``{name:int}`` matching only the ids the database can hold (1..2147483647)."""

    regex = ID_REGEX

    def convert(self, value: str) -> int:
        return int(value.lstrip("0"))  # never int() of thousands of leading zeros (Python refuses > 4300 digits)

    def to_string(self, value: int) -> str:
        value = int(value)
        assert 1 <= value <= MAX_ID, "ids are 1..2147483647"
        return str(value)


_ID_CONVERTOR = DatabaseIdConvertor()


def install_convertors() -> None:
    """Register :class:`DatabaseIdConvertor` as Starlette's ``int`` (idempotent). Routes compile their regex when
    they are created: call this before any ``Route("/x/{id:int}")`` of the app is built (importing this module
    does)."""
    if CONVERTOR_TYPES.get("int") is not _ID_CONVERTOR:
        register_url_convertor("int", _ID_CONVERTOR)


install_convertors()


# --------------------------------------------------------------------------------------------- JSON depth

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth(text: str) -> int:
    """How deep the arrays and objects of a JSON text nest (brackets inside strings are not counted); read
    without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    depth = deepest = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_bounded(body: bytes | str, max_depth: int = 64) -> Any:
    """:func:`json.loads` of a request body, refusing (ValueError, like invalid JSON) a text nested deeper than
    ``max_depth`` before the parser recurses."""
    text = body.decode(json.detect_encoding(body)) if isinstance(body, bytes | bytearray) else body
    if json_depth(text) > max_depth:
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    return json.loads(text)


# --------------------------------------------------------------------------------------------- middleware

_STYLE_ELEMENT = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.DOTALL | re.IGNORECASE)


def policy_with_style_hashes(html: str, policy: str = CONTENT_SECURITY_POLICY) -> str:
    """``policy`` allowing the ``<style>`` elements of this page by their hash (a standalone document such as the
    charter keeps its styles inline): for the handler to set as the page's own Content-Security-Policy."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"
        for css in dict.fromkeys(_STYLE_ELEMENT.findall(html))
    ]
    if not hashes:
        return policy
    return policy.replace("style-src 'self'", "style-src 'self' " + " ".join(hashes), 1)


def _under(path: str, prefixes: Iterable[str]) -> bool:
    return any(path.startswith(p) if p.endswith("/") else path == p or path.startswith(p + "/") for p in prefixes)


def _has_cookie(headers: Headers, name: str) -> bool:
    """Whether the request carries this cookie (read as Starlette reads cookies for the app)."""
    return any(name in cookie_parser(raw) for raw in headers.getlist("cookie"))


def _allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> set[str]:
    """The methods the routes matching this path accept (those Starlette would name in a 405's ``Allow``)."""
    methods: set[str] = set()
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        if isinstance(route, Route) and route.methods:
            methods |= route.methods
        elif isinstance(route, Mount):
            inner = route.routes
            methods |= _allowed_methods(inner, {**scope, **child}) if inner else {"GET", "HEAD"}
    return methods


class BodyTooLarge(HTTPException):
    """Raised by the body a middleware-guarded app reads, once it passes the limit: Starlette's exception
    middleware answers it like any HTTPException (the app's own 413 page, or JSON under /api/)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (at most {limit} bytes)")


class GuardMiddleware:
    """Body limits, security headers, ``no-store`` on private answers and ``Allow`` on 405 (pure ASGI: a streamed
    response stays streamed, and the body is counted as it arrives, never buffered here)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_json: int = MAX_JSON_BODY,
        max_form: int = MAX_FORM_BODY,
        max_upload: int = MAX_UPLOAD_BODY,
        content_security_policy: str = CONTENT_SECURITY_POLICY,
        session_cookie: str = SESSION_COOKIE,
    ) -> None:
        install_convertors()
        self.app = app
        self.max_json, self.max_form, self.max_upload = max_json, max_form, max_upload
        self.content_security_policy = content_security_policy
        self.session_cookie = session_cookie

    def body_limit(self, path: str, content_type: str) -> int:
        """The largest body accepted: multipart uploads anywhere, else the JSON API, else forms (and the rest)."""
        if content_type.split(";")[0].strip().lower() == "multipart/form-data":
            return self.max_upload
        if path.startswith("/api/"):
            return self.max_json
        return self.max_form

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")  # the router moves it into mounts: kept to find a 405's routes
        request_headers = Headers(scope=scope)
        limit = self.body_limit(path, request_headers.get("content-type", ""))

        declared = {value.strip() for value in request_headers.getlist("content-length")}
        if declared:
            value = declared.pop()
            if declared or not (value.isascii() and value.isdigit()):
                await self._refuse(scope, send, 400, "invalid Content-Length")
                return
            if len(value.lstrip("0")) > len(str(limit)) or int(value) > limit:
                await self._refuse(scope, send, 413, f"request body too large (at most {limit} bytes)")
                return

        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            if received > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)  # the app's error handler answers 413 (or this middleware, below)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._secure(scope, request_headers, message, root_path)
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await self._refuse(scope, send, 413, str(exc.detail))

    async def _refuse(self, scope: Scope, send: Send, status: int, reason: str) -> None:
        if scope["path"].startswith("/api/"):
            body, media_type = json.dumps({"error": reason}).encode(), "application/json"
        else:
            body, media_type = reason.encode(), "text/plain; charset=utf-8"
        start: Message = {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the unread body must not be taken for the next request
            ],
        }
        self._secure(scope, Headers(scope=scope), start, scope.get("root_path", ""))
        await send(start)
        await send({"type": "http.response.body", "body": body})

    def _secure(self, scope: Scope, request_headers: Headers, message: Message, root_path: str = "") -> None:
        """Add the security headers to a response's start (a header the handler set is kept)."""
        headers = MutableHeaders(scope=message)
        path: str = scope["path"]
        is_pdf = headers.get("content-type", "").split(";")[0].strip().lower() == "application/pdf"
        policy = PDF_CONTENT_SECURITY_POLICY if is_pdf else self.content_security_policy
        headers.setdefault("Content-Security-Policy", policy)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer" if _under(path, TOKEN_PREFIXES) else "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if not _under(path, (STATIC_PREFIX,)) and "cache-control" not in headers:
            if _under(path, PRIVATE_PREFIXES) or _has_cookie(request_headers, self.session_cookie):
                headers["Cache-Control"] = "no-store"
        if message["status"] == 405:
            # Starlette names the methods of the first route matching the path (the app's error page drops even
            # that): Allow names those of every route of this path.
            router = scope.get("router") or scope.get("app")
            methods = _allowed_methods(getattr(router, "routes", None) or (), {**scope, "root_path": root_path})
            methods |= {m.strip().upper() for value in headers.getlist("allow") for m in value.split(",") if m.strip()}
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
