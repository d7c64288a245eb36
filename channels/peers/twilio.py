"""A local stand-in for Twilio's Messages API (aiohttp on 127.0.0.1), for the demo and the tests.

``async with TwilioPeer(auth_token=..., account_sid=...) as peer:`` serves at ``peer.base_url``; point
``SmsSettings.base_url`` at it and the real ``twilio`` client talks to it as it would to api.twilio.com.

What it implements
    * ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with HTTP Basic auth (account SID, auth token)
      and the form fields To, From, Body, StatusCallback. Wrong or missing credentials: 401 with error 20003;
      another account's path: 404 (20404). Accepted: 201 and Twilio's message JSON (``sid`` "SM" + 32 hex,
      ``status`` "queued", ``num_segments`` as a string counted by :func:`hub.messaging.sms_segments.count_segments`,
      ``price`` null, ``direction`` "outbound-api", RFC 2822 dates, ...).
    * ``GET /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json``: the message with its current status.
    * Refusals, as Twilio's 400 JSON ``{code, message, more_info, status}``:

      ===================================================  =====  ====================================
      'To'                                                 code   meaning
      ===================================================  =====  ====================================
      missing                                              21604  a 'To' number is required
      not E.164, or ending in 0000                         21211  invalid 'To' phone number
      ending in 9999, or that sent STOP (``send_inbound``)  21610  unsubscribed recipient
      ending in 7777, or a Belgian landline (+32 not +324)  21614  not a mobile number
      ending in 6666                                       21408  region not enabled
      ending in 5555                                       21612  cannot route to this number
      ===================================================  =====  ====================================

      Also 21602 (no Body), 21603 (no From), 21212 (From neither E.164 nor an alphanumeric sender id) and
      21617 (Body over 1600 characters).
    * ``fail_next(status, code=None, retry_after=None, times=1)``: the next ``times`` authenticated sends are
      refused with ``status`` (the code defaults to 20000 + status: 20429, 20500, 20503) and a ``Retry-After``
      header when given.
    * Status callbacks: after a 201, the peer posts "sent" then "delivered" to the StatusCallback URL (for a
      'To' ending in 8888: "sent" then "undelivered" with ErrorCode 30003), form-encoded like Twilio
      (MessageSid, SmsSid, MessageStatus, SmsStatus, AccountSid, From, To, ApiVersion) and signed with
      X-Twilio-Signature. ``await peer.settle()`` waits until every callback has been posted.
    * ``send_inbound(to_url, from_number, body)``: posts a signed inbound SMS webhook (MessageSid, SmsSid,
      SmsMessageSid, AccountSid, From, To, Body, NumMedia=0, NumSegments, SmsStatus=received, ApiVersion). A
      body of STOP (or another opt-out keyword) adds OptOutType=STOP and unsubscribes the number, as Twilio's
      Advanced Opt-Out does; START subscribes it again.

Every webhook the peer makes is recorded in ``peer.webhooks``. It only ever posts to loopback addresses: a
callback URL elsewhere is recorded as refused, never called.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
import socket
from collections import deque
from dataclasses import dataclass
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from channels.peers.loopback import LoopbackServer
from hub.messaging.sms_segments import count_segments

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_ALPHANUMERIC = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "OPTOUT", "REVOKE", "ARRET"}
_OPT_IN = {"START", "UNSTOP", "YES"}
MAX_BODY = 1600

_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid 'From' Phone Number",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
}


@dataclass
class PeerMessage:
    """A message the peer accepted."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str
    num_segments: int
    status: str = "queued"
    error_code: int | None = None
    date_created: str = ""


@dataclass(frozen=True)
class WebhookCall:
    """One webhook the peer posted (or refused to post): what, where, and the receiver's HTTP status."""

    url: str
    params: dict[str, str]
    signature: str
    status: int | None  #: None: not delivered (see ``error``)
    error: str = ""


@dataclass
class _Failure:
    status: int
    code: int
    retry_after: float | None
    remaining: int


class TwilioPeer:
    def __init__(self, *, auth_token: str, account_sid: str, callback_delay: float = 0.01) -> None:
        self.auth_token = auth_token
        self.account_sid = account_sid
        #: Seconds between a 201 and the first status callback, and between callbacks.
        self.callback_delay = callback_delay
        self.messages: list[PeerMessage] = []
        self.webhooks: list[WebhookCall] = []
        #: Numbers that sent STOP: sending to them is refused with 21610.
        self.unsubscribed: set[str] = set()
        self._failures: deque[_Failure] = deque()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server = LoopbackServer("Twilio")
        self._session: aiohttp.ClientSession | None = None

    # ------------------------------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def start(self) -> TwilioPeer:
        app = web.Application()
        base = f"/{API_VERSION}/Accounts/{{account}}"
        app.router.add_post(f"{base}/Messages.json", self._create_message)
        app.router.add_get(f"{base}/Messages/{{sid}}.json", self._fetch_message)
        await self._server.serve(app)
        self._session = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
        await self._server.close()

    async def __aenter__(self) -> TwilioPeer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def settle(self) -> None:
        """Wait until every pending status callback has been posted (wrap in ``asyncio.timeout`` to bound it)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------------------------------ controls

    def fail_next(self, status: int, code: int | None = None, retry_after: float | None = None, times: int = 1) -> None:
        """Refuse the next ``times`` authenticated sends with ``status`` (and ``Retry-After`` if given)."""
        if code is None:
            code = 20000 + status  # Twilio's own pattern: 20429 Too Many Requests, 20500, 20503, ...
        self._failures.append(_Failure(status, code, retry_after, times))

    def to(self, number: str) -> list[PeerMessage]:
        return [m for m in self.messages if m.to == number]

    async def send_inbound(
        self, to_url: str, from_number: str, body: str, *, to_number: str = "+32460201234"
    ) -> WebhookCall:
        """Post a signed inbound SMS webhook, as Twilio does when a guardian texts our number."""
        sid = _sid("SM")
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_number,
            "To": to_number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(count_segments(body).segments),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        }
        keyword = body.strip().upper()
        if keyword in _OPT_OUT:
            params["OptOutType"] = "STOP"
            self.unsubscribed.add(from_number)
        elif keyword in _OPT_IN and from_number in self.unsubscribed:
            params["OptOutType"] = "START"
            self.unsubscribed.discard(from_number)
        return await self._post(to_url, params)

    # ------------------------------------------------------------------------------------------ the API

    def _authenticated(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        try:
            auth = aiohttp.BasicAuth.decode(header)
        except ValueError:
            return False
        return secrets.compare_digest(auth.login, self.account_sid) and secrets.compare_digest(
            auth.password, self.auth_token
        )

    def _check_request(self, request: web.Request) -> web.Response | None:
        if not self._authenticated(request):
            return _error(401, 20003, headers={"WWW-Authenticate": 'Basic realm="Twilio API"'})
        if request.match_info["account"] != self.account_sid:
            return _error(404, 20404, f"The requested resource {request.path} was not found")
        return None

    async def _create_message(self, request: web.Request) -> web.Response:
        refused = self._check_request(request)
        if refused is not None:
            return refused
        if self._failures:
            failure = self._failures[0]
            failure.remaining -= 1
            if failure.remaining <= 0:
                self._failures.popleft()
            headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
            return _error(failure.status, failure.code, headers=headers)

        form = await request.post()
        to, from_, body = (str(form.get(key, "")) for key in ("To", "From", "Body"))
        callback = str(form.get("StatusCallback", ""))
        if refusal := _refusal(to, from_, body, self.unsubscribed):
            code, reason = refusal
            return _error(400, code, reason)

        sid = _sid("SM")
        now = format_datetime(dt.datetime.now(dt.UTC))
        message = PeerMessage(
            sid=sid,
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            body=body,
            status_callback=callback,
            num_segments=count_segments(body).segments,
            date_created=now,
        )
        self.messages.append(message)
        if callback:
            task = asyncio.create_task(self._report(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.json_response(self._resource(message), status=201)

    async def _fetch_message(self, request: web.Request) -> web.Response:
        refused = self._check_request(request)
        if refused is not None:
            return refused
        for message in self.messages:
            if message.sid == request.match_info["sid"]:
                return web.json_response(self._resource(message))
        return _error(404, 20404, f"The requested resource {request.path} was not found")

    def _resource(self, m: PeerMessage) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{m.account_sid}/Messages/{m.sid}"
        return {
            "account_sid": m.account_sid,
            "api_version": API_VERSION,
            "body": m.body,
            "date_created": m.date_created,
            "date_sent": None,
            "date_updated": m.date_created,
            "direction": "outbound-api",
            "error_code": m.error_code,
            "error_message": None,
            "from": m.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(m.num_segments),
            "price": None,
            "price_unit": "USD",
            "sid": m.sid,
            "status": m.status,
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": m.to,
            "uri": f"{uri}.json",
        }

    # ------------------------------------------------------------------------------------------ webhooks

    async def _report(self, message: PeerMessage) -> None:
        final = ("undelivered", 30003) if message.to.endswith("8888") else ("delivered", None)
        for status, code in (("sent", None), final):
            await asyncio.sleep(self.callback_delay)
            message.status, message.error_code = status, code
            params = {
                "AccountSid": message.account_sid,
                "ApiVersion": API_VERSION,
                "From": message.from_,
                "MessageSid": message.sid,
                "MessageStatus": status,
                "SmsSid": message.sid,
                "SmsStatus": status,
                "To": message.to,
            }
            if code is not None:
                params["ErrorCode"] = str(code)
            await self._post(message.status_callback, params)

    async def _post(self, url: str, params: dict[str, str]) -> WebhookCall:
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        if urlsplit(url).hostname not in _LOOPBACK:
            call = WebhookCall(url, params, signature, None, "refused: the peer only posts to loopback addresses")
        elif self._session is None:
            call = WebhookCall(url, params, signature, None, "the peer is not started")
        else:
            try:
                async with self._session.post(url, data=params, headers={"X-Twilio-Signature": signature}) as resp:
                    await resp.read()
                    call = WebhookCall(url, params, signature, resp.status)
            except (aiohttp.ClientError, OSError) as exc:
                call = WebhookCall(url, params, signature, None, f"{type(exc).__name__}: {exc}")
        self.webhooks.append(call)
        return call


def _refusal(to: str, from_: str, body: str, unsubscribed: set[str]) -> tuple[int, str] | None:
    if not to:
        return 21604, _MESSAGES[21604]
    if not body:
        return 21602, _MESSAGES[21602]
    if not from_:
        return 21603, _MESSAGES[21603]
    if not _E164.fullmatch(to) or to.endswith("0000"):
        return 21211, f"Invalid 'To' Phone Number: {to}"
    if not (_E164.fullmatch(from_) or _ALPHANUMERIC.fullmatch(from_)):
        return 21212, f"Invalid 'From' Phone Number: {from_}"
    if len(body) > MAX_BODY:
        return 21617, _MESSAGES[21617]
    if to.endswith("9999") or to in unsubscribed:
        return 21610, _MESSAGES[21610]
    if to.endswith("7777") or (to.startswith("+32") and not to.startswith("+324")):
        return 21614, f"'To' number {to} is not a valid mobile number"
    if to.endswith("6666"):
        return 21408, f"{_MESSAGES[21408]}: {to}"
    if to.endswith("5555"):
        return 21612, _MESSAGES[21612]
    return None


def _error(status: int, code: int, message: str = "", *, headers: dict[str, str] | None = None) -> web.Response:
    payload = {
        "code": code,
        "message": message or _MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(payload, status=status, headers=headers)


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
