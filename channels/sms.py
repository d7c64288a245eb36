"""SMS through Twilio's Messages API, with the official ``twilio`` library and its aiohttp client.

Sending
    ``SmsAdapter.send`` posts one message (``client.messages.create_async``) whose body is the rendered text
    followed by the guardian's personal link: an SMS must stay short, the link carries the rest. The outcome is
    SENT with the message SID as ``provider_id``, the segments Twilio counted (``num_segments``; our own
    :func:`hub.messaging.sms_segments.count_segments` when Twilio says nothing, or ``0`` as it does for Messaging
    Services) and a cost *estimate*: segments x ``SmsSettings.price_per_segment``. Twilio's ``price`` is
    almost always null when the message is created (it is known after the carrier bills it, and in USD), so
    the estimate, in the school's currency, is what is recorded.

Refusals (a ``TwilioRestException`` carries the HTTP status and Twilio's error code)
    * 21211 invalid 'To' number, 21614 not a mobile number, 21610 the recipient sent STOP: permanent and the
      contact is dead (the router stops using that number).
    * 21408 region not enabled, 21612 cannot route to that number: permanent, contact kept (it is our
      account's configuration or the carrier, not the number).
    * 401/403 (20003, wrong SID or token): permanent, contact kept. It is a configuration problem: every SMS
      would fail the same way, so the router falls back to the next channel of the plan and families still
      get the message, while the logged error tells the administrator to fix the credentials. Retrying
      would only delay every message.
    * 429 (20429) and 21611 (the sender's queue is full): transient, ``retry_after`` from the ``Retry-After``
      header. The SDK raises before handing the headers over, so the HTTP client below keeps the last
      response's headers in a context variable (per task: concurrent sends do not mix them up); without the
      header, :data:`DEFAULT_RETRY_AFTER` seconds.
    * 5xx, timeouts and connection errors: transient. Any other 4xx: permanent, contact kept.

Webhooks
    Twilio signs every webhook with ``X-Twilio-Signature`` (HMAC-SHA1 of the URL and the sorted form fields,
    keyed by the auth token). :func:`parse_status_callback` and :func:`parse_inbound` check that signature
    *before* reading anything and raise :class:`ForgedCallback` otherwise. ``url`` must be the exact URL
    Twilio called (scheme, host, port, path and query as configured in ``status_callback_url`` or on the
    number), behind a proxy too.

An alphanumeric sender id ("AthenéeDemo" style) cannot receive replies: use a number as ``sender`` when
families should answer by SMS.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import unicodedata
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from channels.base import ChannelAdapter, Outcome, Rendered, retry_after_seconds
from hub.enums import Channel, DeliveryState
from hub.messaging.sms_segments import count_segments

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "ForgedCallback",
    "InboundReply",
    "Reply",
    "SmsAdapter",
    "SmsSettings",
    "StatusUpdate",
    "classify_twilio_error",
    "interpret_reply",
    "parse_inbound",
    "parse_status_callback",
    "sms_body",
]

ACCOUNT_SID_RE = re.compile(r"^AC[0-9a-f]{32}$")
E164_RE = re.compile(r"^\+[1-9][0-9]{1,14}$")
#: Twilio's alphanumeric sender id: 1-11 of A-Z, a-z, 0-9 and space, with at least one letter (all digits
#: would read as a short code).
ALPHANUMERIC_SENDER_RE = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")

#: Seconds to wait after a 429 that came without a usable Retry-After header.
DEFAULT_RETRY_AFTER = 30.0

#: The number is wrong for SMS for good: invalid 'To', not a mobile number, the recipient sent STOP.
DEAD_CONTACT_CODES = frozenset({21211, 21614, 21610})
#: Our account cannot reach that number (region not enabled, no route): permanent, but the number is fine.
UNROUTABLE_CODES = frozenset({21408, 21612})
#: Throttling: Too Many Requests, and the sender's queue is full.
THROTTLED_CODES = frozenset({20429, 21611})
#: Delivery errors (in status callbacks) that mean the number cannot receive SMS at all: unknown handset,
#: landline or unreachable carrier. 30003 (handset off or out of coverage) is not one of them.
DEAD_DELIVERY_CODES = frozenset({30005, 30006})


@dataclass(frozen=True)
class SmsSettings:
    account_sid: str
    auth_token: str = field(repr=False)
    #: An E.164 number (+32...) or an alphanumeric sender id (which cannot receive replies).
    sender: str
    #: Where Twilio posts the delivery status of each message.
    status_callback_url: str
    #: None: Twilio's real API (https://api.twilio.com). The tests and the demo set the local peer's URL.
    base_url: str | None = None
    #: What one segment costs the school, for the recorded cost estimate.
    price_per_segment: Decimal = Decimal("0.0750")
    #: Seconds for one API call (connect, send, read the answer).
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not ACCOUNT_SID_RE.fullmatch(self.account_sid or ""):
            raise ValueError(
                "sms: the Twilio account SID must be 'AC' followed by 32 lowercase hex digits, "
                f"got {self.account_sid!r}"
            )
        if not self.auth_token or not self.auth_token.strip():
            raise ValueError("sms: the Twilio auth token is required")
        if not (E164_RE.fullmatch(self.sender or "") or ALPHANUMERIC_SENDER_RE.fullmatch(self.sender or "")):
            raise ValueError(
                "sms: the sender must be an E.164 number such as +32470123456 or an alphanumeric sender id "
                f"of 1 to 11 letters, digits or spaces with at least one letter, got {self.sender!r}"
            )
        if not _is_http_url(self.status_callback_url):
            raise ValueError(f"sms: the status callback URL must be an http(s) URL, got {self.status_callback_url!r}")
        if self.base_url is not None and not _is_http_url(self.base_url):
            raise ValueError(f"sms: base_url must be an http(s) URL or None for Twilio, got {self.base_url!r}")
        if not isinstance(self.price_per_segment, Decimal) or not self.price_per_segment.is_finite():
            raise ValueError(f"sms: price_per_segment must be a finite Decimal, got {self.price_per_segment!r}")
        if self.price_per_segment < 0:
            raise ValueError(f"sms: price_per_segment must be >= 0, got {self.price_per_segment}")
        if not self.timeout > 0:
            raise ValueError(f"sms: timeout must be > 0 seconds, got {self.timeout}")


def _is_http_url(value: str) -> bool:
    return bool(re.fullmatch(r"https?://[^\s/]+(/\S*)?", value or ""))


# --------------------------------------------------------------------------------------------------- sending


#: The headers of the last response the HTTP client received *in this task* (see the module docstring).
_last_headers: ContextVar[Mapping[str, str] | None] = ContextVar("carnet_sms_last_headers", default=None)


class _HttpClient(AsyncTwilioHttpClient):
    """Twilio's aiohttp client, with three fixes: the client's ``timeout`` applies (the SDK passes ``None`` per
    request, which aiohttp reads as *no timeout at all*); the credentials go in an ``Authorization`` header that
    we encode (the SDK builds an ``aiohttp.BasicAuth``, deprecated since aiohttp 3.14, and the warning would be
    an error under pytest); and the response headers are kept for Retry-After."""

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the SDK's signature
        allow_redirects: bool = False,
    ) -> TwilioResponse:
        if auth is not None:
            credentials = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
        response = await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )
        _last_headers.set(response.headers)
        return response


def sms_body(message: Rendered) -> str:
    """The rendered text followed by the personal link (unless the text already carries it)."""
    text = message.text.strip()
    if not message.link or message.link in text:
        return text
    return f"{text}\n{message.link}" if text else message.link


def _retry_after(headers: Mapping[str, str] | None, *, now: dt.datetime | None = None) -> float:
    """Seconds from a Retry-After header, else :data:`DEFAULT_RETRY_AFTER`."""
    return retry_after_seconds((headers or {}).get("Retry-After"), default=DEFAULT_RETRY_AFTER, now=now)


def classify_twilio_error(
    status: int, code: int | None, message: str, headers: Mapping[str, str] | None = None
) -> Outcome:
    """The outcome of a refusal by Twilio's API (HTTP ``status``, Twilio error ``code``)."""
    error = f"twilio {status}" + (f" error {code}" if code and code != status else "") + f": {message}"
    if code in DEAD_CONTACT_CODES:
        return Outcome.permanent(error, dead_contact=True)
    if code in UNROUTABLE_CODES:
        return Outcome.permanent(error)
    if status == 429 or code in THROTTLED_CODES:
        return Outcome.transient(error, retry_after=_retry_after(headers))
    if status >= 500:
        return Outcome.transient(error)
    if status in (401, 403):
        return Outcome.permanent(f"{error} (check the Twilio account SID and auth token)")
    return Outcome.permanent(error)


def _segments(num_segments: Any, body: str) -> int:
    """Twilio's ``num_segments`` (a string), or our own count when it is missing, unreadable or 0."""
    try:
        counted = int(num_segments)
    except (TypeError, ValueError):
        counted = 0
    return counted if counted > 0 else count_segments(body).segments


class SmsAdapter(ChannelAdapter):
    """One Twilio client (one aiohttp session) per adapter, made on first use inside the running loop; call
    :meth:`close` (or use ``async with``) to release it."""

    channel = Channel.SMS

    def __init__(self, settings: SmsSettings) -> None:
        self.settings = settings
        self._client: Client | None = None

    def _twilio(self) -> Client:
        if self._client is None:
            s = self.settings
            client = Client(s.account_sid, s.auth_token, http_client=_HttpClient(timeout=s.timeout))
            if s.base_url:
                client.api.base_url = s.base_url.rstrip("/")
            self._client = client
        return self._client

    async def send(self, contact: str, message: Rendered) -> Outcome:
        body = sms_body(message)
        if not body:
            return Outcome.permanent("sms: nothing to send (empty text and no link)")
        s = self.settings
        _last_headers.set(None)
        try:
            created = await self._twilio().messages.create_async(
                to=contact, from_=s.sender, body=body, status_callback=s.status_callback_url
            )
        except TwilioRestException as exc:
            return classify_twilio_error(exc.status, exc.code, exc.msg, _last_headers.get())
        except TwilioServiceException as exc:
            return classify_twilio_error(exc.status, exc.code, exc.detail or exc.title, _last_headers.get())
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return Outcome.transient(f"twilio unreachable: {type(exc).__name__}: {exc}")
        segments = _segments(created.num_segments, body)
        return Outcome.sent(str(created.sid), segments=segments, cost=segments * s.price_per_segment)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.http_client.close()

    async def __aenter__(self) -> SmsAdapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# -------------------------------------------------------------------------------------------------- webhooks


class ForgedCallback(ValueError):
    """The webhook's X-Twilio-Signature does not match: not from Twilio, or altered on the way."""


class Reply(StrEnum):
    """What a guardian's SMS reply means."""

    YES = "yes"  #: acknowledges the notice, and answers yes to a yes/no slip
    NO = "no"
    OPT_OUT = "opt_out"  #: STOP: Twilio blocks further SMS to this number (error 21610 from then on)
    FREE_TEXT = "free_text"  #: anything else: shown to the staff as the guardian wrote it


@dataclass(frozen=True)
class StatusUpdate:
    provider_id: str  #: the message SID, as in ``Outcome.provider_id``
    state: DeliveryState  #: SENT, DELIVERED or FAILED
    status: str  #: Twilio's own word (queued, sent, delivered, undelivered, failed, ...)
    error_code: int | None = None  #: e.g. 30003 (handset unreachable) for undelivered

    @property
    def dead_contact(self) -> bool:
        """The number cannot receive SMS (unknown handset, landline): stop using it."""
        return self.error_code in DEAD_DELIVERY_CODES


@dataclass(frozen=True)
class InboundReply:
    from_number: str
    body: str
    answer: Reply
    to_number: str = ""
    provider_id: str = ""  #: the inbound message's SID


_STATES: dict[str, DeliveryState] = {
    "accepted": DeliveryState.SENT,
    "scheduled": DeliveryState.SENT,
    "queued": DeliveryState.SENT,
    "sending": DeliveryState.SENT,
    "sent": DeliveryState.SENT,
    "delivered": DeliveryState.DELIVERED,
    "read": DeliveryState.DELIVERED,  # WhatsApp/RCS read receipts: delivered at least
    "undelivered": DeliveryState.FAILED,
    "failed": DeliveryState.FAILED,
    "canceled": DeliveryState.FAILED,
}


def _check_signature(url: str, params: Mapping[str, str], signature: str | None, auth_token: str) -> None:
    if not signature or not RequestValidator(auth_token).validate(url, dict(params), signature):
        raise ForgedCallback(f"sms: X-Twilio-Signature does not match for {url}")


def parse_status_callback(url: str, params: Mapping[str, str], signature: str, auth_token: str) -> StatusUpdate:
    """A delivery status webhook, after checking its signature (:class:`ForgedCallback` if it is wrong).

    A signed callback without MessageSid/MessageStatus, or with a status this code does not know, raises a
    plain ``ValueError``.
    """
    _check_signature(url, params, signature, auth_token)
    sid = params.get("MessageSid") or params.get("SmsSid") or ""
    status = (params.get("MessageStatus") or params.get("SmsStatus") or "").strip().lower()
    if not sid or not status:
        raise ValueError("sms: a status callback needs MessageSid and MessageStatus")
    if status not in _STATES:
        raise ValueError(f"sms: unknown message status {status!r} for {sid}")
    raw_code = (params.get("ErrorCode") or "").strip()
    return StatusUpdate(
        provider_id=sid, state=_STATES[status], status=status, error_code=int(raw_code) if raw_code.isdigit() else None
    )


def parse_inbound(url: str, params: Mapping[str, str], signature: str, auth_token: str) -> InboundReply:
    """An SMS a guardian sent to our number, after checking its signature (:class:`ForgedCallback`)."""
    _check_signature(url, params, signature, auth_token)
    body = params.get("Body", "")
    # With Advanced Opt-Out, Twilio itself recognises the keyword (in any of its languages) and says so.
    answer = Reply.OPT_OUT if params.get("OptOutType", "").upper() == "STOP" else interpret_reply(body)
    return InboundReply(
        from_number=params.get("From", ""),
        body=body,
        answer=answer,
        to_number=params.get("To", ""),
        provider_id=params.get("MessageSid") or params.get("SmsSid") or "",
    )


_YES = frozenset({"1", "oui", "ja", "yes", "y", "ok", "✓", "✔", "✅"})
_NO = frozenset({"2", "non", "nee", "nein", "no", "n"})
#: STOP, and Twilio's other default opt-out keywords (Twilio blocks the number on any of them).
_OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "optout", "revoke", "arret"})


def _normalise(text: str) -> str:
    """Without accents, case, surrounding or repeated whitespace, trailing full stops and exclamation marks,
    or emoji presentation selectors: "  Oui ! " and "OUI" read the same."""
    decomposed = unicodedata.normalize("NFKD", text).replace("\ufe0f", "")
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(bare.casefold().split()).rstrip(" .!")


def interpret_reply(body: str) -> Reply:
    """What a reply means: "1"/"oui"/"ja"/"yes"/"ok"/"✓" yes (acknowledged), "2"/"non"/"nee"/"no" no,
    "STOP" opt-out, anything else free text. Insensitive to accents, case and whitespace."""
    word = _normalise(body)
    if word in _YES:
        return Reply.YES
    if word in _NO:
        return Reply.NO
    if word in _OPT_OUT:
        return Reply.OPT_OUT
    return Reply.FREE_TEXT
