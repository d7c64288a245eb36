"""The JSON API: signing in, a guardian reading and answering, staff composing and following a message.

The authorization rules (another family's ids, a barred parent, a teacher of another class) are in
``test_api_authz.py``; the OpenAPI document in ``test_api_openapi.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import Response

from hub import security
from hub.demo import STAFF_DOMAIN, publish_demo_messages
from hub.models import (
    AuditEntry,
    Guardian,
    Notice,
)
from hub.web.auth import SIGN_IN_LIMIT
from hub.web.kit import now
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

    def sign_in_guardian(self, guardian_id: int) -> Api:
        """A guardian signs in by a personal link (the pages), then the API reads the session's CSRF token."""
        self.site.login_guardian(guardian_id)
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


def test_sign_in_is_throttled_like_the_pages(api: Api) -> None:
    body = {"kind": "staff", "email": TEACHER, "password": "wrong"}
    codes = [api.post("/session", body, csrf=False).status_code for _ in range(SIGN_IN_LIMIT)]
    assert codes == [401] * SIGN_IN_LIMIT
    # Past the limit even the right password waits.
    right = api.post("/session", {**body, "password": "demo"}, csrf=False)
    assert right.status_code == 429
    assert "wait" in right.json()["error"]


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
