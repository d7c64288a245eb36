"""The JSON API: signing in, a guardian reading and answering, staff composing and following a message.

The authorization rules (another family's ids, a barred parent, a teacher of another class) are in
``test_api_authz.py``; the OpenAPI document in ``test_api_openapi.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import Response

from hub.demo.school import STAFF_DOMAIN, publish_demo_messages
from hub.enums import ActorKind, AudienceKind, GroupKind, StaffRole
from hub.messaging import composer
from hub.messaging.models import Acknowledgement, Message, Notice, NoticePupil, ReplySlip, SlipResponse
from hub.people import security
from hub.people.models import Group, Guardian, Guardianship, Pupil, Staff, Teaching, Throttle
from hub.records.models import Grade
from hub.store.audit import AuditEntry
from hub.web.auth import SIGN_IN_LIMIT
from hub.web.kit import Actor, now
from tests.web.conftest import Site

V1 = "/api/v1"
TEACHER = f"prof.demo@{STAFF_DOMAIN}"
PRINCIPAL = f"direction@{STAFF_DOMAIN}"


@dataclass
class Api:
    """The site's client speaking JSON, with the session's CSRF token once signed in."""

    site: Site
    csrf: str = ""
    actor: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, **kw: Any) -> Response:
        return self.site.client.get(V1 + path, **kw)

    def post(self, path: str, body: Any = None, *, csrf: bool = True, **kw: Any) -> Response:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return self.site.client.post(V1 + path, json=body, headers=headers, **kw)

    def delete(self, path: str, *, csrf: bool = True) -> Response:
        return self.site.client.delete(V1 + path, headers={"X-CSRF-Token": self.csrf} if csrf else {})

    def sign_in_staff(self, email: str, password: str = "demo") -> Api:
        self.site.client.cookies.clear()
        response = self.post("/session", {"kind": "staff", "email": email, "password": password}, csrf=False)
        assert response.status_code == 200, response.text
        self.csrf, self.actor = response.json()["csrf_token"], response.json()["actor"]
        return self

    def sign_in_guardian(self, guardian_id: int, *, by_link: bool = False) -> Api:
        """A guardian's session, then the API reads its CSRF token. ``by_link``: through a real personal link and
        the pages (throttled per client: a few per test); otherwise a session is started as a link would."""
        if by_link:
            self.site.login_guardian(guardian_id)
        else:
            self.site.client.cookies.clear()
            new = self.site.run(security.start_session, ActorKind.GUARDIAN, guardian_id, now())
            self.site.client.cookies.set("carnet_session", new.token)
        response = self.get("/session")
        assert response.status_code == 200, response.text
        self.csrf, self.actor = response.json()["csrf_token"], response.json()["actor"]
        return self

    def sign_out(self) -> None:
        self.site.client.cookies.clear()
        self.csrf, self.actor = "", {}


def count(site: Site, model: Any, **filters: Any) -> int:
    async def run() -> int:
        return await model.filter(**filters).count()

    return site.run(run)


def publish_demo(site: Site) -> list[int]:
    """The demo's two messages: the teacher's trip with a reply slip for 3A, the principal's news for all."""
    return site.run(publish_demo_messages, now())


async def _notices_of(message_id: int) -> list[dict[str, Any]]:
    return await Notice.filter(message_id=message_id).values("id", "guardian_id", "guardian__household_id")


def notices_of(site: Site, message_id: int) -> list[dict[str, Any]]:
    return site.run(_notices_of, message_id)


@pytest.fixture
def api(site: Site) -> Api:
    return Api(site)


# ------------------------------------------------------------------------------------------------ session


def test_staff_sign_in_gives_a_session_and_a_csrf_token(api: Api, site: Site) -> None:
    api.sign_in_staff(TEACHER)
    assert api.actor["kind"] == "staff" and api.actor["roles"] == ["teacher"]
    assert len(api.csrf) >= 32
    cookie = site.client.cookies.get("carnet_session")
    assert cookie
    assert api.get("/me").json()["id"] == api.actor["id"]
    assert api.get("/session").json()["csrf_token"] == api.csrf
    assert count(site, AuditEntry, action="staff.login", actor_id=api.actor["id"]) == 1
    # The same session opens the pages.
    assert site.client.get("/api").status_code == 200

    assert api.delete("/session").status_code == 204
    site.client.cookies.set("carnet_session", cookie)  # even a kept cookie is dead after sign-out
    assert api.get("/me").status_code == 401


def test_a_wrong_password_is_refused_and_audited(api: Api, site: Site) -> None:
    response = api.post("/session", {"kind": "staff", "email": TEACHER, "password": "nope"}, csrf=False)
    assert response.status_code == 401
    assert response.json() == {"error": "wrong email or password"}
    assert "carnet_session" not in response.headers.get("set-cookie", "")
    assert count(site, AuditEntry, action="staff.login_failed") == 1


def test_a_guardian_signs_in_with_a_password(api: Api, site: Site) -> None:
    async def give_password() -> tuple[int, str]:
        guardian = await Guardian.filter(contacts__kind="email", contacts__verified=True).order_by("id").first()
        assert guardian is not None
        guardian.password_hash = security.hash_password("long enough secret")
        await guardian.save(update_fields=["password_hash"])
        email = await guardian.contacts.filter(kind="email").first().values_list("value", flat=True)
        return guardian.id, str(email)

    guardian_id, email = site.run(give_password)
    wrong = api.post("/session", {"kind": "guardian", "email": email, "password": "not it at all"}, csrf=False)
    assert wrong.status_code == 401
    right = api.post("/session", {"kind": "guardian", "email": email, "password": "long enough secret"}, csrf=False)
    assert right.status_code == 200, right.text
    assert right.json()["actor"] == {**right.json()["actor"], "kind": "guardian", "id": guardian_id, "roles": []}
    # A guardian's password does not open a staff session.
    as_staff = api.post("/session", {"kind": "staff", "email": email, "password": "long enough secret"}, csrf=False)
    assert as_staff.status_code == 401


async def _attempts(key: str) -> int:
    return sum(await Throttle.filter(key=key).values_list("count", flat=True))


async def _at_the_limit(key: str) -> None:
    """The key's counter full in this quarter of an hour and the next (so a test crossing a window's end holds)."""
    window = 15 * 60
    start = int(now().timestamp()) // window * window
    for at in (start, start + window):
        when = dt.datetime.fromtimestamp(at, tz=dt.UTC)
        await Throttle.update_or_create(key=key, window_start=when, defaults={"count": SIGN_IN_LIMIT})


def test_sign_in_is_throttled_like_the_pages(api: Api, site: Site) -> None:
    key = f"staff-login:key:{TEACHER}"
    for _ in range(2):
        assert api.post("/session", {"kind": "staff", "email": TEACHER, "password": "x"}, csrf=False).status_code == 401
    assert site.run(_attempts, key) == 2  # the pages' counter: a script gets no more tries than a browser
    site.run(_at_the_limit, key)
    right = api.post("/session", {"kind": "staff", "email": TEACHER, "password": "demo"}, csrf=False)
    assert right.status_code == 429 and "wait" in right.json()["error"]
    assert "carnet_session" not in site.client.cookies
    assert site.post("/login", {"email": TEACHER, "password": "demo"}, form_page="/login").status_code == 429


def test_sign_in_takes_only_json_from_this_site(api: Api, site: Site) -> None:
    form = site.client.post(f"{V1}/session", data={"kind": "staff", "email": TEACHER, "password": "demo"})
    assert form.status_code == 415
    cross = site.client.post(
        f"{V1}/session",
        json={"kind": "staff", "email": TEACHER, "password": "demo"},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert "carnet_session" not in site.client.cookies
    bad = api.post("/session", {"kind": "pupil", "email": TEACHER, "password": "demo", "extra": 1}, csrf=False)
    assert bad.status_code == 422
    assert set(bad.json()["fields"]) == {"kind", "extra"}


# ------------------------------------------------------------------------------------------------ guardians


async def _separated_family_of(class_code: str) -> tuple[int, int, int]:
    """A pupil of ``class_code`` whose two guardians live in two households and may both answer: (pupil, a, b)."""
    group = await Group.get(kind=GroupKind.CLASS, code=class_code)
    for pupil_id in await group.memberships.all().order_by("pupil_id").values_list("pupil_id", flat=True):
        links = await Guardianship.filter(pupil_id=pupil_id, barred=False, may_answer=True).values(
            "guardian_id", "household_id"
        )
        households = {link["household_id"] for link in links}
        if len(links) == 2 and len(households) == 2:
            return pupil_id, links[0]["guardian_id"], links[1]["guardian_id"]
    raise AssertionError(f"no separated family in {class_code}")


async def _notice_of(message_id: int, guardian_id: int) -> int:
    return await Notice.get(message_id=message_id, guardian_id=guardian_id).values_list("id", flat=True)


def test_a_guardian_reads_answers_and_acknowledges(api: Api, site: Site) -> None:
    trip, _news = publish_demo(site)
    pupil, parent_a, parent_b = site.run(_separated_family_of, "3A")
    notice_a, notice_b = site.run(_notice_of, trip, parent_a), site.run(_notice_of, trip, parent_b)
    api.sign_in_guardian(parent_a, by_link=True)

    inbox = api.get("/notices").json()
    mine = {item["id"]: item for item in inbox["items"]}
    assert notice_a in mine and notice_b not in mine
    assert mine[notice_a]["has_slip"] and pupil in [p["id"] for p in mine[notice_a]["pupils"]]
    assert inbox["total"] == len(inbox["items"]) >= 2  # the trip and the school's news

    detail = api.get(f"/notices/{notice_a}").json()
    assert [q["kind"] for q in detail["slip"]["questions"]] == ["yes_no", "amount"]
    assert detail["slip"]["open"] and detail["may_answer_for"] == [pupil] and detail["answers"] == []
    assert count(site, Notice, id=notice_a, first_read_at__isnull=False) == 1

    wrong = api.post(f"/notices/{notice_a}/answers", {"pupil_id": pupil, "answers": {"1": "maybe", "2": 1, "9": 1}})
    assert wrong.status_code == 422
    assert set(wrong.json()["fields"]) == {"answers.1", "answers.9"}
    negative = api.post(f"/notices/{notice_a}/answers", {"pupil_id": pupil, "answers": {"1": True, "2": -1}})
    assert negative.status_code == 422 and set(negative.json()["fields"]) == {"answers.2", "signed_name"}
    unsigned = api.post(f"/notices/{notice_a}/answers", {"pupil_id": pupil, "answers": {"1": True, "2": 1}})
    assert unsigned.status_code == 422 and set(unsigned.json()["fields"]) == {"signed_name"}
    assert count(site, SlipResponse) == 0 and count(site, Acknowledgement, notice_id=notice_a) == 0

    body = {"pupil_id": pupil, "answers": {"1": True, "2": 2}, "signed_name": "Parent A"}
    answered = api.post(f"/notices/{notice_a}/answers", body)
    assert answered.status_code == 201, answered.text
    assert answered.json()["answers"] == {"1": "yes", "2": 2} and answered.json()["guardian_id"] == parent_a
    assert count(site, Acknowledgement, notice_id=notice_a) == 1  # answering proves reading
    assert api.get(f"/notices/{notice_a}").json()["answers"][0]["signed_name"] == "Parent A"

    # The other parent lives elsewhere: their own copy, which shows who answered (one answer per pupil, as in
    # the portal) and does not let them overwrite it.
    api.sign_in_guardian(parent_b)
    other = api.get(f"/notices/{notice_b}").json()
    assert [(a["guardian_id"], a["answers"]) for a in other["answers"]] == [(parent_a, {"1": "yes", "2": 2})]
    assert other["acknowledged_at"] is None
    late = api.post(f"/notices/{notice_b}/answers", {**body, "answers": {"1": False, "2": 0}})
    assert late.status_code == 409 and "already answered" in late.json()["error"]
    assert count(site, SlipResponse) == 1
    first = api.post(f"/notices/{notice_b}/acknowledge")
    again = api.post(f"/notices/{notice_b}/acknowledge")
    assert first.status_code == again.status_code == 200
    assert first.json()["acknowledged_at"] == again.json()["acknowledged_at"]
    assert count(site, AuditEntry, action="notice.acknowledged", subject_id=str(notice_b)) == 1


def test_a_closed_slip_takes_no_answer(api: Api, site: Site) -> None:
    trip, _news = publish_demo(site)
    pupil, parent, _other = site.run(_separated_family_of, "3A")
    site.run(_close_slip, trip)
    api.sign_in_guardian(parent)
    notice = site.run(_notice_of, trip, parent)
    assert api.get(f"/notices/{notice}").json()["slip"]["open"] is False
    body = {"pupil_id": pupil, "answers": {"1": False, "2": 0}, "signed_name": "P"}
    response = api.post(f"/notices/{notice}/answers", body)
    assert response.status_code == 409 and "closed" in response.json()["error"]
    assert count(site, SlipResponse) == 0


async def _close_slip(message_id: int) -> None:
    await ReplySlip.filter(message_id=message_id).update(deadline=now() - dt.timedelta(minutes=1))


def test_a_guardian_sees_published_records_of_their_children(api: Api, site: Site) -> None:
    pupil, parent, _other = site.run(_separated_family_of, "3A")
    api.sign_in_guardian(parent)
    children = api.get("/pupils").json()["items"]
    child = next(c for c in children if c["id"] == pupil)
    assert "3A" in [g["code"] for g in child["groups"]]

    grades = api.get(f"/pupils/{pupil}/grades").json()["items"]
    published = count(site, Grade, pupil_id=pupil, published_at__lte=now())
    assert len(grades) == published > 0
    assert all(g["published_at"] for g in grades)
    assert count(site, Grade, pupil_id=pupil) >= published
    journal = api.get(f"/pupils/{pupil}/journal").json()["items"]
    assert journal and {e["group"]["id"] for e in journal} <= {g["id"] for g in child["groups"]}
    assert api.get(f"/pupils/{pupil}/absences").status_code == 200
    assert api.get(f"/pupils/{pupil}/report-cards").json() == {"items": []}
    detail = api.get(f"/pupils/{pupil}").json()
    assert [g["id"] for g in detail["grades"]] == [g["id"] for g in grades]


def test_pages_of_notices(api: Api, site: Site) -> None:
    publish_demo(site)
    parent = site.run(_separated_family_of, "3A")[1]
    api.sign_in_guardian(parent)
    whole = api.get("/notices").json()
    one = api.get("/notices", params={"per_page": 1, "page": 2}).json()
    assert one["total"] == whole["total"] and one["items"] == whole["items"][1:2]
    bad = api.get("/notices", params={"per_page": 1000, "page": "x"})
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"page", "per_page"}


# ---------------------------------------------------------------------------------------------------- staff


async def _taught(email: str) -> set[int]:
    staff = await Staff.get(email=email)
    return set(await Teaching.filter(staff_id=staff.id).values_list("group_id", flat=True))


def _trip(audience: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "subject": "Sortie au théâtre",
        "body": "Nous irons voir une pièce le 10 décembre.",
        "audience": audience,
        "needs_acknowledgement": True,
        "slip": {
            "deadline": (now() + dt.timedelta(days=5)).isoformat(),
            "needs_signature": False,
            "reminder_hours": [24],
            "questions": [
                {"kind": "yes_no", "text": "Mon enfant participe."},
                {"kind": "one_choice", "text": "Repas", "choices": ["tartines", "repas chaud"], "required": False},
            ],
        },
        **extra,
    }


def test_a_teacher_composes_for_their_class_and_follows_it(api: Api, site: Site) -> None:
    taught = site.run(_taught, TEACHER)
    api.sign_in_staff(TEACHER)
    groups = api.get("/groups").json()["items"]
    assert {g["id"] for g in groups} == taught and all(g["taught"] and g["pupils"] > 0 for g in groups)
    klass = next(g for g in groups if g["kind"] == "class")
    pupils = api.get(f"/groups/{klass['id']}/pupils").json()["items"]
    assert len(pupils) == klass["pupils"]

    created = api.post("/messages", _trip([{"kind": "group", "id": klass["id"]}]))
    assert created.status_code == 201, created.text
    sent = created.json()
    assert sent["notices"] > 0 and sent["state"] == "published"
    assert count(site, AuditEntry, action="message.published", subject_id=str(sent["id"])) == 1
    assert sent["id"] in [m["id"] for m in api.get("/messages").json()["items"]]

    detail = api.get(f"/messages/{sent['id']}").json()
    assert detail["audience"] == [{"kind": "group", "id": klass["id"], "name": klass["name"]}]
    nothing_yet = {"delivered": 0, "read": 0, "acknowledged": 0, "answered": 0, "failed": 0}
    assert detail["counts"] == {"notices": sent["notices"], **nothing_yet}
    assert [q["choices"] for q in detail["slip"]["questions"]] == [[], ["tartines", "repas chaud"]]
    progress = api.get(f"/messages/{sent['id']}/progress").json()
    assert progress["total"] == sum(progress["states"].values()) >= sent["notices"]

    # A parent of the class answers through the API; the teacher sees it.
    notice = site.run(_any_notice, sent["id"])
    guardian = Api(site).sign_in_guardian(notice["guardian_id"])
    answer = guardian.post(
        f"/notices/{notice['id']}/answers", {"pupil_id": notice["pupil_id"], "answers": {"1": False}}
    )
    assert answer.status_code == 201, answer.text
    api.sign_in_staff(TEACHER)
    counts = api.get(f"/messages/{sent['id']}").json()["counts"]
    assert counts["answered"] == counts["acknowledged"] == counts["read"] == 1
    responses = api.get(f"/messages/{sent['id']}/responses", params={"per_page": 100}).json()
    assert responses["total"] == sent["notices"]
    row = next(r for r in responses["items"] if r["notice_id"] == notice["id"])
    assert row["answers"][0]["answers"] == {"1": "no"} and row["acknowledged_at"]


async def _any_notice(message_id: int) -> dict[str, Any]:
    """A notice of the message whose guardian may answer for its pupil."""
    for row in (
        await NoticePupil.filter(notice__message_id=message_id)
        .order_by("id")
        .values("notice_id", "pupil_id", "notice__guardian_id")
    ):
        if await Guardianship.filter(
            pupil_id=row["pupil_id"], guardian_id=row["notice__guardian_id"], may_answer=True, barred=False
        ).exists():
            return {"id": row["notice_id"], "pupil_id": row["pupil_id"], "guardian_id": row["notice__guardian_id"]}
    raise AssertionError("nobody may answer")


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"subject": "  "}, {"subject"}),
        ({"audience": []}, {"audience"}),
        ({"audience": [{"kind": "group"}]}, {"audience.0"}),
        ({"audience": [{"kind": "school", "id": 3}]}, {"audience.0"}),
        ({"colour": "red"}, {"colour"}),
        ({"urgency": "whenever"}, {"urgency"}),
        ({"scheduled_at": "2026-12-01T10:00:00"}, {"scheduled_at"}),  # no time zone
        ({"slip": {"deadline": "2030-01-01T10:00:00Z", "questions": []}}, {"slip.questions"}),
        (
            {"slip": {"deadline": "2030-01-01T10:00:00Z", "questions": [{"kind": "one_choice", "text": "?"}]}},
            {"slip.questions.0"},
        ),
        ({"needs_acknowledgement": "yes"}, {"needs_acknowledgement"}),
    ],
)
def test_an_invalid_message_is_refused_field_by_field(
    api: Api, site: Site, change: dict[str, Any], fields: set[str]
) -> None:
    klass = min(site.run(_taught, TEACHER))
    api.sign_in_staff(TEACHER)
    response = api.post("/messages", {**_trip([{"kind": "group", "id": klass}]), **change})
    assert response.status_code == 422, response.text
    assert set(response.json()["fields"]) == fields
    assert count(site, Message) == 0


def test_times_and_unknown_ids_are_checked(api: Api, site: Site) -> None:
    api.sign_in_staff(PRINCIPAL)
    past = _trip([{"kind": "school"}], scheduled_at=(now() - dt.timedelta(hours=1)).isoformat())
    past["slip"]["deadline"] = (now() - dt.timedelta(hours=2)).isoformat()
    response = api.post("/messages", past)
    assert response.status_code == 422 and set(response.json()["fields"]) == {"scheduled_at", "slip.deadline"}
    unknown = api.post("/messages", _trip([{"kind": "group", "id": 999_999}, {"kind": "pupil", "id": 999_999}]))
    assert unknown.status_code == 422 and set(unknown.json()["fields"]) == {"audience.0.id", "audience.1.id"}
    assert count(site, Message) == 0


def test_the_charter_decides_who_sends_an_emergency(api: Api, site: Site) -> None:
    klass = min(site.run(_taught, TEACHER))
    emergency = {**_trip([{"kind": "group", "id": klass}]), "urgency": "emergency", "urgency_reason": "Fuite de gaz"}
    api.sign_in_staff(TEACHER)
    refused = api.post("/messages", emergency)
    assert refused.status_code == 403 and "emergency" in refused.json()["error"]
    assert count(site, Message) == 0
    api.sign_in_staff(PRINCIPAL)
    sent = api.post("/messages", emergency)
    assert sent.status_code == 201, sent.text
    assert count(site, AuditEntry, action="message.emergency", subject_id=str(sent.json()["id"])) == 1


def test_the_principal_reads_every_message(api: Api, site: Site) -> None:
    trip, news = publish_demo(site)
    api.sign_in_staff(PRINCIPAL)
    assert {trip, news} <= {m["id"] for m in api.get("/messages").json()["items"]}
    groups = api.get("/groups").json()["items"]
    school = next(g for g in groups if g["kind"] == "school")
    assert school["pupils"] == count(site, Pupil, active=True) and not school["taught"]


# ------------------------------------------------------------------------------------------ the human page


@pytest.mark.parametrize(
    ("lang", "heading", "summary"),
    [
        ("en", "The Carnet API", "My children"),
        ("fr", "L’API de Carnet", "Mes enfants"),
        ("nl", "De API van Carnet", "Mijn kinderen"),
    ],
)
def test_the_api_page_lists_the_endpoints_in_three_languages(site: Site, lang: str, heading: str, summary: str) -> None:
    page = site.client.get(f"/api?lang={lang}")
    assert page.status_code == 200
    assert heading in page.text and summary in page.text
    assert "/api/v1/notices/{notice_id}/answers" in page.text and 'href="/api/openapi.json"' in page.text


def test_a_guardian_downloads_their_data(api: Api, site: Site) -> None:
    trip, _news = publish_demo(site)
    _pupil, parent, other = site.run(_separated_family_of, "3A")
    api.sign_in_guardian(parent)
    data = api.get("/me/export")
    assert data.status_code == 200, data.text
    assert data.json()["guardian"]["id"] == parent
    assert site.run(_notice_of, trip, parent) in [n["id"] for n in data.json()["notices"]]
    assert site.run(_notice_of, trip, other) not in [n["id"] for n in data.json()["notices"]]
    assert count(site, AuditEntry, action="guardian.data_exported", actor_id=parent) == 1
    api.sign_in_staff(PRINCIPAL)
    assert api.get("/me/export").status_code == 403


def test_the_whole_school_is_for_the_principal_and_administrators(api: Api, site: Site) -> None:
    """The composer's rule, the same in the API: the secretary writes to any class, not to the whole school."""
    api.sign_in_staff(f"secretariat@{STAFF_DOMAIN}")
    assert api.post("/messages", _trip([{"kind": "school"}])).status_code == 403
    klass = next(g["id"] for g in api.get("/groups").json()["items"] if g["kind"] == "class")
    assert api.post("/messages", _trip([{"kind": "group", "id": klass}])).status_code == 201
    assert count(site, Message) == 1


async def _answer_rights(message_id: int) -> dict[str, Any]:
    """On this message: a pupil both of whose notices' guardians may answer, and a guardian who may not."""
    rows = await NoticePupil.filter(notice__message_id=message_id).values(
        "notice_id", "pupil_id", "notice__guardian_id"
    )
    rights = {
        (link["guardian_id"], link["pupil_id"]): link["may_answer"]
        for link in await Guardianship.filter(barred=False).values("guardian_id", "pupil_id", "may_answer")
    }
    by_pupil: dict[int, list[tuple[int, int]]] = {}
    refused = None
    for row in rows:
        key = (row["notice__guardian_id"], row["pupil_id"])
        if rights.get(key):
            by_pupil.setdefault(row["pupil_id"], []).append((row["notice_id"], row["notice__guardian_id"]))
        elif refused is None:
            refused = {"notice": row["notice_id"], "guardian": key[0], "pupil": key[1]}
    pupil, pair = next((p, pair) for p, pair in by_pupil.items() if len(pair) == 2)
    return {"pupil": pupil, "pair": pair, "refused": refused}


def test_every_guardian_answers_and_who_may_not_is_refused(api: Api, site: Site) -> None:
    api.sign_in_staff(PRINCIPAL)
    message = _trip([{"kind": "school"}])
    message["slip"]["answer_mode"] = "every_guardian"
    sent = api.post("/messages", message)
    assert sent.status_code == 201, sent.text
    found = site.run(_answer_rights, sent.json()["id"])
    for notice, guardian in found["pair"]:  # both parents of one pupil answer: one answer each
        api.sign_in_guardian(guardian)
        body = {"pupil_id": found["pupil"], "answers": {"1": True, "2": "tartines"}}
        assert api.post(f"/notices/{notice}/answers", body).status_code == 201
    assert count(site, SlipResponse, pupil_id=found["pupil"]) == 2

    refused = found["refused"]
    assert refused, "the demo has guardians without the right to answer (step-parents, grandparents)"
    api.sign_in_guardian(refused["guardian"])
    detail = api.get(f"/notices/{refused['notice']}").json()
    assert refused["pupil"] not in detail["may_answer_for"]
    response = api.post(f"/notices/{refused['notice']}/answers", {"pupil_id": refused["pupil"], "answers": {"1": True}})
    assert response.status_code == 403
    assert count(site, SlipResponse, guardian_id=refused["guardian"]) == 0


async def _draft_of(email: str) -> int:
    """A draft saved from the composer's page, not sent."""
    staff = await Staff.get(email=email)
    roles = frozenset({StaffRole.PRINCIPAL})
    member = Actor(ActorKind.STAFF, staff.id, "", "fr", staff.school_id, 0, "", roles)  # type: ignore[attr-defined]
    draft = composer.Draft(subject="Brouillon", body="Pas encore.", audience=[composer.Term(AudienceKind.SCHOOL)])
    return (await composer.save_draft(member, draft, now=now())).id


def test_drafts_are_not_messages_yet(api: Api, site: Site) -> None:
    draft = site.run(_draft_of, PRINCIPAL)
    api.sign_in_staff(PRINCIPAL)
    assert api.get(f"/messages/{draft}").status_code == 404
    assert draft not in [m["id"] for m in api.get("/messages").json()["items"]]
