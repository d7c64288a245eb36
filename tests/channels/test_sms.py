"""SMS through the real twilio client (AsyncTwilioHttpClient) and a local Twilio peer on 127.0.0.1.

Webhooks (status callbacks, inbound replies) go from the peer to a small aiohttp receiver run by the test, which
checks X-Twilio-Signature exactly as the hub's endpoint would.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from aiohttp import web
from twilio.request_validator import RequestValidator

from channels.base import Rendered
from channels.peers.twilio import TwilioPeer, free_port
from channels.sms import (
    DEFAULT_RETRY_AFTER,
    ForgedCallback,
    InboundReply,
    Reply,
    SmsAdapter,
    SmsSettings,
    StatusUpdate,
    _retry_after,
    _segments,
    interpret_reply,
    parse_inbound,
    parse_status_callback,
    sms_body,
)
from hub.enums import Channel, DeliveryState, ErrorKind
from hub.messaging.sms_segments import UCS2, count_segments

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "f" * 32
SENDER = "+32460201234"
MOBILE = "+32470123456"


@dataclass
class Receiver:
    """The hub's webhook endpoints in miniature: they validate, parse and keep what came in."""

    base_url: str = ""
    updates: list[StatusUpdate] = field(default_factory=list)
    replies: list[InboundReply] = field(default_factory=list)
    raw: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    forged: int = 0
    token: str = TOKEN

    @property
    def status_url(self) -> str:
        return f"{self.base_url}/sms/status"

    @property
    def inbound_url(self) -> str:
        return f"{self.base_url}/sms/inbound"

    async def status(self, request: web.Request) -> web.Response:
        url, params, signature = await self._read(request)
        try:
            self.updates.append(parse_status_callback(url, params, signature, self.token))
        except ForgedCallback:
            self.forged += 1
            return web.Response(status=403)
        return web.Response(status=204)

    async def inbound(self, request: web.Request) -> web.Response:
        url, params, signature = await self._read(request)
        try:
            self.replies.append(parse_inbound(url, params, signature, self.token))
        except ForgedCallback:
            self.forged += 1
            return web.Response(status=403)
        return web.Response(text="<Response/>", content_type="text/xml")

    async def _read(self, request: web.Request) -> tuple[str, dict[str, str], str]:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        got = (str(request.url), params, request.headers.get("X-Twilio-Signature", ""))
        self.raw.append(got)
        return got


@pytest.fixture
async def peer() -> AsyncIterator[TwilioPeer]:
    async with TwilioPeer(auth_token=TOKEN, account_sid=SID) as running:
        yield running


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    received = Receiver()
    app = web.Application()
    app.router.add_post("/sms/status", received.status)
    app.router.add_post("/sms/inbound", received.inbound)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    received.base_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield received
    finally:
        await runner.cleanup()


def _settings(peer_url: str, callback: str = "http://127.0.0.1:9/sms/status", **kw: object) -> SmsSettings:
    values: dict[str, object] = {
        "account_sid": SID,
        "auth_token": TOKEN,
        "sender": SENDER,
        "status_callback_url": callback,
        "base_url": peer_url,
    }
    values.update(kw)
    return SmsSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def adapter(peer: TwilioPeer, receiver: Receiver) -> AsyncIterator[SmsAdapter]:
    async with SmsAdapter(_settings(peer.base_url, receiver.status_url)) as running:
        yield running


def _message(
    text: str = "Bonjour, l'excursion a lieu vendredi.", link: str = "http://127.0.0.1:8000/n/ann"
) -> Rendered:
    return Rendered(language="fr", subject="Excursion", text=text, link=link)


# ------------------------------------------------------------------------------------------------- sending


async def test_a_message_arrives_with_its_link_and_the_sid_segments_and_cost_are_recorded(
    adapter: SmsAdapter, peer: TwilioPeer
) -> None:
    assert adapter.channel is Channel.SMS
    outcome = await adapter.send(MOBILE, _message())
    assert outcome.state is DeliveryState.SENT and outcome.ok
    assert outcome.provider_id.startswith("SM") and len(outcome.provider_id) == 34
    [sms] = peer.messages
    assert sms.sid == outcome.provider_id
    assert (sms.to, sms.from_) == (MOBILE, SENDER)
    assert sms.body == "Bonjour, l'excursion a lieu vendredi.\nhttp://127.0.0.1:8000/n/ann"
    assert outcome.segments == 1 and outcome.cost == Decimal("0.0750")


async def test_french_text_with_a_curly_apostrophe_is_ucs2_and_costs_several_segments(
    adapter: SmsAdapter, peer: TwilioPeer
) -> None:
    text = "Bonjour, l’excursion de vendredi est reportée à lundi. Merci de le confirmer sur le carnet."
    outcome = await adapter.send(MOBILE, _message(text))
    body = peer.messages[0].body
    counted = count_segments(body)
    assert counted.encoding == UCS2 and counted.segments == 2  # the same text with ' would fit in one SMS
    assert count_segments(body.replace("’", "'")).segments == 1
    assert outcome.segments == peer.messages[0].num_segments == 2
    assert outcome.cost == Decimal("0.1500")


async def test_the_cost_uses_the_configured_price_and_an_alphanumeric_sender(peer: TwilioPeer) -> None:
    settings = _settings(peer.base_url, sender="Athenee", price_per_segment=Decimal("0.0912"))
    async with SmsAdapter(settings) as adapter:
        outcome = await adapter.send(MOBILE, _message())
    assert outcome.ok and outcome.cost == Decimal("0.0912")
    assert peer.messages[0].from_ == "Athenee"


def test_the_body_carries_the_link_once_and_segments_fall_back_to_our_count() -> None:
    assert sms_body(_message("Réunion lundi.", "https://x.be/n/1")) == "Réunion lundi.\nhttps://x.be/n/1"
    assert sms_body(_message("Voir https://x.be/n/1", "https://x.be/n/1")) == "Voir https://x.be/n/1"
    assert sms_body(_message("Réunion lundi.", "")) == "Réunion lundi."
    long_body = "x" * 200
    assert _segments("3", long_body) == 3  # Twilio's word wins
    assert _segments(None, long_body) == _segments("0", long_body) == _segments("?", long_body) == 2


async def test_an_empty_message_is_refused_without_calling_twilio(adapter: SmsAdapter, peer: TwilioPeer) -> None:
    outcome = await adapter.send(MOBILE, _message("  ", ""))
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact
    assert peer.messages == []


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("0470123456", 21211),  # not E.164
        ("+32470120000", 21211),  # the peer's rule for an invalid number
        ("+32470129999", 21610),  # unsubscribed (STOP)
        ("+3221234567", 21614),  # a Brussels landline
    ],
)
async def test_numbers_that_will_never_work_are_dead_contacts(
    adapter: SmsAdapter, peer: TwilioPeer, number: str, code: int
) -> None:
    outcome = await adapter.send(number, _message())
    assert outcome.state is DeliveryState.FAILED
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact
    assert str(code) in outcome.error
    assert peer.messages == []


@pytest.mark.parametrize(("number", "code"), [("+32470126666", 21408), ("+32470125555", 21612)])
async def test_unroutable_numbers_are_permanent_but_not_dead(adapter: SmsAdapter, number: str, code: int) -> None:
    outcome = await adapter.send(number, _message())
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact
    assert str(code) in outcome.error


async def test_a_server_error_is_transient_and_the_next_send_goes_through(
    adapter: SmsAdapter, peer: TwilioPeer
) -> None:
    peer.fail_next(500)
    failed = await adapter.send(MOBILE, _message())
    assert failed.error_kind is ErrorKind.TRANSIENT and not failed.dead_contact
    assert "500" in failed.error and failed.retry_after is None
    assert (await adapter.send(MOBILE, _message())).ok
    assert len(peer.messages) == 1


async def test_429_is_transient_with_the_retry_after_twilio_asked(adapter: SmsAdapter, peer: TwilioPeer) -> None:
    peer.fail_next(429, retry_after=17, times=2)
    first, second = [await adapter.send(MOBILE, _message()) for _ in range(2)]
    for outcome in (first, second):
        assert outcome.error_kind is ErrorKind.TRANSIENT and outcome.retry_after == 17.0
        assert "20429" in outcome.error
    peer.fail_next(429)
    without_header = await adapter.send(MOBILE, _message())
    assert without_header.error_kind is ErrorKind.TRANSIENT and without_header.retry_after == DEFAULT_RETRY_AFTER
    assert (await adapter.send(MOBILE, _message())).ok


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = dt.datetime(2025, 3, 14, 10, 0, tzinfo=dt.UTC)
    assert _retry_after({"Retry-After": "2.5"}, now=now) == 2.5
    assert _retry_after({"Retry-After": "Fri, 14 Mar 2025 10:01:30 GMT"}, now=now) == 90.0
    assert _retry_after({"Retry-After": "Fri, 14 Mar 2025 09:00:00 GMT"}, now=now) == 0.0
    assert _retry_after({"Retry-After": "soon"}, now=now) == DEFAULT_RETRY_AFTER
    assert _retry_after(None) == DEFAULT_RETRY_AFTER


async def test_wrong_credentials_are_a_permanent_configuration_error_not_a_dead_contact(peer: TwilioPeer) -> None:
    async with SmsAdapter(_settings(peer.base_url, auth_token="0" * 32)) as adapter:
        outcome = await adapter.send(MOBILE, _message())
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact
    assert "401" in outcome.error and "20003" in outcome.error and "auth token" in outcome.error
    assert peer.messages == []


async def test_twilio_unreachable_is_transient() -> None:
    async with SmsAdapter(_settings(f"http://127.0.0.1:{free_port()}", timeout=5)) as adapter:
        outcome = await adapter.send(MOBILE, _message())
    assert outcome.error_kind is ErrorKind.TRANSIENT and not outcome.dead_contact
    assert "unreachable" in outcome.error


async def test_the_adapter_closes_its_http_session(peer: TwilioPeer) -> None:
    adapter = SmsAdapter(_settings(peer.base_url))
    assert (await adapter.send(MOBILE, _message())).ok
    session = adapter._client.http_client.session  # type: ignore[union-attr]
    await adapter.close()
    assert session.closed and adapter._client is None
    await adapter.close()  # twice is harmless


# ----------------------------------------------------------------------------------------- status callbacks


async def test_status_callbacks_are_signed_validated_and_mapped(
    adapter: SmsAdapter, peer: TwilioPeer, receiver: Receiver
) -> None:
    delivered = await adapter.send(MOBILE, _message())
    lost = await adapter.send("+32470128888", _message())
    async with asyncio.timeout(5):
        await peer.settle()
    assert receiver.forged == 0
    assert all(call.status == 204 for call in peer.webhooks)
    by_sid = {(u.provider_id, u.status): u for u in receiver.updates}
    assert by_sid[delivered.provider_id, "sent"].state is DeliveryState.SENT
    ok = by_sid[delivered.provider_id, "delivered"]
    assert ok.state is DeliveryState.DELIVERED and ok.error_code is None and not ok.dead_contact
    failed = by_sid[lost.provider_id, "undelivered"]
    assert failed.state is DeliveryState.FAILED and failed.error_code == 30003 and not failed.dead_contact


async def test_a_forged_or_altered_callback_is_refused(
    adapter: SmsAdapter, peer: TwilioPeer, receiver: Receiver
) -> None:
    await adapter.send("+32470128888", _message())
    async with asyncio.timeout(5):
        await peer.settle()
    url, params, signature = receiver.raw[-1]
    assert params["MessageStatus"] == "undelivered"
    assert parse_status_callback(url, params, signature, TOKEN).state is DeliveryState.FAILED

    altered = {**params, "MessageStatus": "delivered"}  # changed after signing
    with pytest.raises(ForgedCallback):
        parse_status_callback(url, altered, signature, TOKEN)
    with pytest.raises(ForgedCallback):  # signed with another token
        parse_status_callback(url, params, RequestValidator("x" * 32).compute_signature(url, params), TOKEN)
    with pytest.raises(ForgedCallback):  # no signature at all
        parse_status_callback(url, params, "", TOKEN)
    with pytest.raises(ForgedCallback):  # replayed at another URL
        parse_status_callback(url + "?again=1", params, signature, TOKEN)
    with pytest.raises(ForgedCallback):  # ForgedCallback is a ValueError
        parse_inbound(url, altered, signature, TOKEN)
    assert issubclass(ForgedCallback, ValueError)

    # The receiver answers 403 to a forgery posted to it.
    async with peer._session.post(  # type: ignore[union-attr]
        receiver.status_url, data=altered, headers={"X-Twilio-Signature": signature}
    ) as resp:
        assert resp.status == 403
    assert receiver.forged == 1


def test_a_signed_callback_without_the_fields_or_with_an_unknown_status_is_an_error() -> None:
    url = "http://127.0.0.1:1/sms/status"
    sign = RequestValidator(TOKEN).compute_signature
    params = {"MessageSid": "SM" + "0" * 32, "MessageStatus": "teleported"}
    with pytest.raises(ValueError, match="unknown message status"):
        parse_status_callback(url, params, sign(url, params), TOKEN)
    with pytest.raises(ValueError, match="MessageSid"):
        parse_status_callback(url, {}, sign(url, {}), TOKEN)
    dead = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "30006"}
    update = parse_status_callback(url, dead, sign(url, dead), TOKEN)
    assert update.state is DeliveryState.FAILED and update.dead_contact


# ---------------------------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("oui", Reply.YES),
        ("JA ", Reply.YES),
        ("  Oui !", Reply.YES),
        ("1", Reply.YES),
        ("OK", Reply.YES),
        ("y", Reply.YES),
        ("✓", Reply.YES),
        ("Yes.", Reply.YES),
        ("Non", Reply.NO),
        ("NEE", Reply.NO),
        ("2", Reply.NO),
        ("n", Reply.NO),
        ("nòn", Reply.NO),
        ("STOP", Reply.OPT_OUT),
        (" stop ", Reply.OPT_OUT),
        ("Arrêt", Reply.OPT_OUT),
        ("à quelle heure ?", Reply.FREE_TEXT),
        ("oui mais je serai en retard", Reply.FREE_TEXT),
        ("", Reply.FREE_TEXT),
    ],
)
def test_replies_are_interpreted(body: str, answer: Reply) -> None:
    assert interpret_reply(body) is answer


async def test_inbound_replies_are_signed_validated_and_interpreted(
    adapter: SmsAdapter, peer: TwilioPeer, receiver: Receiver
) -> None:
    for body in ("oui", "JA ", "Non", "à quelle heure ?"):
        call = await peer.send_inbound(receiver.inbound_url, MOBILE, body)
        assert call.status == 200
    assert [(r.from_number, r.body, r.answer) for r in receiver.replies] == [
        (MOBILE, "oui", Reply.YES),
        (MOBILE, "JA ", Reply.YES),
        (MOBILE, "Non", Reply.NO),
        (MOBILE, "à quelle heure ?", Reply.FREE_TEXT),
    ]
    assert all(r.provider_id.startswith("SM") and r.to_number for r in receiver.replies)


async def test_stop_opts_out_and_later_sends_to_that_number_are_dead(
    adapter: SmsAdapter, peer: TwilioPeer, receiver: Receiver
) -> None:
    call = await peer.send_inbound(receiver.inbound_url, MOBILE, "STOP")
    assert call.status == 200 and call.params["OptOutType"] == "STOP"
    assert receiver.replies[-1].answer is Reply.OPT_OUT
    outcome = await adapter.send(MOBILE, _message())
    assert outcome.dead_contact and "21610" in outcome.error


async def test_a_forged_inbound_is_refused(peer: TwilioPeer, receiver: Receiver) -> None:
    receiver.token = "e" * 32  # the hub knows another token than the one the peer signs with
    call = await peer.send_inbound(receiver.inbound_url, MOBILE, "oui")
    assert call.status == 403 and receiver.replies == [] and receiver.forged == 1


async def test_the_peer_never_posts_outside_loopback(peer: TwilioPeer) -> None:
    call = await peer.send_inbound("http://192.0.2.1/sms/inbound", MOBILE, "oui")
    assert call.status is None and "loopback" in call.error


# --------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"account_sid": "AC123"}, "account SID"),
        ({"account_sid": "AC" + "0123456789ABCDEF" * 2}, "account SID"),
        ({"account_sid": "SK" + "0" * 32}, "account SID"),
        ({"auth_token": ""}, "auth token"),
        ({"auth_token": "   "}, "auth token"),
        ({"sender": "0470123456"}, "sender"),
        ({"sender": "AtheneeRoyal1"}, "sender"),  # 13 characters: over 11
        ({"sender": "12345"}, "sender"),  # all digits: neither E.164 nor a sender id
        ({"sender": "Athénée"}, "sender"),
        ({"status_callback_url": "/sms/status"}, "callback"),
        ({"base_url": "127.0.0.1:8080"}, "base_url"),
        ({"price_per_segment": Decimal("-0.01")}, "price"),
        ({"price_per_segment": 0.075}, "price"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_settings_are_checked_when_they_are_built(change: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _settings("http://127.0.0.1:1", **change)


def test_valid_settings_and_the_token_stays_out_of_repr() -> None:
    settings = _settings("http://127.0.0.1:1", sender="Athenee 3B")
    assert settings.base_url == "http://127.0.0.1:1" and TOKEN not in repr(settings)
    assert _settings("http://127.0.0.1:1", base_url=None).base_url is None
