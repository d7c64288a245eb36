"""Web push from the portal: the page hands the school's VAPID key to ``push.js``, the browser's subscription is
POSTed with the CSRF token in a header, validated strictly (a malformed one is refused with nothing stored), kept
as a verified contact with the guardian's consent, and works: a push signed with the school's key reaches the
local push service. Unsubscribing removes it."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from channels.base import Rendered
from channels.peers.pushservice import PushServicePeer
from channels.webpush import WebPushAdapter, WebPushSettings
from hub.config import Settings
from hub.enums import ConsentPurpose, ContactKind
from hub.people.models import Consent, Contact, Guardian
from hub.store.audit import AuditEntry
from tests.web.conftest import Site, _serve

CHANNELS = "/portal/channels"
VAPID_CONTACT = "mailto:ecole@example.be"


@pytest.fixture
def push_site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=demo_db_url,
        base_url="http://testserver",
        vapid_key_file=str(tmp_path / "vapid.pem"),
        vapid_contact=VAPID_CONTACT,
    )
    yield from _serve(settings)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _subscription(endpoint: str = "https://push.example.net/send/abc", **keys: str) -> dict[str, Any]:
    p256dh = _b64(b"\x04" + os.urandom(64))
    return {
        "endpoint": endpoint,
        "expirationTime": None,
        "keys": {"p256dh": p256dh, "auth": _b64(os.urandom(16)), **keys},
    }


async def _push_rows(guardian_id: int) -> list[Contact]:
    return await Contact.filter(guardian_id=guardian_id, kind=ContactKind.WEBPUSH).order_by("id")


async def _push_values(guardian_id: int) -> list[str]:
    return [contact.value for contact in await _push_rows(guardian_id)]


class Browser:
    """What ``push.js`` does with the page: reads the key and the CSRF token, POSTs JSON with the header."""

    def __init__(self, site: Site) -> None:
        self.site = site
        page = site.client.get(CHANNELS).text
        key = re.search(r'data-key="([^"]+)"', page)
        csrf = re.search(r'data-csrf="([^"]+)"', page)
        assert key and csrf, "the page offers no web push"
        self.key, self.csrf = key.group(1), csrf.group(1)

    def post(self, path: str, body: bytes | str, csrf: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", "X-CSRF-Token": self.csrf if csrf is None else csrf}
        return self.site.client.post(path, content=body, headers=headers)


def _signed_in_guardian(site: Site) -> Guardian:
    guardian = site.run(lambda: Guardian.filter(erased_at__isnull=True).order_by("id").first())
    site.login_guardian(guardian.id)
    return guardian


def test_without_vapid_the_page_offers_no_push_and_the_endpoint_refuses(site: Site) -> None:
    guardian = _signed_in_guardian(site)
    before = site.run(_push_values, guardian.id)
    page = site.client.get(CHANNELS).text
    assert "push.js" not in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    response = site.client.post(
        "/portal/push/subscribe", content=json.dumps(_subscription()), headers={"X-CSRF-Token": csrf.group(1)}
    )
    assert response.status_code == 404
    assert site.run(_push_values, guardian.id) == before


def test_malformed_subscriptions_are_refused_and_nothing_is_stored(push_site: Site) -> None:
    guardian = _signed_in_guardian(push_site)
    browser = Browser(push_site)
    before = push_site.run(_push_values, guardian.id)
    consents_before = push_site.run(lambda: Consent.filter(guardian_id=guardian.id).count())
    malformed = [
        b"not json",
        b"[]",
        json.dumps({"keys": _subscription()["keys"]}),  # no endpoint
        json.dumps(_subscription("http://push.example.net/x")),  # plain http off the loopback
        json.dumps(_subscription("ftp://push.example.net/x")),
        json.dumps(_subscription(p256dh=_b64(b"\x04" + os.urandom(10)))),  # a key of the wrong length
        json.dumps(_subscription(p256dh=_b64(b"\x02" + os.urandom(64)))),  # not an uncompressed point
        json.dumps(_subscription(auth=_b64(os.urandom(8)))),
        json.dumps(_subscription(auth="not base64!")),
        json.dumps({"endpoint": "https://push.example.net/x", "keys": {"p256dh": 1, "auth": 2}}),
        b"{" + b" " * 5000 + b"}",  # too large
    ]
    for body in malformed:
        response = browser.post("/portal/push/subscribe", body)
        assert response.status_code == 400, body
        assert "error" in response.json()
    assert push_site.run(_push_values, guardian.id) == before
    assert push_site.run(lambda: Consent.filter(guardian_id=guardian.id).count()) == consents_before


def test_a_subscription_without_the_csrf_header_is_refused(push_site: Site) -> None:
    guardian = _signed_in_guardian(push_site)
    browser = Browser(push_site)
    before = push_site.run(_push_values, guardian.id)
    assert browser.post("/portal/push/subscribe", json.dumps(_subscription()), csrf="").status_code == 403
    assert browser.post("/portal/push/subscribe", json.dumps(_subscription()), csrf="forged").status_code == 403
    push_site.client.cookies.clear()  # signed out: sent to the sign-in page, nothing stored
    response = push_site.client.post(
        "/portal/push/subscribe", content=json.dumps(_subscription()), follow_redirects=False
    )
    assert response.status_code == 303
    assert push_site.run(_push_values, guardian.id) == before


def test_a_browser_subscribes_receives_a_push_and_unsubscribes(push_site: Site, tmp_path: Path) -> None:
    guardian = _signed_in_guardian(push_site)
    browser = Browser(push_site)
    before = push_site.run(_push_values, guardian.id)
    peer = PushServicePeer(vapid_public_key=browser.key)
    push_site.run(peer.start)
    try:
        subscription = peer.subscribe(application_server_key=browser.key)
        response = browser.post("/portal/push/subscribe", json.dumps(subscription))
        assert response.status_code == 201
        again = browser.post("/portal/push/subscribe", json.dumps(subscription))  # the same browser: one contact
        assert again.status_code == 201 and again.json() == response.json()
        rows = [row for row in push_site.run(_push_rows, guardian.id) if row.value not in before]
        assert len(rows) == 1 and rows[0].verified
        assert json.loads(rows[0].value)["endpoint"] == subscription["endpoint"]
        consent = push_site.run(
            lambda: Consent.filter(
                guardian_id=guardian.id, purpose=ConsentPurpose.WEBPUSH, withdrawn_at__isnull=True
            ).first()
        )
        assert consent is not None
        assert "Un navigateur" in push_site.client.get(CHANNELS).text

        # The stored subscription works with the school's key: the push service checks the VAPID signature.
        adapter = WebPushAdapter(WebPushSettings(str(tmp_path / "vapid.pem"), VAPID_CONTACT))
        message = Rendered(language="fr", subject="Sortie", text="Demain", link="http://testserver/n/abc")
        outcome = push_site.run(adapter.send, rows[0].value, message)
        push_site.run(adapter.close)
        assert outcome.ok, outcome.error
        assert [push.json["title"] for push in peer.to(subscription)] == ["Sortie"]
        assert peer.to(subscription)[0].vapid_key == browser.key

        gone = browser.post("/portal/push/unsubscribe", json.dumps({"endpoint": subscription["endpoint"]}))
        assert gone.status_code == 200 and gone.json() == {"removed": True}
        assert push_site.run(_push_values, guardian.id) == before
        unknown = browser.post("/portal/push/unsubscribe", json.dumps({"endpoint": "https://x.example/1"}))
        assert unknown.json() == {"removed": False}
        assert push_site.run(lambda: AuditEntry.filter(action="contact.push_subscribed").count()) == 2
    finally:
        push_site.run(peer.stop)
