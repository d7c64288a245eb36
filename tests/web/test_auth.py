"""Signing in and out, over the real app: staff passwords, guardians' personal sign-in links (sent by real
SMTP), single use and expiry, CSRF, throttling, open redirects, and the language of the pages."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from channels.peers.smtp import Mailbox
from hub.demo.school import STAFF_DOMAIN
from hub.enums import ActorKind, ContactKind, LinkPurpose
from hub.people import security
from hub.people.models import Contact, SignInLink, WebSession
from hub.store.audit import AuditEntry
from tests.web.conftest import Site, mail_text

TEACHER = f"prof.demo@{STAFF_DOMAIN}"


def test_staff_sign_in_and_out(site: Site) -> None:
    page = site.client.get("/login")
    assert page.status_code == 200 and 'name="password"' in page.text
    response = site.post("/login", {"email": TEACHER, "password": "demo", "next": "/charter"}, form_page="/login")
    assert response.status_code == 303 and response.headers["location"] == "/charter"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Martine Denis" in site.client.get("/").text
    assert site.run(AuditEntry.filter(action="staff.login").count) == 1

    site.post("/logout")
    assert "Martine Denis" not in site.client.get("/").text
    assert site.run(WebSession.filter(revoked_at__isnull=True).count) == 0


def test_wrong_password_and_unknown_address_look_the_same(site: Site) -> None:
    wrong = site.post("/login", {"email": TEACHER, "password": "wrong"}, form_page="/login")
    unknown = site.post("/login", {"email": "nobody@example.be", "password": "wrong"}, form_page="/login")
    assert wrong.status_code == unknown.status_code == 401
    assert "ne correspondent à aucun compte actif" in wrong.text
    assert site.run(WebSession.all().count) == 0


async def _failures_in_this_and_the_next_window(key: str, count: int) -> None:
    """What ``count`` failed attempts leave behind, in the current 15-minute window and the next one (so the
    test does not depend on which side of a window's end it runs)."""
    start = security_now()
    for moment in (start, start + dt.timedelta(minutes=15)):
        for _ in range(count):
            await security.throttle(key, limit=0, window=dt.timedelta(minutes=15), now=moment)


def test_failed_sign_ins_are_throttled(site: Site) -> None:
    site.run(_failures_in_this_and_the_next_window, f"staff-login:key:{TEACHER}", 9)
    assert site.post("/login", {"email": TEACHER, "password": "x"}, form_page="/login").status_code == 401
    blocked = site.post("/login", {"email": TEACHER, "password": "demo"}, form_page="/login")
    assert blocked.status_code == 429 and "Trop de tentatives" in blocked.text  # the right password is not checked
    assert site.run(WebSession.all().count) == 0
    # Another account is not blocked by this account's failures.
    other = site.post("/login", {"email": f"direction@{STAFF_DOMAIN}", "password": "demo"}, form_page="/login")
    assert other.status_code == 303


def test_successful_sign_ins_are_not_counted(site: Site) -> None:
    for _ in range(12):  # a school signs in all day long from one address
        site.login_staff(TEACHER)
    assert site.post("/login", {"email": TEACHER, "password": "x"}, form_page="/login").status_code == 401


def test_a_form_without_its_csrf_token_is_refused(site: Site) -> None:
    response = site.client.post("/login", data={"email": TEACHER, "password": "demo"}, follow_redirects=False)
    assert response.status_code == 403
    forged = site.client.post(
        "/login",
        data={"email": TEACHER, "password": "demo", "csrf_token": site.csrf("/login")},
        headers={"origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert site.run(WebSession.all().count) == 0


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example"])
def test_next_never_leaves_the_site(site: Site, target: str) -> None:
    response = site.post("/login", {"email": TEACHER, "password": "demo", "next": target}, form_page="/login")
    assert response.status_code == 303 and response.headers["location"] == "/staff"


def test_staff_pages_need_a_staff_session(site: Site) -> None:
    response = site.client.get("/staff", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=/staff"


async def _verified_email(guardian_id: int | None = None) -> tuple[int, str]:
    query = Contact.filter(kind=ContactKind.EMAIL, verified=True, dead_at__isnull=True)
    if guardian_id:
        query = query.filter(guardian_id=guardian_id)
    contact = await query.order_by("id").first()
    assert contact is not None
    return contact.guardian_id, contact.value  # type: ignore[attr-defined]


def test_a_personal_link_is_single_use_and_bound_to_its_guardian(site: Site) -> None:
    guardian_id, _ = site.run(_verified_email)
    token = site.run(security.create_sign_in_link, guardian_id, security_now())
    opened = site.client.get(f"/s/{token}")
    assert opened.status_code == 200 and f'action="/s/{token}"' in opened.text
    assert site.run(SignInLink.filter(used_at__isnull=False).count) == 0  # opening does not use it (mail scanners)

    used = site.post(f"/s/{token}", form_page=f"/s/{token}")
    assert used.status_code == 303 and used.headers["location"] == "/portal"
    session = site.run(WebSession.filter(revoked_at__isnull=True).first)
    assert session.actor_kind == ActorKind.GUARDIAN and session.guardian_id == guardian_id

    site.client.cookies.clear()
    again = site.post(f"/s/{token}", form_page="/signin")
    assert again.status_code == 410
    assert site.run(WebSession.all().count) == 1


def test_an_expired_or_unknown_link_is_refused(site: Site) -> None:
    guardian_id, _ = site.run(_verified_email)
    old = security_now() - dt.timedelta(minutes=16)
    token = site.run(security.create_sign_in_link, guardian_id, old)
    assert site.client.get(f"/s/{token}").status_code == 410
    assert site.post(f"/s/{token}", form_page="/signin").status_code == 410
    assert site.post("/s/not-a-token", form_page="/signin").status_code == 410
    assert site.run(WebSession.all().count) == 0


def test_the_onboarding_link_lasts_weeks_and_opens_onboarding(site: Site) -> None:
    guardian_id, _ = site.run(_verified_email)
    month_ago = security_now() - dt.timedelta(days=30)
    token = site.run(security.create_sign_in_link, guardian_id, month_ago, LinkPurpose.ONBOARDING)
    response = site.post(f"/s/{token}", form_page=f"/s/{token}")
    assert response.status_code == 303 and response.headers["location"] == "/portal/onboarding"


def test_sessions_end_when_idle_or_old() -> None:
    start = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    assert security.SESSION_IDLE[ActorKind.STAFF] < security.SESSION_LIFETIME[ActorKind.STAFF]
    assert security.SESSION_IDLE[ActorKind.GUARDIAN] < security.SESSION_LIFETIME[ActorKind.GUARDIAN]
    assert start + security.SESSION_LIFETIME[ActorKind.STAFF] == dt.datetime(2026, 11, 23, 21, tzinfo=dt.UTC)


async def test_a_session_expires_when_idle_and_at_its_end(db: str) -> None:
    from hub.demo.school import generate_demo
    from hub.people.models import Staff

    await generate_demo(2026)
    staff = await Staff.get(email=TEACHER)
    start = dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC)
    new = await security.start_session(ActorKind.STAFF, staff.id, start)
    assert await security.find_session(new.token, start + dt.timedelta(minutes=90)) is not None
    # Seen at 10:30, so idle only from then on: still alive at 12:00, gone at 12:31.
    assert await security.find_session(new.token, start + dt.timedelta(hours=3)) is not None
    assert await security.find_session(new.token, start + dt.timedelta(hours=5, minutes=1)) is None
    other = await security.start_session(ActorKind.STAFF, staff.id, start)
    for hours in range(1, 12):
        assert await security.find_session(other.token, start + dt.timedelta(hours=hours)) is not None
    assert await security.find_session(other.token, start + dt.timedelta(hours=12)) is None
    assert await security.find_session("forged", start) is None


def test_a_link_is_sent_by_real_email(site_with_smtp: tuple[Site, Mailbox]) -> None:
    site, mailbox = site_with_smtp
    _, email = site.run(_verified_email)
    page = site.post("/signin/link", {"address": email.upper()}, form_page="/signin")
    assert page.status_code == 200 and email.upper() in page.text
    received = mailbox.to(email)
    assert len(received) >= 1
    body = mail_text(received[-1])
    link = re.search(r"http://testserver/s/([A-Za-z0-9_-]+)", body)
    assert link, body
    assert site.post(f"/s/{link.group(1)}", form_page="/signin").status_code == 303

    unknown = site.post("/signin/link", {"address": "nobody@example.be"}, form_page="/signin")
    assert unknown.status_code == 200  # the same answer: the page does not tell who is a parent here
    assert site.run(SignInLink.all().count) == len(mailbox.messages)


def test_pages_speak_the_language_asked(site: Site) -> None:
    assert "Connexion du personnel" in site.client.get("/login").text
    assert "Aanmelden personeel" in site.client.get("/login?lang=nl").text
    assert "Aanmelden personeel" in site.client.get("/login").text  # kept in a cookie
    assert "Staff sign-in" in site.client.get("/login?lang=en").text


def security_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
