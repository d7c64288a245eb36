"""Telegram through the real aiogram client (AiohttpSession) and a local Bot API peer on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from aiogram.exceptions import TelegramBadRequest

from channels.base import Button, Rendered
from channels.peers.telegram import TelegramPeer
from channels.peers.twilio import free_port
from channels.telegram import (
    ButtonPress,
    ExpiredLinkCode,
    ForgedButton,
    ForgedLinkCode,
    InvalidLinkCode,
    LinkRequest,
    TelegramAdapter,
    TelegramSettings,
    TextReply,
    answer_button,
    make_link_code,
    parse_update,
    redeem_link_code,
    sign_callback,
    verify_callback,
    verify_link_code,
)
from hub.enums import Channel, DeliveryState, ErrorKind

TOKEN = "123456789:AAH" + "x1Y2z3_-" * 4
SECRET = "s" * 40
CHAT = 424242
OTHER = 515151
NOW = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)


def _settings(api_base: str | None, **kw: object) -> TelegramSettings:
    values: dict[str, object] = {
        "bot_token": TOKEN,
        "bot_username": "carnet_test_bot",
        "api_base": api_base,
        "link_secret": SECRET,
    }
    values.update(kw)
    return TelegramSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def peer() -> AsyncIterator[TelegramPeer]:
    async with TelegramPeer(token=TOKEN, chats={CHAT, OTHER}) as running:
        yield running


@pytest.fixture
async def adapter(peer: TelegramPeer) -> AsyncIterator[TelegramAdapter]:
    async with TelegramAdapter(_settings(peer.base_url)) as running:
        yield running


def _message(text: str = "L'excursion a lieu <vendredi> & samedi.", **kw: object) -> Rendered:
    values: dict[str, object] = {
        "language": "fr",
        "subject": "Excursion 3B",
        "text": text,
        "link": "http://127.0.0.1:8000/n/Zk3pQ9xYw2LmT8vRa1",
        "buttons": (
            Button("J'ai lu", "ack"),
            Button("Oui", "answer:1:yes"),
            Button("Non", "answer:1:no"),
        ),
    }
    values.update(kw)
    return Rendered(**values)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------- sending


async def test_a_message_arrives_formatted_with_its_buttons_and_link(
    adapter: TelegramAdapter, peer: TelegramPeer
) -> None:
    assert adapter.channel is Channel.TELEGRAM
    outcome = await adapter.send(str(CHAT), _message())
    assert outcome.state is DeliveryState.SENT and outcome.ok
    [sent] = peer.messages
    assert outcome.provider_id == f"{CHAT}:{sent.message_id}"
    assert sent.parse_mode == "HTML"
    assert sent.raw == "<b>Excursion 3B</b>\n\nL'excursion a lieu &lt;vendredi&gt; &amp; samedi."
    assert sent.text == "Excursion 3B\n\nL'excursion a lieu <vendredi> & samedi."
    ack, yes, no, link = sent.buttons
    assert [b["text"] for b in (ack, yes, no)] == ["J'ai lu", "Oui", "Non"]
    assert link == {"text": "Ouvrir le carnet", "url": "http://127.0.0.1:8000/n/Zk3pQ9xYw2LmT8vRa1"}
    for button, action in ((ack, "ack"), (yes, "answer:1:yes"), (no, "answer:1:no")):
        assert len(button["callback_data"].encode()) <= 64
        assert verify_callback(button["callback_data"], CHAT, SECRET) == (action, "Zk3pQ9xYw2LmT8vR")


async def test_a_message_without_buttons_or_link_has_no_keyboard(adapter: TelegramAdapter, peer: TelegramPeer) -> None:
    assert (await adapter.send(str(CHAT), _message("Bonjour", link="", buttons=()))).ok
    assert peer.messages[0].reply_markup is None and peer.messages[0].text == "Excursion 3B\n\nBonjour"


async def test_a_blocked_bot_makes_the_contact_dead(adapter: TelegramAdapter, peer: TelegramPeer) -> None:
    peer.blocked.add(CHAT)
    outcome = await adapter.send(str(CHAT), _message())
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact
    assert "blocked" in outcome.error and peer.messages == []


@pytest.mark.parametrize("contact", ["999", "not-a-chat"])
async def test_an_unknown_chat_is_a_dead_contact(adapter: TelegramAdapter, peer: TelegramPeer, contact: str) -> None:
    outcome = await adapter.send(contact, _message())
    assert outcome.error_kind is ErrorKind.PERMANENT and outcome.dead_contact
    assert peer.messages == []


async def test_flood_is_transient_with_retry_after_and_then_goes_through(
    adapter: TelegramAdapter, peer: TelegramPeer
) -> None:
    peer.flood(1, retry_after=17)
    outcome = await adapter.send(str(CHAT), _message())
    assert outcome.error_kind is ErrorKind.TRANSIENT and outcome.retry_after == 17.0 and not outcome.dead_contact
    assert (await adapter.send(str(CHAT), _message())).ok


async def test_server_errors_and_an_unreachable_api_are_transient(adapter: TelegramAdapter, peer: TelegramPeer) -> None:
    peer.fail_next()
    outcome = await adapter.send(str(CHAT), _message())
    assert outcome.error_kind is ErrorKind.TRANSIENT and outcome.retry_after is None
    async with TelegramAdapter(_settings(f"http://127.0.0.1:{free_port()}", timeout=5)) as down:
        outcome = await down.send(str(CHAT), _message())
    assert outcome.error_kind is ErrorKind.TRANSIENT and "Network" in outcome.error


async def test_a_wrong_token_is_permanent_but_not_dead(peer: TelegramPeer) -> None:
    async with TelegramAdapter(_settings(peer.base_url, bot_token="1:" + "z" * 35)) as wrong:
        outcome = await wrong.send(str(CHAT), _message())
    assert outcome.error_kind is ErrorKind.PERMANENT and not outcome.dead_contact and "bot token" in outcome.error


async def test_the_adapter_closes_its_session(peer: TelegramPeer) -> None:
    adapter = TelegramAdapter(_settings(peer.base_url))
    assert (await adapter.send(str(CHAT), _message())).ok
    http = adapter.bot.session._session  # type: ignore[attr-defined] - aiogram's aiohttp.ClientSession
    assert http is not None and not http.closed
    await adapter.close()
    assert http.closed and adapter._bot is None
    await adapter.close()


# ---------------------------------------------------------------------------------------------- buttons


async def test_a_button_press_is_parsed_verified_and_answered(adapter: TelegramAdapter, peer: TelegramPeer) -> None:
    await adapter.send(str(CHAT), _message())
    [sent] = peer.messages
    update = peer.press_button(CHAT, sent, sent.buttons[1]["callback_data"])
    press = parse_update(update, SECRET)
    assert isinstance(press, ButtonPress)
    assert (press.chat_id, press.action, press.notice_ref) == (CHAT, "answer:1:yes", "Zk3pQ9xYw2LmT8vR")
    await answer_button(adapter.bot, press.callback_query_id, "Merci, réponse enregistrée")
    assert peer.answers[-1]["text"] == "Merci, réponse enregistrée"
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):  # answered once only
        await answer_button(adapter.bot, press.callback_query_id, "encore")


async def test_the_same_button_pressed_from_another_chat_is_forged(
    adapter: TelegramAdapter, peer: TelegramPeer
) -> None:
    await adapter.send(str(CHAT), _message())
    [sent] = peer.messages
    data = sent.buttons[0]["callback_data"]
    with pytest.raises(ForgedButton):
        parse_update(peer.press_button(OTHER, sent, data), SECRET)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d.replace("answer:1:yes", "answer:1:no", 1),
        lambda d: d.replace("|Zk3pQ9xYw2LmT8vR|", "|Zk3pQ9xYw2LmT8vS|"),
        lambda d: d[:-1] + ("A" if d[-1] != "A" else "B"),
        lambda d: d.rsplit("|", 1)[0],
        lambda d: "",
    ],
)
async def test_tampered_callback_data_is_forged(adapter: TelegramAdapter, peer: TelegramPeer, tamper: object) -> None:
    await adapter.send(str(CHAT), _message())
    [sent] = peer.messages
    data = tamper(sent.buttons[1]["callback_data"])  # type: ignore[operator]
    with pytest.raises(ForgedButton):
        parse_update(peer.press_button(CHAT, sent, data), SECRET)
    with pytest.raises(ForgedButton):  # and with another secret
        verify_callback(sign_callback("ack", "ref", CHAT, "t" * 40), CHAT, SECRET)
    assert issubclass(ForgedButton, ValueError)


def test_callback_data_over_64_bytes_is_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="64 bytes"):
        sign_callback("answer:" + "x" * 40, "Zk3pQ9xYw2LmT8vR", CHAT, SECRET)


# ------------------------------------------------------------------------------------------------ linking


def test_a_link_code_is_short_url_safe_and_names_the_guardian() -> None:
    code = make_link_code(12345, SECRET, NOW)
    assert len(code) <= 64 and all(c.isalnum() or c in "_-" for c in code)
    assert verify_link_code(code, SECRET, NOW + dt.timedelta(days=1)) == 12345
    assert make_link_code(12345, SECRET, NOW) != code  # each code is distinct
    assert _settings(None).deep_link(code) == f"https://t.me/carnet_test_bot?start={code}"


async def test_start_with_a_valid_code_is_a_link_request(peer: TelegramPeer) -> None:
    code = make_link_code(77, SECRET, NOW)
    request = parse_update(peer.user_sends(9090, f"/start {code}"), SECRET, now=NOW + dt.timedelta(minutes=5))
    assert isinstance(request, LinkRequest) and (request.chat_id, request.guardian_id) == (9090, 77)
    assert request.code_id


def test_expired_and_forged_codes_are_refused() -> None:
    code = make_link_code(77, SECRET, NOW)
    with pytest.raises(ExpiredLinkCode):
        verify_link_code(code, SECRET, NOW + dt.timedelta(days=15))
    with pytest.raises(ExpiredLinkCode):
        verify_link_code(code, SECRET, NOW + dt.timedelta(hours=2), max_age=dt.timedelta(hours=1))
    with pytest.raises(ForgedLinkCode):
        verify_link_code(code, "u" * 40, NOW)
    flipped = code[:5] + ("A" if code[5] != "A" else "B") + code[6:]
    with pytest.raises(ForgedLinkCode):
        verify_link_code(flipped, SECRET, NOW)
    for junk in ("", "abc", "x" * 40, code + "A", "!" * 40):
        with pytest.raises(ForgedLinkCode):
            verify_link_code(junk, SECRET, NOW)
    assert issubclass(ExpiredLinkCode, InvalidLinkCode) and issubclass(ForgedLinkCode, ValueError)


async def test_start_with_a_bad_code_raises_and_plain_text_is_a_reply(peer: TelegramPeer) -> None:
    with pytest.raises(ForgedLinkCode):
        parse_update(peer.user_sends(9090, "/start " + "A" * 40), SECRET, now=NOW)
    old = make_link_code(77, SECRET, NOW - dt.timedelta(days=30))
    with pytest.raises(ExpiredLinkCode):
        parse_update(peer.user_sends(9090, f"/start {old}"), SECRET, now=NOW)
    assert parse_update(peer.user_sends(9090, "Bonjour, à quelle heure ?"), SECRET) == TextReply(
        9090, "Bonjour, à quelle heure ?"
    )
    assert parse_update(peer.user_sends(9090, "/start"), SECRET) == TextReply(9090, "/start")
    assert parse_update({"update_id": 1, "edited_message": None}, SECRET) is None


class _Store:
    def __init__(self) -> None:
        self.used: set[str] = set()

    async def claim(self, code_id: str, expires_at: dt.datetime) -> bool:
        if code_id in self.used:
            return False
        self.used.add(code_id)
        return True


async def test_a_code_links_once() -> None:
    store, code = _Store(), make_link_code(5, SECRET, NOW)
    assert await redeem_link_code(code, SECRET, store, NOW) == 5
    with pytest.raises(InvalidLinkCode, match="already used"):
        await redeem_link_code(code, SECRET, store, NOW)


async def test_a_linked_chat_then_receives_messages(adapter: TelegramAdapter, peer: TelegramPeer) -> None:
    assert not (await adapter.send("9090", _message())).ok
    parse_update(peer.user_sends(9090, f"/start {make_link_code(77, SECRET, NOW)}"), SECRET, now=NOW)
    assert (await adapter.send("9090", _message())).ok


# --------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"bot_token": "123456"}, "bot token"),
        ({"bot_token": "abc:" + "x" * 35}, "bot token"),
        ({"bot_token": "123:short"}, "bot token"),
        ({"bot_token": "123:" + "x" * 30 + "!"}, "bot token"),
        ({"bot_username": "carnet"}, "username"),
        ({"api_base": "127.0.0.1:8081"}, "api_base"),
        ({"link_secret": "short"}, "secret"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_settings_are_checked_when_they_are_built(change: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _settings(**{"api_base": "http://127.0.0.1:1", **change})  # type: ignore[arg-type]


def test_the_token_and_secret_stay_out_of_repr() -> None:
    settings = _settings(None)
    assert TOKEN not in repr(settings) and SECRET not in repr(settings) and settings.api_base is None
