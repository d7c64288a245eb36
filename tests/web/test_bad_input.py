"""No input gives a 500, and a refused input stores nothing: the sweep of every route of the app.

Every route of the app (pages and API, read from ``create_app(...).routes``) is called with each of its ``{id:int}``
path parameters replaced by an id the database cannot hold (2147483648, a 20-digit number), a Unicode digit
(``²``, ``٣``) or another shape that is not an id, and each ``{token}`` by one longer than any stored token; the
pages and API operations that read ids, page numbers, dates or JSON from the query, a form or a body get the same
bad values there (and far dates, deep JSON). All of it anonymously, as a teacher, as the principal and as a
guardian, on SQLite and on PostgreSQL (where an id >= 2147483648 used to be an asyncpg DataError): not one answer
is a 5xx, and nothing is stored (messages, notices, deliveries, answers, acknowledgements, contacts, readings and
the audit log, sign-ins and the audit entries of successful reads aside).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from starlette.routing import BaseRoute, Mount, Route

from hub.messaging.models import Acknowledgement, Delivery, Message, Notice, SlipResponse
from hub.people import audit_log
from hub.people.models import Contact
from hub.store.audit import AuditEntry
from tests.web.conftest import Site
from tests.web.test_api import PRINCIPAL, TEACHER, Api, publish_demo
from tests.web.test_api_authz import _notices, _school_view

#: Path ids the database cannot hold, digits ``int()`` or ``isdigit()`` take that are not ASCII, and other shapes.
BAD_PATH_IDS = ["2147483648", "99999999999999999999", quote("²"), quote("٣"), "0", "-1", "1e3"]
#: Query and form values that are not ids, page numbers or counts.
BAD_NUMBERS = ["2147483648", "99999999999999999999", "²", "٣", "١٢", "-1", "1.5", "0x10", "0" * 5000, "9" * 5000]
#: Personal-link tokens longer than any stored one (64 characters), or not of its alphabet.
BAD_TOKENS = ["a" * 65, "a" * 300, quote("é" * 40), quote("²" * 65)]
#: ``datetime-local`` values of a form and ISO dates out of the years the product reads (or not dates at all).
BAD_LOCAL_TIMES = ["0001-01-01T00:00", "9999-12-31T23:59", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00+14:00", "²"]
BAD_DATES = ["0001-01-01", "9999-12-31", "²⁰²⁶-01-01", "2026-13-01"]
BAD_AWARE_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"]
#: JSON nested far deeper than any body the product takes.
DEEP_JSON = "[" * 5000 + "]" * 5000
DEEP_OBJECT = '{"endpoint":' * 2000 + '"x"' + "}" * 2000
#: Routes the sweep leaves alone: signing out would end the role's session mid-sweep.
SKIPPED = {("POST", "/logout"), ("DELETE", "/api/v1/session")}

_PARAM = re.compile(r"{(\w+)(?::(\w+))?}")


@dataclass
class Sweep:
    site: Site
    csrf: str = ""
    #: (method, url, status) of every answer that was a 5xx.
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    requests: int = 0

    def call(
        self, method: str, url: str, *, form: dict[str, Any] | None = None, json_text: str | None = None, **kw: Any
    ) -> int:
        headers = {"X-CSRF-Token": self.csrf} if method != "GET" else {}
        if json_text is not None:
            headers["Content-Type"] = "application/json"
            kw["content"] = json_text.encode()
        if form is not None:
            kw["data"] = {"csrf_token": self.csrf, **form}
        elif method in ("POST", "PUT", "PATCH") and "content" not in kw and "json" not in kw:
            kw["data"] = {"csrf_token": self.csrf}
        response = self.site.client.request(method, url, headers=headers, follow_redirects=False, **kw)
        self.requests += 1
        if response.status_code >= 500:
            self.failures.append((method, url[:120], response.status_code))
        return response.status_code


def _routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every route of the app, mounts included (HEAD aside: GET covers it)."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield method, prefix + route.path
        elif isinstance(route, Mount) and route.routes:
            yield from _routes(list(route.routes), prefix + route.path)


def _bad_paths(template: str) -> Iterator[str]:
    """The path with one parameter at a time made bad (the others a plain 1, or a token of the right length)."""
    params = _PARAM.findall(template)
    for index, (_name, kind) in enumerate(params):
        bad_values = BAD_PATH_IDS if kind == "int" else BAD_TOKENS
        for bad in bad_values:
            count = -1

            def fill(match: re.Match[str], bad: str = bad, index: int = index) -> str:
                nonlocal count
                count += 1
                if count == index:
                    return bad
                return "1" if match.group(2) == "int" else "A" * 32

            yield _PARAM.sub(fill, template)


def sweep_paths(sweep: Sweep) -> None:
    for method, template in _routes(list(sweep.site.client.app.routes)):  # type: ignore[attr-defined]
        if (method, template) in SKIPPED or "{" not in template:
            continue
        for path in _bad_paths(template):
            sweep.call(method, path)


def sweep_queries_and_forms(sweep: Sweep, *, group_id: int, notice_id: int, message_id: int) -> None:
    """The pages and API operations that read numbers, dates or JSON from the query, a form or a body."""
    for bad in BAD_NUMBERS:
        for url, name in [
            ("/portal", "pupil"),
            ("/portal", "page"),
            ("/staff/messages", "page"),
            ("/staff/compose", "draft"),
            ("/staff/compose", "group"),
            ("/staff/print", "printed"),
            ("/staff/paper", "recorded"),
            ("/staff/report", "message"),
            ("/staff/report", "offset"),
            ("/staff/report.json", "message"),
            ("/staff/report.json", "offset"),
            ("/demo/outbox", "guardian"),
            (f"/staff/messages/{message_id}", "page"),
            (f"/staff/messages/{message_id}/progress.json", "page"),
            ("/api/v1/notices", "page"),
            ("/api/v1/notices", "per_page"),
            ("/api/v1/messages", "page"),
            ("/api/v1/pupils", "page"),
        ]:
            sweep.call("GET", url, params={name: bad})
        sweep.call("POST", "/staff/compose", form={"draft": bad, "subject": "x", "body": "y", "group": group_id})
        sweep.call(
            "POST",
            "/staff/compose",
            form={
                "subject": "Sortie",
                "body": "Texte",
                "group": [bad, str(group_id)],
                "pupil": bad,
                "remove_attachment": bad,
                "question_rows": bad,
                "slip": "1",
                "slip_deadline": "0001-01-01T00:00",
                "reminder": bad,
                f"q{bad[:50]}_text": "Question ?",
                "q²_text": "Question ?",
                "q1_text": "Vient-il ?",
                "q1_kind": "yes_no",
            },
        )
        sweep.call("POST", "/staff/compose", form={"action": "add_question", "question_rows": bad})
        sweep.call("POST", "/staff/print", form={"message_id": bad, "ids": f"{bad} 1 {bad}"})
        sweep.call("POST", "/staff/paper", form={"code": bad, "pupil_id": bad, "q1": bad})
        sweep.call("POST", "/staff/onboarding/letters", form={"group_id": bad})
        sweep.call("POST", "/portal/channels/order", form={"rank_email": bad, "rank_sms": bad, "rank_portal": bad})
        sweep.call("POST", f"/portal/notices/{notice_id}/answer", form={"target": bad, "q1": bad, "q2": [bad, bad]})
        sweep.call("POST", f"/api/v1/notices/{notice_id}/answers", json={"pupil_id": bad, "answers": {}})
    for pupil_id in (2147483648, 99999999999999999999, 0):
        sweep.call("POST", f"/api/v1/notices/{notice_id}/answers", json={"pupil_id": pupil_id, "answers": {}})
    for when in BAD_LOCAL_TIMES:
        sweep.call(
            "POST",
            "/staff/compose",
            form={"subject": "Sortie", "body": "Texte", "group": str(group_id), "scheduled_at": when},
        )
        sweep.call(
            "POST",
            "/staff/compose",
            form={
                "subject": "Sortie",
                "body": "Texte",
                "group": str(group_id),
                "slip": "1",
                "slip_deadline": when,
                "q1_text": "Vient-il ?",
                "q1_kind": "yes_no",
            },
        )
    for day in BAD_DATES:
        for name in ("from", "to"):
            sweep.call("GET", "/staff/report", params={name: day})
            sweep.call("GET", "/staff/report.json", params={name: day})
    message: dict[str, Any] = {"subject": "Sortie", "body": "Texte", "audience": [{"kind": "group", "id": group_id}]}
    for when in BAD_AWARE_TIMES:
        sweep.call("POST", "/api/v1/messages", json={**message, "scheduled_at": when})
        slip = {"deadline": when, "questions": [{"kind": "yes_no", "text": "Vient-il ?"}]}
        sweep.call("POST", "/api/v1/messages", json={**message, "slip": slip})
    for audience in (
        {"kind": "group", "id": 2147483648},
        {"kind": "pupil", "id": 99999999999999999999},
        {"kind": "group", "id": "²"},
        {"kind": "group"},
    ):
        sweep.call("POST", "/api/v1/messages", json={**message, "audience": [audience]})
    for body in (DEEP_JSON, DEEP_OBJECT):
        for url in (
            "/portal/push/subscribe",
            "/portal/push/unsubscribe",
            "/hooks/telegram",
            "/api/v1/session",
            "/api/v1/messages",
            f"/api/v1/notices/{notice_id}/thread",
        ):
            sweep.call("POST", url, json_text=body)


# ------------------------------------------------------------------------------------------------- the test


async def _stored() -> dict[str, int]:
    return {
        "messages": await Message.all().count(),
        "notices": await Notice.all().count(),
        "read": await Notice.filter(first_read_at__isnull=False).count(),
        "deliveries": await Delivery.all().count(),
        "answers": await SlipResponse.all().count(),
        "acknowledgements": await Acknowledgement.all().count(),
        "contacts": await Contact.all().count(),
        **{
            f"audit {action}": n
            for action, n in Counter(
                # A read that succeeds is audited (hub.people.audit_log.READS): the entry is the read, not the input.
                await AuditEntry.exclude(action__endswith="login")
                .exclude(action__in=audit_log.READS)
                .values_list("action", flat=True)
            ).items()
        },
    }


def _as(site: Site, role: str, guardian_id: int) -> Sweep:
    """A sweep as this role, with the CSRF token its forms and API calls carry."""
    api = Api(site)
    if role == "anonymous":
        site.logout()
        return Sweep(site, csrf=site.csrf("/login"))
    if role == "guardian":
        api.sign_in_guardian(guardian_id)
    else:
        api.sign_in_staff(TEACHER if role == "teacher" else PRINCIPAL)
    return Sweep(site, csrf=api.csrf)


@pytest.mark.parametrize("role", ["anonymous", "teacher", "principal", "guardian"])
def test_no_bad_input_gives_a_5xx_or_stores_anything(site: Site, role: str) -> None:
    trip, _news = publish_demo(site)
    row = site.run(_notices, [trip])[0]
    group_id = min(site.run(_school_view, TEACHER)["taught"])
    sweep = _as(site, role, row["notice__guardian_id"])
    before = site.run(_stored)

    sweep_paths(sweep)
    sweep_queries_and_forms(sweep, group_id=group_id, notice_id=row["notice_id"], message_id=trip)

    assert sweep.requests > 500
    assert sweep.failures == [], f"{len(sweep.failures)} answers 5xx of {sweep.requests}: {sweep.failures[:20]}"
    assert site.run(_stored) == before


# ------------------------------------------------------------------------------------- the issue's cases


def test_the_issue_cases_answer_what_they_should(site: Site) -> None:
    trip, _news = publish_demo(site)
    row = site.run(_notices, [trip])[0]
    group_id = min(site.run(_school_view, TEACHER)["taught"])
    client = site.client
    for path in ("/n/" + "a" * 65, "/n/" + "a" * 65 + "/reply", "/n/" + "a" * 65 + "/attachments/1"):
        assert client.get(path).status_code == 404, path

    teacher = _as(site, "teacher", 0)
    assert client.get("/staff/messages/2147483648").status_code == 404
    assert client.get("/staff/compose", params={"draft": "²"}).status_code == 404
    assert client.get("/staff/messages", params={"page": "²"}).status_code == 200
    for name in ("scheduled_at", "slip_deadline"):
        form = {"subject": "Sortie", "body": "Texte", "group": str(group_id), name: "0001-01-01T00:00"}
        if name == "slip_deadline":
            form |= {"slip": "1", "q1_text": "Vient-il ?", "q1_kind": "yes_no"}
        assert teacher.call("POST", "/staff/compose", form=form) == 422, name
    message = {"subject": "Sortie", "body": "Texte", "audience": [{"kind": "group", "id": group_id}]}
    far = {**message, "scheduled_at": "9999-12-31T23:59:59-14:00"}
    assert teacher.call("POST", "/api/v1/messages", json=far) == 422
    assert teacher.call("POST", "/api/v1/messages", json={**message, "audience": [{"kind": "group"}]}) == 422
    huge = {**message, "audience": [{"kind": "group", "id": 2147483648}]}
    assert teacher.call("POST", "/api/v1/messages", json=huge) == 422
    assert client.get("/api/v1/pupils/99999999999999999999").status_code == 404

    guardian = _as(site, "guardian", row["notice__guardian_id"])
    assert client.get("/portal", params={"page": "²"}).status_code == 200
    assert client.get("/portal", params={"pupil": "²"}).status_code == 200
    assert guardian.call("POST", "/portal/push/unsubscribe", json_text=DEEP_JSON) == 400
    assert guardian.call("POST", "/portal/push/subscribe", json_text=DEEP_OBJECT) in (400, 404)
    assert not guardian.failures and not teacher.failures


def test_the_openapi_document_states_the_limits() -> None:
    from hub.web.api import openapi_document
    from hub.web.guard import MAX_ID

    document = openapi_document()
    schemas = document["components"]["schemas"]
    for item in document["paths"].values():
        for operation in item.values():
            for param in operation.get("parameters", ()):
                if param["in"] == "path":
                    assert param["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    audience = schemas["AudienceIn"]["oneOf"]
    school, member = audience
    assert school["properties"]["kind"]["const"] == "school" and "id" not in school["required"]
    assert member["required"] == ["kind", "id"] and member["properties"]["id"]["maximum"] == MAX_ID
    assert schemas["AnswerIn"]["properties"]["pupil_id"]["maximum"] == MAX_ID
    assert schemas["PostIn"]["properties"]["body"]["minLength"] == 1
    assert schemas["MessageIn"]["properties"]["body"]["minLength"] == 1
    assert schemas["SlipIn"]["properties"]["deadline"]["pattern"] == "^(19[0-9]{2}|2[0-9]{3})-"
    validator = pytest.importorskip("jsonschema")
    check = validator.Draft202012Validator({**schemas["AudienceIn"], "$defs": {}})
    assert not check.is_valid({"kind": "group"})
    assert check.is_valid({"kind": "group", "id": 3}) and check.is_valid({"kind": "school"})
    assert not check.is_valid({"kind": "pupil", "id": MAX_ID + 1})
