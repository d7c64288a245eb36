"""Sign-in throttling cannot lock out the right person: an attacker guessing the principal's password from many
addresses is refused on each of them, while the principal, on her own address, signs in at once with her
password; on the pages and through the JSON API alike (:func:`hub.people.security.sign_in_refused`).

Each request here comes from the address a test names: the app is wrapped so that an ``X-Test-Client`` header
sets the connection's client address, as a request from another machine would. The product's clock stands at a
moment just after a quarter of an hour starts, running forward, so the counters' window cannot end mid-test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from hub import clock
from hub.config import Settings
from hub.demo.school import STAFF_DOMAIN
from hub.people.models import Throttle, WebSession
from hub.web import create_app
from hub.web.auth import SIGN_IN_LIMIT
from tests.web.conftest import Site

PRINCIPAL = f"direction@{STAFF_DOMAIN}"
TEACHER = f"prof.demo@{STAFF_DOMAIN}"
HOME = "198.51.100.7"  #: the principal's own address
ATTACKERS = [f"203.0.113.{n}" for n in range(1, SIGN_IN_LIMIT + 4)]  #: more addresses than the limit
#: A Tuesday, one minute into a quarter of an hour: the throttle's 15-minute window outlasts the test.
MOMENT = dt.datetime(2026, 3, 10, 9, 1, tzinfo=dt.UTC)


def _from_header(app: ASGIApp) -> ASGIApp:
    async def addressed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"x-test-client":
                    scope = {**scope, "client": (value.decode(), 50000)}
        await app(scope, receive, send)

    return addressed


@pytest.fixture
def site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The demo school's app, each request from the address its ``X-Test-Client`` header names."""
    settings = Settings(data_dir=tmp_path, database_url=demo_db_url, base_url="http://testserver")
    with (
        clock.using(clock.RunningClock(MOMENT)),
        TestClient(_from_header(create_app(settings)), base_url="http://testserver") as client,
    ):
        yield Site(client, settings)


def _page(site: Site, address: str, email: str, password: str) -> int:
    site.client.cookies.clear()
    response = site.post(
        "/login", {"email": email, "password": password}, form_page="/login", headers={"X-Test-Client": address}
    )
    if response.status_code == 429:
        assert "Trop de tentatives" in response.text
    return int(response.status_code)


def _api(site: Site, address: str, email: str, password: str) -> int:
    site.client.cookies.clear()
    response = site.client.post(
        "/api/v1/session",
        json={"kind": "staff", "email": email, "password": password},
        headers={"X-Test-Client": address},
    )
    if response.status_code == 429:
        assert "wait" in response.json()["error"]
    return int(response.status_code)


async def _counted(key: str) -> int:
    return sum(await Throttle.filter(key=key).values_list("count", flat=True))


async def _sessions() -> int:
    return await WebSession.filter(revoked_at__isnull=True).count()


@pytest.mark.parametrize("sign_in", [_page, _api], ids=["pages", "api"])
def test_an_attacker_on_many_addresses_cannot_lock_out_the_principal(site: Site, sign_in: Any) -> None:
    # Each attacker address guesses once: the account passes its limit (the later ones are still checked: 401).
    for address in ATTACKERS:
        assert sign_in(site, address, PRINCIPAL, f"guess from {address}") == 401
    assert site.run(_counted, f"staff-login:key:{PRINCIPAL}") == len(ATTACKERS) > SIGN_IN_LIMIT

    # The attacker's addresses are refused now, even with the right password (it is not checked).
    for address in ATTACKERS:
        assert sign_in(site, address, PRINCIPAL, "another guess") == 429
    assert sign_in(site, ATTACKERS[0], PRINCIPAL, "demo") == 429
    assert site.run(_sessions) == 0

    # The principal, from her own address, signs in at once with her password; more than once in the day.
    for _ in range(3):
        assert sign_in(site, HOME, PRINCIPAL, "demo") in {200, 303}
    assert site.run(_sessions) == 3
    # A fresh address with a wrong password is told so (401), and is then one of the refused ones.
    assert sign_in(site, "192.0.2.50", PRINCIPAL, "wrong") == 401
    assert sign_in(site, "192.0.2.50", PRINCIPAL, "demo") == 429
    # The principal's address is still fine, and the attacker's guesses never reached another account.
    assert sign_in(site, HOME, PRINCIPAL, "demo") in {200, 303}
    assert sign_in(site, ATTACKERS[0], TEACHER, "demo") in {200, 303}


@pytest.mark.parametrize("sign_in", [_page, _api], ids=["pages", "api"])
def test_one_address_guessing_is_refused_for_every_account(site: Site, sign_in: Any) -> None:
    guesser = "203.0.113.200"
    for n in range(SIGN_IN_LIMIT):
        assert sign_in(site, guesser, f"someone{n}@{STAFF_DOMAIN}", "password123") == 401
    # Past its limit, the address is refused whatever account it tries, the right password included...
    assert sign_in(site, guesser, TEACHER, "demo") == 429
    assert sign_in(site, guesser, PRINCIPAL, "demo") == 429
    # ... and nobody else is: those accounts were never failed on.
    assert sign_in(site, HOME, TEACHER, "demo") in {200, 303}


def test_the_pages_and_the_api_share_the_counters(site: Site) -> None:
    for address in ATTACKERS[:SIGN_IN_LIMIT]:
        assert _page(site, address, PRINCIPAL, "guess") == 401
    assert _api(site, ATTACKERS[0], PRINCIPAL, "demo") == 429
    assert _api(site, HOME, PRINCIPAL, "demo") == 200
