"""The hardened edges of :mod:`hub.web.guard`: ids, pages and dates read from a request never raise (ASCII digits
only, ids within PostgreSQL's ``integer``, years 1900..2999), ``{id:int}`` routes do not match an id the database
cannot hold (404, not 500), JSON depth is bounded without recursion, and the middleware bounds bodies (413 before
reading on Content-Length, 413 mid-stream otherwise), adds the security headers, ``no-store`` on private answers
(never on /static) and ``Allow`` on 405 — on small apps and on the real one."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.convertors import CONVERTOR_TYPES
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from hub.config import Settings
from hub.web import create_app, guard
from hub.web.guard import (
    CONTENT_SECURITY_POLICY,
    CONTENT_SECURITY_POLICY_INLINE_STYLES,
    MAX_ID,
    MAX_PAGE,
    BodyTooLarge,
    DatabaseIdConvertor,
    GuardMiddleware,
    check_datetime_range,
    install_convertors,
    json_depth,
    loads_bounded,
    parse_date,
    parse_datetime_local,
    parse_id,
    parse_ids,
    parse_page,
    policy_with_style_hashes,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cross-origin-opener-policy": "same-origin",
}

# ------------------------------------------------------------------------------------------------ parse_id

#: Strings ``str.isdigit()`` or ``int()`` accept that are not ASCII digits, and other shapes forms carry.
NOT_IDS = ["", " ", "²", "٣", "١٢", "５", "1²", "-1", "+1", "1.0", "1e3", "0x10", "1_000", "0", "000", "1 2", "\x00"]


@pytest.mark.parametrize("text", NOT_IDS)
def test_parse_id_refuses_what_is_not_ascii_digits(text: str) -> None:
    assert parse_id(text) is None


@pytest.mark.parametrize("value", [None, 42, b"42", UploadFile(file=None, filename="42")])
def test_parse_id_refuses_what_is_not_text(value: Any) -> None:
    assert parse_id(value) is None


def test_parse_id_bounds() -> None:
    assert parse_id("1") == 1
    assert parse_id(str(MAX_ID)) == MAX_ID == 2147483647
    assert parse_id(str(MAX_ID + 1)) is None
    assert parse_id("99999999999999999999") is None
    assert parse_id("0042") == 42
    assert parse_id(" 7\t") == 7  # a form value's blanks
    assert parse_id("0" * 5000 + "7") == 7  # int() alone refuses more than 4300 digits


@given(st.integers(min_value=-(10**12), max_value=10**12), st.integers(min_value=0, max_value=3))
def test_parse_id_is_the_database_range(number: int, zeros: int) -> None:
    text = "0" * zeros + str(number)
    assert parse_id(text) == (number if 1 <= number <= MAX_ID else None)


@given(st.text(max_size=30))
def test_parse_id_never_raises(text: str) -> None:
    found = parse_id(text)
    assert found is None or (1 <= found <= MAX_ID and text.strip(" \t\r\n").isascii())


def test_parse_ids_keeps_only_ids_in_order() -> None:
    assert parse_ids(["3", "²", "1", "2147483648", None, "x", "03"]) == [3, 1, 3]


# ---------------------------------------------------------------------------------------------- parse_page


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("12", 12),
        ("007", 7),
        (None, 1),
        ("", 1),
        ("0", 1),
        ("-2", 1),
        ("²", 1),
        ("٣", 1),
        ("2.5", 1),
        (str(MAX_PAGE), MAX_PAGE),
        (str(MAX_PAGE + 1), 1),
        ("9" * 5000, 1),
    ],
)
def test_parse_page(text: str | None, expected: int) -> None:
    assert parse_page(text) == expected


def test_parse_page_default_and_maximum() -> None:
    assert parse_page("x", default=3) == 3
    assert parse_page("50", maximum=40) == 1
    assert parse_page("40", maximum=40) == 40


@given(st.text(max_size=20))
def test_parse_page_never_raises(text: str) -> None:
    assert 1 <= parse_page(text) <= MAX_PAGE


# ------------------------------------------------------------------------------------------------- dates


def test_parse_datetime_local_reads_a_time_of_the_zone() -> None:
    expected = dt.datetime(2026, 11, 30, 13, 0, tzinfo=dt.UTC)  # 14:00 in Brussels, in winter
    assert parse_datetime_local("2026-11-30T14:00", BRUSSELS) == expected
    assert parse_datetime_local(" 2026-11-30T14:00:00 ", "Europe/Brussels") == expected
    assert parse_datetime_local("2026-11-30T14:00+01:00", dt.UTC) == expected  # an offset is taken as given


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00",
        "1899-12-31T23:59",
        "3000-01-01T00:00",
        "9999-12-31T23:59",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "",
        "tomorrow",
        "2026-13-01T10:00",
        "２０２６-11-30T14:00",
        "2026-11-30T14:00²",
        "2026-11-30T14:00" + " " * 100 + "x",
        None,
    ],
)
def test_parse_datetime_local_refuses(text: str | None) -> None:
    assert parse_datetime_local(text, BRUSSELS) is None


def test_parse_datetime_local_edges_of_the_years() -> None:
    assert parse_datetime_local("1900-01-01T00:00", BRUSSELS) is not None
    assert parse_datetime_local("2999-12-31T23:59", dt.timezone(dt.timedelta(hours=-14))) is not None


@given(st.datetimes(timezones=st.none() | st.timezones()), st.sampled_from(["minutes", "seconds", "auto"]))
def test_parse_datetime_local_never_raises(value: dt.datetime, timespec: str) -> None:
    found = parse_datetime_local(value.isoformat(timespec=timespec), BRUSSELS)
    assert found is None or (found.tzinfo is dt.UTC and 1899 <= found.year <= 3000)
    if found is None:
        assert not 1900 <= value.year <= 2999


def test_parse_date() -> None:
    assert parse_date("2026-11-30") == dt.date(2026, 11, 30)
    assert parse_date(" 1900-01-01 ") == dt.date(1900, 1, 1)
    assert parse_date("2999-12-31") == dt.date(2999, 12, 31)
    for bad in [
        "0001-01-01",
        "9999-12-31",
        "3000-01-01",
        "",
        "2026-02-30",
        "２０２６-11-30",
        "2026-11-3²",
        None,
        20261130,
    ]:
        assert parse_date(bad) is None, bad


@given(st.text(max_size=12) | st.dates().map(dt.date.isoformat))
def test_parse_date_never_raises(text: str) -> None:
    found = parse_date(text)
    assert found is None or 1900 <= found.year <= 2999


def test_check_datetime_range_for_the_api() -> None:
    fine = dt.datetime(2026, 11, 30, 14, tzinfo=dt.UTC)
    assert check_datetime_range(fine) is fine
    far = dt.datetime.fromisoformat("9999-12-31T23:59:59-14:00")
    with pytest.raises(ValueError, match="1900"):
        check_datetime_range(far)
    with pytest.raises(ValueError):
        check_datetime_range(dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=14))))


# ------------------------------------------------------------------------------------------------ JSON depth


def test_loads_bounded_reads_json_within_the_depth() -> None:
    assert loads_bounded(b'{"endpoint": "https://push.example/1"}') == {"endpoint": "https://push.example/1"}
    assert loads_bounded("[" * 64 + "]" * 64, max_depth=64) == json.loads("[" * 64 + "]" * 64)
    assert loads_bounded('"[[[[{{{{"', max_depth=1) == "[[[[{{{{"  # brackets inside strings do not count
    assert loads_bounded(r'["a\"[[[[", {"b": "\\"}]', max_depth=2) == ['a"[[[[', {"b": "\\"}]
    assert loads_bounded('{"é": 1}'.encode("utf-16")) == {"é": 1}


@pytest.mark.parametrize("depth", [65, 1000, 100_000])
def test_loads_bounded_refuses_deep_json_with_a_value_error(depth: int) -> None:
    with pytest.raises(ValueError, match="nested deeper than 64"):
        loads_bounded(b"[" * depth + b"]" * depth)
    with pytest.raises(ValueError, match="nested deeper"):
        loads_bounded('{"a":' * depth + "1" + "}" * depth)
    with pytest.raises(ValueError, match="nested deeper"):
        loads_bounded(b"[" * depth)  # unclosed: refused before the parser sees it


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe\xfa", b'{"a": }', b"NaNx"])
def test_loads_bounded_invalid_json_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        loads_bounded(body)


_JSON_LEAVES = st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ aé', max_size=8)


@given(
    st.recursive(
        _JSON_LEAVES,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
        max_leaves=30,
    )
)
def test_json_depth_counts_the_nesting(value: Any) -> None:
    def depth(v: Any) -> int:
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0

    text = json.dumps(value)
    assert json_depth(text) == depth(value)
    assert loads_bounded(text, max_depth=depth(value)) == value


# ------------------------------------------------------------------------------------------------ convertor


async def _echo_id(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["id"]})


def _id_app() -> Starlette:
    return Starlette(routes=[Route("/x/{id:int}", _echo_id, name="x")])


def test_the_int_convertor_is_the_database_range() -> None:
    install_convertors()
    install_convertors()  # idempotent
    assert isinstance(CONVERTOR_TYPES["int"], DatabaseIdConvertor)
    client = TestClient(_id_app())
    assert client.get("/x/2147483647").json() == {"id": 2147483647}
    assert client.get("/x/1").json() == {"id": 1}
    assert client.get("/x/000042").json() == {"id": 42}
    assert client.get("/x/" + "0" * 5000 + "9").json() == {"id": 9}
    for bad in ["2147483648", "99999999999999999999", "0", "-1", "%C2%B2", "%D9%A3", "1.5", "9" * 5000]:
        assert client.get(f"/x/{bad}").status_code == 404, bad
    assert _id_app().url_path_for("x", id=7) == "/x/7"


@given(st.integers(min_value=0, max_value=10**11))
def test_the_convertor_regex_is_exactly_the_range(number: int) -> None:
    route = Route("/x/{id:int}", _echo_id)
    match = route.path_regex.match(f"/x/{number}")
    assert bool(match) == (1 <= number <= MAX_ID)


# ----------------------------------------------------------------------------------------------- middleware

LIMITS = {"max_json": 50, "max_form": 100, "max_upload": 1000}


def _small_app(static: Path, called: list[str]) -> Starlette:
    async def echo(request: Request) -> Response:
        called.append(request.url.path)
        body = await request.body()
        return PlainTextResponse(f"{len(body)} bytes")

    async def upload(request: Request) -> Response:
        called.append(request.url.path)
        form = await request.form()
        return PlainTextResponse(f"{len(form)} fields")

    async def page(request: Request) -> Response:
        return HTMLResponse("<p>page</p>")

    async def own_headers(request: Request) -> Response:
        return HTMLResponse(
            "<p>own</p>",
            headers={"Cache-Control": "no-cache", "Content-Security-Policy": "default-src 'none'"},
        )

    async def pdf(request: Request) -> Response:
        return Response(b"%PDF-1.4", media_type="application/pdf")

    async def api(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def refuse(request: Request, exc: Exception) -> Response:
        # Like the app's handler: renders the error, without the exception's headers.
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return HTMLResponse(f"<p>{exc.detail}</p>", status_code=exc.status_code)

    return Starlette(
        routes=[
            Route("/", page),
            Route("/login", page, methods=["GET", "POST"]),
            Route("/echo", echo, methods=["POST"]),
            Route("/api/v1/echo", echo, methods=["POST"]),
            Route("/upload", upload, methods=["POST"]),
            Route("/own", own_headers),
            Route("/doc.pdf", pdf),
            Route("/api/v1/me", api),
            Route("/api/openapi.json", api),
            *(Route(path, page) for path in ["/portal", "/portal/x", "/staff/x", "/n/tok", "/s/tok", "/portals"]),
            Mount("/static", StaticFiles(directory=static), name="static"),
        ],
        exception_handlers={HTTPException: refuse},
    )


@pytest.fixture
def called() -> list[str]:
    return []


@pytest.fixture
def guarded(tmp_path: Path, called: list[str]) -> Iterator[TestClient]:
    (tmp_path / "a.css").write_text("p { color: red }")
    app = GuardMiddleware(_small_app(tmp_path, called), **LIMITS)
    with TestClient(app) as client:
        yield client


def test_a_declared_length_over_the_limit_is_refused_before_the_app(guarded: TestClient, called: list[str]) -> None:
    response = guarded.post("/echo", content=b"x" * 101, headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and "at most 100 bytes" in response.text
    assert response.headers["connection"] == "close"
    assert response.headers["x-content-type-options"] == "nosniff"
    response = guarded.post("/api/v1/echo", content=b"{}" + b" " * 49, headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json() == {"error": "request body too large (at most 50 bytes)"}
    response = guarded.post("/echo", headers={"content-length": "9" * 5000})
    assert response.status_code == 413
    assert called == []
    assert guarded.post("/echo", content=b"x" * 100).text == "100 bytes"
    assert guarded.post("/api/v1/echo", content=b"x" * 50).text == "50 bytes"


def test_uploads_have_their_own_limit(guarded: TestClient, called: list[str]) -> None:
    files = {"file": ("a.txt", b"x" * 600, "text/plain")}
    assert guarded.post("/upload", files=files).text == "1 fields"
    big = {"file": ("a.txt", b"x" * 1001, "text/plain")}
    assert guarded.post("/upload", files=big).status_code == 413
    assert called == ["/upload"]


def test_a_streamed_body_over_the_limit_is_cut_with_413(guarded: TestClient, called: list[str]) -> None:
    def chunks() -> Iterator[bytes]:
        yield from [b"x" * 40] * 10  # no Content-Length: sent chunked

    response = guarded.post("/echo", content=chunks())
    assert response.status_code == 413 and response.text == "<p>request body too large (at most 100 bytes)</p>"
    assert response.headers["x-frame-options"] == "DENY"
    response = guarded.post("/api/v1/echo", content=chunks())
    assert response.status_code == 413 and response.json() == {"error": "request body too large (at most 50 bytes)"}
    assert called == ["/echo", "/api/v1/echo"]  # the app read the body, and was stopped by the limit


class _Stream:
    """An ASGI receive giving a body in chunks (more_body), counting how many the app took."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunks = [chunk] * count
        self.taken = 0

    async def __call__(self) -> Message:
        self.taken += 1
        rest = len(self.chunks) - self.taken
        if rest < 0:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": self.chunks[self.taken - 1], "more_body": rest > 0}


def _scope(path: str, headers: list[tuple[bytes, bytes]] | None = None, method: str = "POST") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers or [],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }


async def _run(app: Any, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_chunked_stream_is_cut_at_the_limit_without_reading_the_rest() -> None:
    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        await Request(scope, receive).body()  # raises BodyTooLarge at the third chunk
        raise AssertionError("read past the limit")

    stream = _Stream(b"x" * 40, 1000)
    sent = await _run(GuardMiddleware(reader, **LIMITS), _scope("/echo"), stream)
    assert stream.taken == 3  # 120 bytes > 100: the other 997 chunks were never read
    assert sent[0]["status"] == 413
    headers = dict(sent[0]["headers"])
    assert headers[b"x-frame-options"] == b"DENY" and headers[b"connection"] == b"close"
    assert sent[1]["body"] == b"request body too large (at most 100 bytes)"


async def test_a_body_within_the_limit_streams_through() -> None:
    async def reader(scope: Scope, receive: Receive, send: Send) -> None:
        body = await Request(scope, receive).body()
        await PlainTextResponse(str(len(body)))(scope, receive, send)

    stream = _Stream(b"x" * 20, 5)
    sent = await _run(GuardMiddleware(reader, **LIMITS), _scope("/echo"), stream)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"100"


async def test_a_limit_passed_after_the_response_started_is_raised() -> None:
    async def streaming(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await Request(scope, receive).body()

    with pytest.raises(BodyTooLarge):
        await _run(GuardMiddleware(streaming, **LIMITS), _scope("/echo"), _Stream(b"x" * 60, 2))


@pytest.mark.parametrize("length", [b"abc", b"-1", b"\xc2\xb2", b"1 2"])
async def test_an_unreadable_content_length_is_refused(length: bytes) -> None:
    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("called")

    sent = await _run(GuardMiddleware(never), _scope("/echo", [(b"content-length", length)]), _Stream(b"", 1))
    assert sent[0]["status"] == 400


async def test_two_different_content_lengths_are_refused() -> None:
    async def never(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("called")

    headers = [(b"content-length", b"5"), (b"content-length", b"6")]
    sent = await _run(GuardMiddleware(never), _scope("/echo", headers), _Stream(b"", 1))
    assert sent[0]["status"] == 400


def _has_security_headers(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (response.url, name)


@pytest.mark.parametrize("path", ["/", "/login", "/portal", "/api/v1/me", "/nowhere", "/x/2147483648"])
def test_every_answer_has_the_security_headers(guarded: TestClient, path: str) -> None:
    response = guarded.get(path)
    _has_security_headers(response)
    assert response.headers["referrer-policy"] == "same-origin"


def test_personal_links_send_no_referrer(guarded: TestClient) -> None:
    for path in ["/n/tok", "/s/tok"]:
        response = guarded.get(path)
        assert response.headers["referrer-policy"] == "no-referrer"
        _has_security_headers(response)


@pytest.mark.parametrize("path", ["/portal", "/portal/x", "/staff/x", "/api/v1/me", "/n/tok", "/s/tok"])
def test_private_answers_are_not_stored(guarded: TestClient, path: str) -> None:
    assert guarded.get(path).headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/", "/login", "/portals", "/api/openapi.json"])
def test_public_answers_are_stored_unless_signed_in(guarded: TestClient, path: str) -> None:
    assert "cache-control" not in guarded.get(path).headers
    guarded.cookies.set("carnet_session", "whatever")
    assert guarded.get(path).headers["cache-control"] == "no-store"


def test_a_handlers_own_headers_are_kept(guarded: TestClient) -> None:
    guarded.cookies.set("carnet_session", "whatever")
    response = guarded.get("/own")
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == "default-src 'none'"
    assert response.headers["x-frame-options"] == "DENY"


def test_a_pdf_has_a_policy_its_viewer_can_live_with(guarded: TestClient) -> None:
    response = guarded.get("/doc.pdf")
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_static_files_keep_their_caching(guarded: TestClient) -> None:
    guarded.cookies.set("carnet_session", "whatever")
    response = guarded.get("/static/a.css")
    assert response.status_code == 200 and response.text == "p { color: red }"
    assert "cache-control" not in response.headers
    assert "etag" in response.headers and "last-modified" in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert guarded.get("/static/a.css", headers={"if-none-match": response.headers["etag"]}).status_code == 304


def test_policies_for_pages_with_inline_styles() -> None:
    css = "\n  body { max-width: 48rem; }\n"
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    page = f"<html><head><style>{css}</style><STYLE media=print>{css}</STYLE></head><body></body></html>"
    policy = policy_with_style_hashes(page)
    assert f"style-src 'self' 'sha256-{digest}';" in policy and policy.count("sha256-") == 1
    assert policy.replace(f" 'sha256-{digest}'", "") == CONTENT_SECURITY_POLICY
    assert policy_with_style_hashes("<p>no style</p>") == CONTENT_SECURITY_POLICY
    assert "style-src 'self' 'unsafe-inline';" in CONTENT_SECURITY_POLICY_INLINE_STYLES
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY_INLINE_STYLES


def test_405_names_the_allowed_methods(guarded: TestClient) -> None:
    response = guarded.put("/login")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST"
    assert guarded.get("/echo").headers["allow"] == "POST"
    assert guarded.delete("/static/a.css").headers["allow"] == "GET, HEAD"
    _has_security_headers(guarded.put("/login"))


# ------------------------------------------------------------------------------------------------ real app


@pytest.fixture(params=["in the stack", "around the app"])
def real(request: pytest.FixtureRequest, demo_db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    """The real app with the guard as create_app would add it (a middleware of the Starlette app, inside its
    error middleware), or wrapped around it."""
    app = create_app(Settings(data_dir=tmp_path, database_url=demo_db_url, base_url="http://testserver"))
    if request.param == "in the stack":
        app.add_middleware(GuardMiddleware)
        served: Any = app
    else:
        served = GuardMiddleware(app)
    with TestClient(served, base_url="http://testserver") as client:
        yield client


def test_the_real_app_behind_the_guard(real: TestClient) -> None:
    for path in ["/", "/login"]:
        response = real.get(path)
        assert response.status_code == 200, path
        _has_security_headers(response)
        assert response.headers["referrer-policy"] == "same-origin"
        assert "cache-control" not in response.headers
    # The charter carries its own stylesheet: its policy allows exactly that one, by its hash, and nothing else.
    charter = real.get("/charter")
    assert charter.status_code == 200
    assert charter.headers["content-security-policy"] == guard.policy_with_style_hashes(charter.text)
    assert "'sha256-" in charter.headers["content-security-policy"]
    assert "unsafe-inline" not in charter.headers["content-security-policy"]
    assert charter.headers["x-frame-options"] == "DENY"
    assert real.get("/charter.pdf").headers["content-security-policy"] == "frame-ancestors 'none'"
    assert "cache-control" not in real.get("/static/carnet.css").headers
    # Ids the database cannot hold match no route.
    assert real.get("/api/v1/pupils/99999999999999999999").status_code == 404
    assert real.get("/api/v1/pupils/2147483648").status_code == 404
    assert real.get("/staff/messages/2147483648", follow_redirects=False).status_code == 404
    assert real.get("/n/" + "a" * 10 + "/attachments/99999999999999999999").status_code == 404
    # The app's error page drops the 405's Allow: the guard restores it.
    response = real.put("/login")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD, POST"
    assert real.post("/static/carnet.css").headers["allow"] == "GET, HEAD"
    response = real.patch("/api/v1/session")  # three routes of one path: Starlette alone names the first's
    assert response.status_code == 405 and response.headers["allow"] == "DELETE, GET, HEAD, POST"
    # A large JSON body is refused before it is read, without signing in.
    response = real.post(
        "/api/v1/session", content=b" " * (1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413 and "error" in response.json()

    def chunks() -> Iterator[bytes]:
        yield from [b" " * 65536] * 17  # 1 MiB + 64 KiB, without Content-Length

    response = real.post("/api/v1/session", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"error": f"request body too large (at most {1024 * 1024} bytes)"}
    _has_security_headers(response)
    assert real.get("/api/v1/me").headers["cache-control"] == "no-store"
