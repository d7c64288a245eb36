"""Web push through the real pywebpush (aes128gcm + VAPID) to a local push service on 127.0.0.1 that checks the
VAPID signature and decrypts the payload with the subscriber's private key, as a browser's push service does."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from py_vapid import Vapid

from channels.base import Rendered
from channels.peers.pushservice import PushServicePeer
from channels.webpush import (
    DEFAULT_RETRY_AFTER,
    InvalidSubscription,
    WebPushAdapter,
    WebPushSettings,
    ensure_vapid_keys,
    parse_subscription,
    push_payload,
)
from hub.enums import Channel, DeliveryState, ErrorKind

CONTACT = "mailto:secretariat@athenee-demo.be"
MESSAGE = Rendered(
    language="fr",
    subject="Excursion à Namur",
    text="Départ jeudi à 8 h 15, retour vers 17 h.",
    link="https://carnet.example.be/n/abc123",
)


@pytest.fixture
async def peer() -> AsyncIterator[PushServicePeer]:
    async with PushServicePeer() as p:
        yield p


@pytest.fixture
def settings(tmp_path: Path) -> WebPushSettings:
    return WebPushSettings(vapid_private_key_path=tmp_path / "vapid" / "private.pem", vapid_contact=CONTACT)


@pytest.fixture
async def adapter(settings: WebPushSettings) -> AsyncIterator[WebPushAdapter]:
    a = WebPushAdapter(settings)
    yield a
    await a.close()


async def test_message_arrives_decrypted(peer: PushServicePeer, adapter: WebPushAdapter) -> None:
    peer.vapid_public_key = adapter.public_key
    sub = peer.subscribe()
    outcome = await adapter.send(json.dumps(sub), MESSAGE)
    assert adapter.channel is Channel.WEBPUSH
    assert outcome.state is DeliveryState.SENT and outcome.ok
    [got] = peer.to(sub)
    assert outcome.provider_id == f"{peer.base_url}/message/{got.message_id}"
    assert got.json == {"title": MESSAGE.subject, "body": MESSAGE.text, "url": MESSAGE.link, "lang": "fr"}
    assert got.headers["Content-Encoding"] == "aes128gcm"
    assert got.claims["sub"] == CONTACT and got.claims["aud"] == peer.base_url
    assert got.vapid_key == adapter.public_key


async def test_two_subscriptions_each_get_their_own(peer: PushServicePeer, adapter: WebPushAdapter) -> None:
    a, b = peer.subscribe(), peer.subscribe()
    assert (await adapter.send(json.dumps(a), MESSAGE)).ok
    other = Rendered(language="nl", subject="Uitstap", text="Donderdag", link="https://x.example/n/2")
    assert (await adapter.send(json.dumps(b), other)).ok
    assert [r.json["lang"] for r in peer.to(a)] == ["fr"]
    assert [r.json["title"] for r in peer.to(b)] == ["Uitstap"]


async def test_wrong_vapid_key_is_refused_and_contact_kept(
    peer: PushServicePeer, adapter: WebPushAdapter, tmp_path: Path
) -> None:
    """The subscription was made with another application server key: the service answers 403. That is our
    configuration, not the browser's subscription: permanent (fall back), contact NOT dead."""
    _, other_key = ensure_vapid_keys(tmp_path / "other.pem")
    sub = peer.subscribe(application_server_key=other_key)
    outcome = await adapter.send(json.dumps(sub), MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact
    assert "403" in outcome.error and "VAPID" in outcome.error
    assert peer.received == [] and [r.status for r in peer.refused] == [403]


async def test_peer_checks_the_signature_itself(peer: PushServicePeer, tmp_path: Path) -> None:
    """A JWT signed by one key but presented with another k= fails the signature check (403); no header: 401."""
    sub = peer.subscribe()
    signer = Vapid()
    signer.generate_keys()
    _, other_b64 = ensure_vapid_keys(tmp_path / "k2.pem")
    auth = signer.sign({"sub": CONTACT, "aud": peer.base_url})["Authorization"]
    forged = auth.rsplit("k=", 1)[0] + "k=" + other_b64
    async with aiohttp.ClientSession() as session:
        headers = {"TTL": "60", "Content-Encoding": "aes128gcm"}
        async with session.post(sub["endpoint"], data=b"x", headers={**headers, "Authorization": forged}) as r:
            assert r.status == 403
        async with session.post(sub["endpoint"], data=b"x", headers=headers) as r:
            assert r.status == 401
        wrong_aud = signer.sign({"sub": CONTACT, "aud": "https://elsewhere.example"})["Authorization"]
        async with session.post(sub["endpoint"], data=b"x", headers={**headers, "Authorization": wrong_aud}) as r:
            assert r.status == 403
    assert peer.received == []
    assert "signature" in peer.refused[0].reason


async def test_gone_subscription_is_dead(peer: PushServicePeer, adapter: WebPushAdapter) -> None:
    sub = peer.subscribe()
    peer.gone(sub)
    outcome = await adapter.send(json.dumps(sub), MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact
    assert "410" in outcome.error


async def test_unknown_endpoint_is_dead(peer: PushServicePeer, adapter: WebPushAdapter) -> None:
    sub = peer.subscribe()
    sub["endpoint"] = f"{peer.base_url}/push/nobody"
    outcome = await adapter.send(json.dumps(sub), MESSAGE)
    assert outcome.dead_contact and "404" in outcome.error


@pytest.mark.parametrize(
    ("status", "retry_after", "kind", "expected_retry"),
    [
        (429, 12, ErrorKind.TRANSIENT, 12.0),
        (429, None, ErrorKind.TRANSIENT, DEFAULT_RETRY_AFTER),
        (503, None, ErrorKind.TRANSIENT, None),
        (500, None, ErrorKind.TRANSIENT, None),
        (413, None, ErrorKind.PERMANENT, None),
        (400, None, ErrorKind.PERMANENT, None),
    ],
)
async def test_refusals_are_classified(
    peer: PushServicePeer,
    adapter: WebPushAdapter,
    status: int,
    retry_after: int | None,
    kind: ErrorKind,
    expected_retry: float | None,
) -> None:
    sub = peer.subscribe()
    peer.fail_next(status, retry_after=retry_after)
    outcome = await adapter.send(json.dumps(sub), MESSAGE)
    assert outcome.error_kind is kind and not outcome.dead_contact
    assert outcome.retry_after == expected_retry
    assert str(status) in outcome.error
    assert (await adapter.send(json.dumps(sub), MESSAGE)).ok  # the next one goes through


async def test_payload_too_large_is_permanent(peer: PushServicePeer, adapter: WebPushAdapter) -> None:
    sub = peer.subscribe()
    big = Rendered(language="fr", subject="x", text="é" * 3000)
    outcome = await adapter.send(json.dumps(sub), big)
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact and "413" in outcome.error


async def test_unreachable_service_is_transient(peer: PushServicePeer, adapter: WebPushAdapter) -> None:
    sub = peer.subscribe()
    await peer.stop()
    outcome = await adapter.send(json.dumps(sub), MESSAGE)
    assert outcome.error_kind is ErrorKind.TRANSIENT and "unreachable" in outcome.error


def _sub(endpoint: str = "https://push.example/x", p256dh: str | None = None, auth: str | None = None) -> dict:
    def b64(n: int, first: bytes = b"\x04") -> str:
        return base64.urlsafe_b64encode(first + b"\x01" * (n - 1)).rstrip(b"=").decode()

    return {"endpoint": endpoint, "keys": {"p256dh": p256dh or b64(65), "auth": auth or b64(16)}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"keys": _sub()["keys"]}), "no endpoint"),
        (json.dumps(_sub(endpoint="ftp://push.example/x")), "https"),
        (json.dumps(_sub(endpoint="http://push.example/x")), "https"),
        (json.dumps({"endpoint": "https://push.example/x"}), "no keys"),
        (json.dumps({"endpoint": "https://push.example/x", "keys": {"auth": _sub()["keys"]["auth"]}}), "p256dh"),
        (json.dumps({"endpoint": "https://push.example/x", "keys": {"p256dh": _sub()["keys"]["p256dh"]}}), "auth"),
        (json.dumps(_sub(p256dh="BAAA")), "65 bytes"),
        (json.dumps(_sub(auth="AAAAAAAAAAAAAAAAAAAAAAAAAAAA")), "16 bytes"),
        (json.dumps(_sub(p256dh="not base64!")), "base64url"),
        (json.dumps(_sub(p256dh="A" * 87)), "uncompressed"),
    ],
)
def test_malformed_subscriptions_are_refused(value: str, message: str) -> None:
    with pytest.raises(InvalidSubscription, match=message):
        parse_subscription(value)


def test_valid_subscription_is_normalised() -> None:
    sub = _sub()
    assert parse_subscription(json.dumps({**sub, "expirationTime": None})) == sub
    assert parse_subscription(json.dumps(_sub(endpoint="http://127.0.0.1:9/push/a")))["endpoint"].startswith("http:")


@pytest.mark.parametrize("value", ["not json", json.dumps(_sub(auth="AAAA"))])
async def test_malformed_subscription_sends_nothing(peer: PushServicePeer, adapter: WebPushAdapter, value: str) -> None:
    outcome = await adapter.send(value, MESSAGE)
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.error.startswith("webpush:")
    assert peer.received == [] and peer.refused == []


def test_keys_are_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "vapid.pem"
    first_path, first_key = ensure_vapid_keys(path)
    assert first_path == path and path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_bytes()
    assert b"BEGIN PRIVATE KEY" in content
    again_path, again_key = ensure_vapid_keys(path)
    assert (again_path, again_key) == (first_path, first_key) and path.read_bytes() == content
    assert len(first_key) == 87  # 65 bytes base64url without padding


async def test_adapter_reuses_the_key_file(settings: WebPushSettings, peer: PushServicePeer) -> None:
    a = WebPushAdapter(settings)
    b = WebPushAdapter(settings)
    try:
        assert a.public_key == b.public_key
        peer.vapid_public_key = a.public_key
        assert (await b.send(json.dumps(peer.subscribe()), MESSAGE)).ok
    finally:
        await a.close()
        await b.close()


def test_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.pem"
    path.write_text("garbage")
    with pytest.raises(ValueError, match="not a readable VAPID private key"):
        ensure_vapid_keys(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vapid_contact": "secretariat@athenee-demo.be"}, "mailto"),
        ({"vapid_contact": "mailto:"}, "mailto"),
        ({"vapid_private_key_path": ""}, "required"),
        ({"ttl": -1}, "ttl"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_settings_are_validated(tmp_path: Path, kwargs: dict, message: str) -> None:
    base: dict = {"vapid_private_key_path": tmp_path / "k.pem", "vapid_contact": CONTACT}
    with pytest.raises(ValueError, match=message):
        WebPushSettings(**{**base, **kwargs})


def test_payload_shape() -> None:
    assert json.loads(push_payload(MESSAGE)) == {
        "title": "Excursion à Namur",
        "body": "Départ jeudi à 8 h 15, retour vers 17 h.",
        "url": "https://carnet.example.be/n/abc123",
        "lang": "fr",
    }
