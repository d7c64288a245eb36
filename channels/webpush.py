"""Web push (RFC 8030) to the browsers of families, encrypted per RFC 8291 (aes128gcm) and signed with VAPID
(RFC 8292), through the real ``pywebpush`` library (its aiohttp ``webpush_async``).

Keys
    :func:`ensure_vapid_keys` creates the school's VAPID key pair (EC P-256) once, in a PEM file readable by
    the owner only (0600), and returns the existing one on every later call: the public key is what browsers
    subscribed with, so it must never change behind their back.

Subscriptions
    The contact is the browser's ``PushSubscription`` as JSON (``{"endpoint": ..., "keys": {"p256dh": ...,
    "auth": ...}}``). :func:`parse_subscription` validates it (an https endpoint, or http on 127.0.0.1 for the
    local peer; p256dh an uncompressed P-256 point of 65 bytes, auth a 16-byte secret, both base64url) and
    raises :class:`InvalidSubscription` with a clear message. The adapter turns that into a permanent outcome
    without sending anything; the contact is marked dead, since a malformed subscription can never work.

Payload
    ``{"title", "body", "url", "lang"}`` as JSON: the service worker shows title and body and opens ``url``
    (the guardian's personal link) on click.

Outcomes
    * 201/202 (and any 2xx): SENT, with the ``Location`` header (the push message resource) as provider id.
    * 404/410: permanent and the contact is dead (the subscription expired or was unsubscribed: remove it).
    * 413: permanent, contact kept (the payload is too large; the subscription is fine).
    * 429: transient, ``retry_after`` from ``Retry-After`` (seconds or an HTTP date; else
      :data:`DEFAULT_RETRY_AFTER`).
    * 5xx, timeouts, connection errors: transient.
    * 401/403 (the push service refused our VAPID signature): permanent, contact kept. It is our key or claims
      that are wrong, not the browser's subscription, so the subscription must not be deleted; every push
      would fail the same way, so retrying only delays the fallback channel, and the logged error tells the
      administrator to look at the VAPID configuration.
    * Any other 4xx: permanent, contact kept.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from channels.base import ChannelAdapter, Outcome, Rendered, retry_after_seconds
from hub.enums import Channel

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "InvalidSubscription",
    "WebPushAdapter",
    "WebPushSettings",
    "classify_push_status",
    "ensure_vapid_keys",
    "parse_subscription",
    "push_payload",
]

#: Seconds to wait after a 429 that came without a usable Retry-After header.
DEFAULT_RETRY_AFTER = 60.0
P256DH_LENGTH = 65  #: an uncompressed P-256 point: 0x04, x, y
AUTH_LENGTH = 16
_MAILTO_RE = re.compile(r"^mailto:[^@\s]+@[^@\s]+$")
_B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


class InvalidSubscription(ValueError):
    """The contact is not a usable PushSubscription."""


@dataclass(frozen=True)
class WebPushSettings:
    #: The VAPID private key (PEM), created by :func:`ensure_vapid_keys` on first use.
    vapid_private_key_path: Path | str
    #: Who the push services contact about our traffic: "mailto:..." (or an https URL).
    vapid_contact: str
    #: Seconds a push service keeps a message for an offline browser.
    ttl: int = 24 * 3600
    #: Seconds for one request to a push service.
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not str(self.vapid_private_key_path or "").strip():
            raise ValueError("webpush: vapid_private_key_path is required")
        contact = self.vapid_contact or ""
        if not (_MAILTO_RE.fullmatch(contact) or re.fullmatch(r"https://[^\s/]+(/\S*)?", contact)):
            raise ValueError(
                f"webpush: vapid_contact must be a mailto: address (or an https URL), got {self.vapid_contact!r}"
            )
        if not isinstance(self.ttl, int) or self.ttl < 0:
            raise ValueError(f"webpush: ttl must be a whole number of seconds >= 0, got {self.ttl!r}")
        if not self.timeout > 0:
            raise ValueError(f"webpush: timeout must be > 0 seconds, got {self.timeout}")


# ------------------------------------------------------------------------------------------------- keys


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_key_b64url(vapid: Vapid) -> str:
    raw = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _b64url(raw)


def _load_vapid(path: Path) -> Vapid:
    try:
        return Vapid.from_pem(path.read_bytes())
    except Exception as exc:  # py_vapid / cryptography raise several kinds
        raise ValueError(f"webpush: {path} is not a readable VAPID private key (PEM): {exc}") from exc


def ensure_vapid_keys(path: Path | str) -> tuple[Path, str]:
    """The VAPID key pair at ``path``, created (0600) if missing: ``(private PEM path, public key base64url)``.

    The public key is what a browser's ``pushManager.subscribe({applicationServerKey})`` takes."""
    path = Path(path)
    if not path.exists():
        vapid = Vapid()
        vapid.generate_keys()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created meanwhile by another process: keep theirs
            return path, _public_key_b64url(_load_vapid(path))
        with os.fdopen(fd, "wb") as handle:
            handle.write(vapid.private_pem())
        return path, _public_key_b64url(vapid)
    return path, _public_key_b64url(_load_vapid(path))


# ------------------------------------------------------------------------------------------------ subscriptions


def _decode_key(keys: Mapping[str, Any], name: str, length: int) -> None:
    value = keys.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidSubscription(f"webpush: the subscription has no keys.{name}")
    if not _B64URL_RE.fullmatch(value):
        raise InvalidSubscription(f"webpush: keys.{name} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(value.rstrip("=") + "=" * (-len(value.rstrip("=")) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidSubscription(f"webpush: keys.{name} is not base64url: {exc}") from exc
    if len(raw) != length:
        raise InvalidSubscription(f"webpush: keys.{name} must decode to {length} bytes, got {len(raw)}")
    if name == "p256dh" and raw[0] != 0x04:
        raise InvalidSubscription("webpush: keys.p256dh must be an uncompressed P-256 point (starting 0x04)")


def parse_subscription(value: str) -> dict[str, Any]:
    """The PushSubscription JSON as a dict ``{"endpoint", "keys": {"p256dh", "auth"}}``, validated."""
    try:
        data = json.loads(value)
    except (TypeError, ValueError) as exc:
        raise InvalidSubscription(f"webpush: the subscription is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidSubscription("webpush: the subscription must be a JSON object")
    endpoint = data.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise InvalidSubscription("webpush: the subscription has no endpoint")
    parts = urlsplit(endpoint)
    if not parts.hostname or not (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname == "127.0.0.1")
    ):
        raise InvalidSubscription(f"webpush: the endpoint must be an https URL, got {endpoint!r}")
    keys = data.get("keys")
    if not isinstance(keys, dict):
        raise InvalidSubscription("webpush: the subscription has no keys")
    _decode_key(keys, "p256dh", P256DH_LENGTH)
    _decode_key(keys, "auth", AUTH_LENGTH)
    return {"endpoint": endpoint, "keys": {"p256dh": keys["p256dh"], "auth": keys["auth"]}}


# ------------------------------------------------------------------------------------------------- sending


def push_payload(message: Rendered) -> str:
    """What the service worker receives (before encryption)."""
    return json.dumps(
        {"title": message.subject, "body": message.text, "url": message.link, "lang": message.language},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _retry_after(value: str | None, *, now: dt.datetime | None = None) -> float:
    return retry_after_seconds(value, default=DEFAULT_RETRY_AFTER, now=now)


def classify_push_status(status: int, detail: str = "", retry_after: str | None = None) -> Outcome:
    """The outcome of a refused push (see the module docstring)."""
    error = f"webpush: push service answered {status}" + (f": {detail}" if detail else "")
    if status in (404, 410):
        return Outcome.permanent(error + " (subscription gone)", dead_contact=True)
    if status == 413:
        return Outcome.permanent(error + " (payload too large)")
    if status == 429:
        return Outcome.transient(error, retry_after=_retry_after(retry_after))
    if status in (401, 403):
        return Outcome.permanent(error + " (VAPID signature refused: check the VAPID key and contact)")
    if status >= 500:
        return Outcome.transient(error)
    return Outcome.permanent(error)


class WebPushAdapter(ChannelAdapter):
    """One aiohttp session per adapter, made on first use inside the running loop; call :meth:`close`."""

    channel = Channel.WEBPUSH

    def __init__(self, settings: WebPushSettings) -> None:
        self.settings = settings
        path, self.public_key = ensure_vapid_keys(settings.vapid_private_key_path)
        self._vapid = _load_vapid(path)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.settings.timeout))
        return self._session

    async def send(self, contact: str, message: Rendered) -> Outcome:
        try:
            subscription = parse_subscription(contact)
        except InvalidSubscription as exc:
            return Outcome.permanent(str(exc), dead_contact=True)
        s = self.settings
        try:
            response = await webpush_async(
                subscription,
                data=push_payload(message),
                vapid_private_key=self._vapid,
                vapid_claims={"sub": s.vapid_contact},  # a fresh dict: pywebpush adds aud and exp to it
                ttl=s.ttl,
                timeout=aiohttp.ClientTimeout(total=s.timeout),
                aiohttp_session=self._http(),
            )
        except WebPushException as exc:
            status = exc.status_code
            if status is None:
                return Outcome.permanent(f"webpush: {exc.message}")
            return classify_push_status(status, exc.message.splitlines()[0], exc.retry_after)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Outcome.transient(f"webpush: push service unreachable: {type(exc).__name__}: {exc}")
        assert isinstance(response, aiohttp.ClientResponse)
        return Outcome.sent(response.headers.get("Location", ""))

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
