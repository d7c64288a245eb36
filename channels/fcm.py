"""Mobile push through Firebase Cloud Messaging (HTTP v1 API) with the official ``firebase_admin`` library (7.x,
its httpx/HTTP-2 async path ``messaging.send_each_async``).

Set-up
    Each adapter initialises its own named Firebase app from the service-account JSON (a dict or a file path,
    ``credentials.Certificate``); the project id comes from the service account. ``FcmSettings.fcm_base_url``
    (tests and the demo: the local peer) replaces ``https://fcm.googleapis.com``; the OAuth token endpoint is
    the service account's own ``token_uri`` (the peer's ``/token`` in the tests).

    firebase_admin has no public option for the FCM endpoint, so the adapter sets the messaging service's
    ``_fcm_url`` (built from ``_MessagingService.FCM_URL`` in its constructor), and replaces its async HTTP
    client by one of the same class with *no* in-library retries and our timeout: the router already retries
    transient failures, and firebase_admin's default (4 retries of 500/503 with back-off) would hold a worker
    for seconds. Both are checked at construction, so a firebase_admin that changed them fails loudly there,
    not at the first message.

    google-auth fetches the OAuth token with the synchronous ``requests`` library, also from inside
    firebase_admin's async auth flow, which would block the event loop. The adapter therefore refreshes the
    credential in a worker thread (``asyncio.to_thread``) whenever it is not valid before a send, so the async
    send always finds a fresh token.

Message
    The contact is the app's FCM registration token (what the apps register today; firebase_admin 7.7 marks
    ``Message.token`` deprecated in favour of ``fid`` and the adapter silences that one warning), or
    ``fid:<Firebase installation id>`` for apps that register their installation id. ``notification``
    {title: subject, body: text} and ``data`` {url: the personal link, lang}.

Outcomes
    * Accepted: SENT with the message name (``projects/<p>/messages/<id>``) as provider id.
    * UNREGISTERED (404) and SENDER_ID_MISMATCH (403): permanent and the token is dead (app uninstalled,
      token rotated, or the token belongs to another Firebase project): the caller removes it.
    * QUOTA_EXCEEDED / other RESOURCE_EXHAUSTED (429): transient, ``retry_after`` from Retry-After, else
      :data:`DEFAULT_RETRY_AFTER`. UNAVAILABLE (503), INTERNAL (500), deadline, connection errors: transient.
    * INVALID_ARGUMENT (400): permanent, token kept (FCM says this for a malformed message as well as a
      malformed token; we cannot tell which, and a token the app registered is not malformed).
    * UNAUTHENTICATED / PERMISSION_DENIED / THIRD_PARTY_AUTH_ERROR and a refused service account: permanent,
      token kept (it is our configuration; the router falls back to the next channel). Anything else:
      permanent, token kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import firebase_admin
import google.auth.exceptions
import google.auth.transport.requests
from firebase_admin import _http_client, credentials, exceptions, messaging

from channels.base import ChannelAdapter, Outcome, Rendered, retry_after_seconds
from hub.enums import Channel

__all__ = ["DEFAULT_RETRY_AFTER", "FcmAdapter", "FcmSettings", "classify_fcm_error", "fcm_message"]

#: Seconds to wait after a quota refusal that came without a usable Retry-After header.
DEFAULT_RETRY_AFTER = 60.0
#: A contact that is a Firebase installation id rather than a registration token.
FID_PREFIX = "fid:"
_REQUIRED_FIELDS = ("type", "project_id", "private_key", "client_email", "token_uri")


@dataclass(frozen=True)
class FcmSettings:
    #: The service-account JSON as a dict, or the path of its file.
    service_account: Mapping[str, Any] | Path | str = field(repr=False)
    #: None: Google (https://fcm.googleapis.com). The tests and the demo set the local peer's URL.
    fcm_base_url: str | None = None
    #: Seconds for one API call.
    timeout: float = 30.0

    def __post_init__(self) -> None:
        info = self.info
        missing = [name for name in _REQUIRED_FIELDS if not str(info.get(name) or "").strip()]
        if missing:
            raise ValueError(f"fcm: the service account lacks {', '.join(missing)}")
        if info["type"] != "service_account":
            raise ValueError(f"fcm: the credential must be a service account, got type {info['type']!r}")
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", str(info["token_uri"])):
            raise ValueError(f"fcm: the service account's token_uri must be an http(s) URL, got {info['token_uri']!r}")
        if self.fcm_base_url is not None and not re.fullmatch(r"https?://[^\s/]+/?", self.fcm_base_url):
            raise ValueError(f"fcm: fcm_base_url must be an http(s) origin or None, got {self.fcm_base_url!r}")
        if not self.timeout > 0:
            raise ValueError(f"fcm: timeout must be > 0 seconds, got {self.timeout}")

    @property
    def info(self) -> dict[str, Any]:
        if isinstance(self.service_account, Mapping):
            return dict(self.service_account)
        try:
            data = json.loads(Path(self.service_account).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"fcm: cannot read the service account file {self.service_account}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError("fcm: the service account file must hold a JSON object")
        return data

    @property
    def project_id(self) -> str:
        return str(self.info["project_id"])


def fcm_message(contact: str, message: Rendered) -> messaging.Message:
    """The FCM message for one device: ``contact`` is a registration token, or ``fid:<installation id>``."""
    data = {"lang": message.language}
    if message.link:
        data["url"] = message.link
    notification = messaging.Notification(title=message.subject, body=message.text)
    if contact.startswith(FID_PREFIX):
        return messaging.Message(fid=contact.removeprefix(FID_PREFIX), notification=notification, data=data)
    # firebase_admin 7.7 deprecates ``token`` for ``fid``, but the apps in the field register FCM registration
    # tokens and FCM's v1 API still takes them: keep sending to them without the warning (no await in here, so
    # no other task of this loop runs while the filter is changed).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Message\.token is deprecated", category=DeprecationWarning)
        return messaging.Message(token=contact, notification=notification, data=data)


def _retry_after(response: Any, *, now: dt.datetime | None = None) -> float:
    headers = getattr(response, "headers", None) or {}
    return retry_after_seconds(str(headers.get("Retry-After", "") or ""), default=DEFAULT_RETRY_AFTER, now=now)


def classify_fcm_error(exc: BaseException) -> Outcome:
    """The outcome of one refused message (see the module docstring)."""
    code = getattr(exc, "code", "") or type(exc).__name__
    error = f"fcm: {code}: {exc}"
    if isinstance(exc, messaging.UnregisteredError | messaging.SenderIdMismatchError):
        return Outcome.permanent(error, dead_contact=True)
    if isinstance(exc, exceptions.ResourceExhaustedError):  # QuotaExceededError included
        return Outcome.transient(error, retry_after=_retry_after(getattr(exc, "http_response", None)))
    if isinstance(
        exc,
        exceptions.UnavailableError
        | exceptions.InternalError
        | exceptions.DeadlineExceededError
        | exceptions.UnknownError,
    ):
        return Outcome.transient(error)
    return Outcome.permanent(error)


class FcmAdapter(ChannelAdapter):
    """One Firebase app per adapter; call :meth:`close` to release it and its HTTP clients."""

    channel = Channel.FCM

    def __init__(self, settings: FcmSettings) -> None:
        self.settings = settings
        self._app = firebase_admin.initialize_app(
            credentials.Certificate(settings.info),
            {"projectId": settings.project_id, "httpTimeout": settings.timeout},
            name=f"carnet-fcm-{uuid.uuid4().hex}",
        )
        self._credential = self._app.credential.get_credential()
        service = messaging._get_messaging_service(self._app)
        for attribute in ("_fcm_url", "_async_client", "_credential"):
            if not hasattr(service, attribute):
                raise RuntimeError(
                    f"fcm: this firebase_admin's messaging service has no {attribute}; update channels/fcm.py"
                )
        if settings.fcm_base_url:
            service._fcm_url = messaging._MessagingService.FCM_URL.replace(
                "https://fcm.googleapis.com", settings.fcm_base_url.rstrip("/")
            ).format(settings.project_id)
        service._async_client = _http_client.HttpxAsyncClient(
            credential=service._credential,
            retry_config=_http_client.HttpxRetry(max_retries=0),
            timeout=settings.timeout,
        )
        self._service = service

    @property
    def fcm_url(self) -> str:
        return str(self._service._fcm_url)

    async def _fresh_token(self) -> Outcome | None:
        if self._credential.valid:
            return None
        try:
            await asyncio.to_thread(self._credential.refresh, google.auth.transport.requests.Request())
        except google.auth.exceptions.RefreshError as exc:
            if getattr(exc, "retryable", False):
                return Outcome.transient(f"fcm: the OAuth token could not be fetched: {exc}")
            return Outcome.permanent(f"fcm: the service account was refused: {exc}")
        except google.auth.exceptions.TransportError as exc:
            return Outcome.transient(f"fcm: the OAuth token endpoint is unreachable: {exc}")
        return None

    async def send(self, contact: str, message: Rendered) -> Outcome:
        if not contact or not contact.strip():
            return Outcome.permanent("fcm: empty registration token", dead_contact=True)
        refused = await self._fresh_token()
        if refused is not None:
            return refused
        batch = await messaging.send_each_async([fcm_message(contact, message)], app=self._app)
        [response] = batch.responses
        if response.success:
            return Outcome.sent(str(response.message_id))
        return classify_fcm_error(response.exception)

    async def close(self) -> None:
        if self._app is None:
            return
        app, self._app = self._app, None
        await self._service._async_client.aclose()
        # delete_app closes the services, and the messaging service closes its async client with asyncio.run(),
        # which cannot run inside our loop: do it in a thread (the client is already closed, so that is a no-op).
        await asyncio.to_thread(firebase_admin.delete_app, app)
