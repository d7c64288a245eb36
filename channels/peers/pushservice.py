"""A local Web Push service (aiohttp on 127.0.0.1), standing in for Mozilla's autopush or Google's FCM web push
endpoint, for the demo and the tests.

``async with PushServicePeer() as peer:`` serves at ``peer.base_url``. ``peer.subscribe()`` does what a browser
does on ``pushManager.subscribe()``: it makes an EC P-256 key pair and a 16-byte auth secret and returns the
PushSubscription (as a dict: ``json.dumps`` it to get the contact the hub stores).

``POST /push/{id}``
    * ``Authorization: vapid t=<JWT>, k=<public key>`` (RFC 8292) is required: the JWT must be ES256, signed
      by the key ``k``, with ``aud`` equal to this service's origin, ``exp`` in the future (and at most 24 h
      away) and a ``sub``. Missing or malformed: 401; a wrong signature or wrong claims: 403. When the peer was
      told the application server key (``vapid_public_key``, or per subscription via ``subscribe(...)``), a
      ``k`` other than that key is refused with 403 too, as real push services do.
    * ``Content-Encoding: aes128gcm`` (RFC 8291) and a ``TTL`` header are required (400 otherwise); the body is
      decrypted with the subscriber's private key and auth secret and stored in ``peer.received`` (a body that
      does not decrypt: 400). Over 4096 bytes: 413.
    * Unknown id: 404; ``peer.gone(id)``: 410; ``peer.fail_next(status, retry_after=None)``: the next push is
      refused with that status (and a ``Retry-After`` header).
    * Accepted: 201 with ``Location: <base_url>/message/<uuid>``.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from channels.peers.loopback import LoopbackServer

MAX_BODY = 4096


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(value: str) -> bytes:
    value = value.strip().rstrip("=")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@dataclass
class Subscriber:
    """One browser subscription: the private half stays here, as in a browser."""

    id: str
    private_key: ec.EllipticCurvePrivateKey
    auth_secret: bytes
    application_server_key: str | None = None
    gone: bool = False


@dataclass(frozen=True)
class ReceivedPush:
    subscription_id: str
    plaintext: bytes
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str
    message_id: str

    @property
    def json(self) -> Any:
        return json.loads(self.plaintext)


@dataclass(frozen=True)
class Refusal:
    subscription_id: str
    status: int
    reason: str


@dataclass
class PushServicePeer:
    #: If given, only pushes signed with this application server key (base64url) are accepted.
    vapid_public_key: str | None = None
    received: list[ReceivedPush] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    _subscribers: dict[str, Subscriber] = field(default_factory=dict)
    _failures: deque[tuple[int, float | None]] = field(default_factory=deque)
    _server: LoopbackServer = field(default_factory=lambda: LoopbackServer("push service"))

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def start(self) -> PushServicePeer:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/push/{id}", self._push)
        await self._server.serve(app)
        return self

    async def stop(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> PushServicePeer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------ controls

    def subscribe(self, application_server_key: str | None = None) -> dict[str, Any]:
        """A new PushSubscription, as ``PushSubscription.toJSON()`` gives it in a browser."""
        sub = Subscriber(
            id=uuid.uuid4().hex,
            private_key=ec.generate_private_key(ec.SECP256R1()),
            auth_secret=os.urandom(16),
            application_server_key=application_server_key,
        )
        self._subscribers[sub.id] = sub
        public = sub.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {
            "endpoint": f"{self.base_url}/push/{sub.id}",
            "expirationTime": None,
            "keys": {"p256dh": _b64url(public), "auth": _b64url(sub.auth_secret)},
        }

    def gone(self, subscription: str | dict[str, Any]) -> None:
        """That subscription was dropped (the browser unsubscribed): its endpoint answers 410 from now on."""
        self._subscribers[_id_of(subscription)].gone = True

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        self._failures.append((status, retry_after))

    def to(self, subscription: str | dict[str, Any]) -> list[ReceivedPush]:
        sid = _id_of(subscription)
        return [r for r in self.received if r.subscription_id == sid]

    # ------------------------------------------------------------------------------------------ the service

    def _refuse(self, sid: str, status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
        self.refused.append(Refusal(sid, status, reason))
        body = {"code": status, "errno": 0, "error": web.Response(status=status).reason, "message": reason}
        return web.json_response(body, status=status, headers=headers)

    def _check_vapid(self, header: str, sub: Subscriber) -> tuple[int, str, dict[str, Any], str]:
        """(0, "", claims, key) when the VAPID header is valid, else (status, reason, {}, "")."""
        scheme, _, params = header.partition(" ")
        if scheme.lower() != "vapid" or not params:
            return 401, "missing or non-VAPID Authorization header", {}, ""
        parts: dict[str, str] = {}
        for item in params.split(","):
            key, sep, value = item.strip().partition("=")
            if sep:
                parts[key.strip()] = value.strip()
        token, key_b64 = parts.get("t", ""), parts.get("k", "")
        if not token or not key_b64:
            return 401, "the VAPID Authorization header needs t= and k=", {}, ""
        try:
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64url(key_b64))
        except (ValueError, binascii.Error):
            return 401, "k= is not a P-256 public key", {}, ""
        expected_key = sub.application_server_key or self.vapid_public_key
        if expected_key and _unb64url(expected_key) != _unb64url(key_b64):
            return 403, "the VAPID key is not the application server key of this subscription", {}, ""
        try:
            header_fields = jwt.get_unverified_header(token)
            if header_fields.get("alg") != "ES256":
                return 401, f"the VAPID JWT must be ES256, got {header_fields.get('alg')!r}", {}, ""
            claims = jwt.decode(
                token,
                public,
                algorithms=["ES256"],
                audience=self.base_url,
                options={"require": ["aud", "exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            return 403, "the VAPID JWT has expired", {}, ""
        except jwt.InvalidAudienceError:
            return 403, f"the VAPID JWT's aud must be {self.base_url}", {}, ""
        except jwt.InvalidSignatureError:
            return 403, "the VAPID JWT signature does not match k=", {}, ""
        except jwt.MissingRequiredClaimError as exc:
            return 403, f"the VAPID JWT lacks a claim: {exc}", {}, ""
        except jwt.InvalidTokenError as exc:
            return 401, f"the VAPID JWT is malformed: {exc}", {}, ""
        if int(claims["exp"]) > time.time() + 24 * 3600:
            return 403, "the VAPID JWT's exp is more than 24 hours away", {}, ""
        if not str(claims.get("sub") or "").strip():
            return 403, "the VAPID JWT's sub is empty", {}, ""
        return 0, "", claims, key_b64

    async def _push(self, request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        sub = self._subscribers.get(sid)
        if sub is None:
            return self._refuse(sid, 404, "no such subscription")
        if sub.gone:
            return self._refuse(sid, 410, "the subscription has expired or was unsubscribed")
        status, reason, claims, vapid_key = self._check_vapid(request.headers.get("Authorization", ""), sub)
        if status:
            return self._refuse(sid, status, reason)
        if "TTL" not in request.headers:
            return self._refuse(sid, 400, "the TTL header is required")
        if request.headers.get("Content-Encoding", "").lower() != "aes128gcm":
            return self._refuse(sid, 400, "Content-Encoding must be aes128gcm")
        body = await request.read()
        if len(body) > MAX_BODY:
            return self._refuse(sid, 413, f"the payload is over {MAX_BODY} bytes")
        if self._failures:
            fail_status, retry_after = self._failures.popleft()
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else None
            return self._refuse(sid, fail_status, "failure injected by the test", headers)
        try:
            plaintext = http_ece.decrypt(
                body, private_key=sub.private_key, auth_secret=sub.auth_secret, version="aes128gcm"
            )
        except Exception as exc:  # http_ece raises ECEException, cryptography InvalidTag, ValueError...
            return self._refuse(sid, 400, f"the body does not decrypt: {type(exc).__name__}")
        message_id = uuid.uuid4().hex
        self.received.append(ReceivedPush(sid, plaintext, dict(request.headers), claims, vapid_key, message_id))
        return web.Response(status=201, headers={"Location": f"{self.base_url}/message/{message_id}"})


def _id_of(subscription: str | dict[str, Any]) -> str:
    if isinstance(subscription, dict):
        return str(subscription["endpoint"]).rsplit("/", 1)[-1]
    if subscription.startswith("{"):
        return str(json.loads(subscription)["endpoint"]).rsplit("/", 1)[-1]
    return subscription
