"""Telegram through the real ``aiogram`` 3 client (its aiohttp session), to a chat the guardian linked.

Sending
    ``TelegramAdapter.send(chat_id, message)`` calls ``bot.send_message`` with the subject in bold and the text,
    both HTML-escaped (``parse_mode="HTML"``), and an inline keyboard: one callback button per
    ``Rendered.buttons`` (acknowledge, answer a slip) and a URL button to the guardian's personal link. The
    outcome is SENT with ``"<chat_id>:<message_id>"`` as ``provider_id``.

Button presses (callback data, 64 bytes at most)
    ``action|notice_ref|sig``: ``notice_ref`` is the last path segment of the personal link (cut to 16
    characters; else the idempotency key), ``sig`` 8 bytes of HMAC-SHA256 (base64url, 11 characters) over the
    chat id, the action and the reference, keyed by ``TelegramSettings.link_secret``. :func:`verify_callback`
    raises :class:`ForgedButton` when the signature does not match, so altered data, and data replayed from
    *another chat*, are refused. Actions and references must not contain ``|``.

Refusals
    * ``TelegramForbiddenError`` (the user blocked the bot, deleted their account) and "chat not found":
      permanent, the contact is dead.
    * ``TelegramRetryAfter`` (429): transient with Telegram's ``retry_after``.
    * ``TelegramServerError``, ``TelegramNetworkError`` (timeouts, connection refused), an unreadable answer:
      transient.
    * 401 (wrong bot token): permanent, contact kept (configuration). Any other refusal: permanent.

Linking a chat to a guardian (deep link)
    :func:`make_link_code` gives a 40-character code for ``https://t.me/<bot>?start=<code>``: the guardian id,
    the time it was made and a random nonce, signed (HMAC-SHA256, 12 bytes). :func:`verify_link_code` refuses a
    forged or expired code. A code is *one-time*: the hub must remember the :attr:`LinkRequest.code_id` of the
    codes it redeemed until they expire and refuse them a second time (see :class:`LinkCodeStore` and
    :func:`redeem_link_code`).

Updates
    :func:`parse_update` reads a Telegram ``Update`` (webhook JSON): ``/start <code>`` -> :class:`LinkRequest`, a
    callback query -> :class:`ButtonPress` (verified), a text message -> :class:`TextReply`, anything else ->
    ``None``. Answer every press with :func:`answer_button` (Telegram shows a spinner until then).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import html
import re
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update

from channels.base import ChannelAdapter, Outcome, Rendered
from hub import clock
from hub.enums import Channel

__all__ = [
    "DEFAULT_LINK_MAX_AGE",
    "ButtonPress",
    "ExpiredLinkCode",
    "ForgedButton",
    "ForgedLinkCode",
    "InvalidLinkCode",
    "LinkCodeStore",
    "LinkRequest",
    "TelegramAdapter",
    "TelegramSettings",
    "TextReply",
    "answer_button",
    "link_code_id",
    "make_link_code",
    "parse_update",
    "redeem_link_code",
    "render_html",
    "sign_callback",
    "verify_callback",
]

BOT_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{30,}$")
#: Telegram usernames of bots: 5-32 of letters, digits and underscores, ending in "bot".
BOT_USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]$")
MAX_CALLBACK_DATA = 64  #: bytes
MAX_TEXT = 4096  #: characters of a message, after entity parsing
NOTICE_REF_LEN = 16
_SIG_BYTES = 8
_CHAT_ID_RE = re.compile(r"^-?[1-9][0-9]{0,19}$")
_REF_RE = re.compile(r"[^A-Za-z0-9_-]")

#: A link code is valid this long after it was made (the letter or e-mail that carries it may sit a while).
DEFAULT_LINK_MAX_AGE = dt.timedelta(days=14)
_LINK_LAYOUT = struct.Struct(">QI6s")  # guardian id, issued (unix seconds), nonce
_LINK_SIG_BYTES = 12
_LINK_CODE_LEN = 40  # base64url of 18 + 12 bytes

_LINK_LABELS = {"fr": "Ouvrir le carnet", "nl": "Open de heen-en-weer", "de": "Heft öffnen", "en": "Open"}


@dataclass(frozen=True)
class TelegramSettings:
    bot_token: str = field(repr=False)
    #: The bot's username, without "@": deep links are https://t.me/<bot_username>?start=<code>.
    bot_username: str
    #: None: Telegram's real Bot API. The tests and the demo set the local peer's URL.
    api_base: str | None = None
    #: Signs the deep-link codes and the callback data (at least 32 characters).
    link_secret: str = field(default="", repr=False)
    #: Seconds for one API call.
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not BOT_TOKEN_RE.fullmatch(self.bot_token or ""):
            raise ValueError("telegram: the bot token must look like '123456:ABC...' (digits, ':', 30+ of A-Za-z0-9_-)")
        if not BOT_USERNAME_RE.fullmatch((self.bot_username or "").removeprefix("@")):
            raise ValueError(f"telegram: the bot username must be a Telegram bot username, got {self.bot_username!r}")
        if self.api_base is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", self.api_base):
            raise ValueError(f"telegram: api_base must be an http(s) URL or None for Telegram, got {self.api_base!r}")
        if len(self.link_secret or "") < 32:
            raise ValueError("telegram: the link secret must be at least 32 characters")
        if not self.timeout > 0:
            raise ValueError(f"telegram: timeout must be > 0 seconds, got {self.timeout}")

    def deep_link(self, code: str) -> str:
        return f"https://t.me/{self.bot_username.removeprefix('@')}?start={code}"


# ------------------------------------------------------------------------------------------- callback data


class ForgedButton(ValueError):
    """Callback data whose signature does not match: altered, made up, or pressed in another chat."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _callback_mac(action: str, notice_ref: str, chat_id: int | str, secret: str) -> str:
    msg = f"carnet-button\x00{int(chat_id)}\x00{action}\x00{notice_ref}".encode()
    return _b64(hmac.new(secret.encode(), msg, hashlib.sha256).digest()[:_SIG_BYTES])


def sign_callback(action: str, notice_ref: str, chat_id: int | str, secret: str) -> str:
    """``action|notice_ref|sig``, bound to ``chat_id``; ValueError when over Telegram's 64 bytes."""
    if not action or "|" in action or "|" in notice_ref:
        raise ValueError(f"telegram: a button action and notice reference must be non-empty, without '|': {action!r}")
    data = f"{action}|{notice_ref}|{_callback_mac(action, notice_ref, chat_id, secret)}"
    if len(data.encode()) > MAX_CALLBACK_DATA:
        raise ValueError(f"telegram: callback data over {MAX_CALLBACK_DATA} bytes for action {action!r}")
    return data


def verify_callback(data: str, chat_id: int | str, secret: str) -> tuple[str, str]:
    """``(action, notice_ref)`` of callback data pressed in ``chat_id``; :class:`ForgedButton` otherwise."""
    parts = (data or "").split("|")
    if len(parts) != 3 or not parts[0]:
        raise ForgedButton("telegram: malformed callback data")
    action, notice_ref, sig = parts
    if not hmac.compare_digest(sig.encode(), _callback_mac(action, notice_ref, chat_id, secret).encode()):
        raise ForgedButton("telegram: the callback data's signature does not match this chat")
    return action, notice_ref


def notice_ref_of(message: Rendered) -> str:
    """The reference the buttons carry: the personal link's last path segment (16 characters at most)."""
    segment = urlsplit(message.link).path.rstrip("/").rsplit("/", 1)[-1] if message.link else ""
    return _REF_RE.sub("", segment or message.idempotency_key)[:NOTICE_REF_LEN]


# ---------------------------------------------------------------------------------------------- link codes


class InvalidLinkCode(ValueError):
    """A deep-link code that cannot link a chat."""


class ForgedLinkCode(InvalidLinkCode):
    """Malformed, or its signature does not match."""


class ExpiredLinkCode(InvalidLinkCode):
    """Older than the allowed age (or made in the future)."""


def _link_mac(payload: bytes, secret: str) -> bytes:
    return hmac.new(secret.encode(), b"carnet-link\x00" + payload, hashlib.sha256).digest()[:_LINK_SIG_BYTES]


def make_link_code(guardian_id: int, secret: str, now: dt.datetime) -> str:
    """A signed one-time code (40 characters of A-Za-z0-9_-) for ``https://t.me/<bot>?start=<code>``."""
    if not 0 < guardian_id < 2**64:
        raise ValueError(f"telegram: a guardian id must be a positive integer, got {guardian_id}")
    payload = _LINK_LAYOUT.pack(guardian_id, int(now.timestamp()), secrets.token_bytes(6))
    return _b64(payload + _link_mac(payload, secret))


def _open_link_code(code: str, secret: str) -> tuple[int, int, bytes]:
    if len(code or "") != _LINK_CODE_LEN or not re.fullmatch(r"[A-Za-z0-9_-]+", code):
        raise ForgedLinkCode("telegram: malformed link code")
    raw = _unb64(code)
    payload, sig = raw[: _LINK_LAYOUT.size], raw[_LINK_LAYOUT.size :]
    if not hmac.compare_digest(sig, _link_mac(payload, secret)):
        raise ForgedLinkCode("telegram: the link code's signature does not match")
    return _LINK_LAYOUT.unpack(payload)


def verify_link_code(code: str, secret: str, now: dt.datetime, max_age: dt.timedelta = DEFAULT_LINK_MAX_AGE) -> int:
    """The guardian id of a genuine, unexpired code; :class:`ForgedLinkCode` / :class:`ExpiredLinkCode`."""
    guardian_id, issued, _nonce = _open_link_code(code, secret)
    age = now.timestamp() - issued
    if age > max_age.total_seconds() or age < -60:  # a minute of clock skew
        raise ExpiredLinkCode("telegram: the link code has expired")
    return guardian_id


def link_code_id(code: str) -> str:
    """What identifies a code for one-time use (its signature: the nonce makes each code distinct)."""
    return code[-16:]


class LinkCodeStore(Protocol):
    async def claim(self, code_id: str, expires_at: dt.datetime) -> bool:
        """Record the code as used; False when it was already used. Entries may be dropped after ``expires_at``."""
        ...


async def redeem_link_code(
    code: str,
    secret: str,
    store: LinkCodeStore,
    now: dt.datetime,
    max_age: dt.timedelta = DEFAULT_LINK_MAX_AGE,
) -> int:
    """:func:`verify_link_code`, then one-time use: a code redeemed before raises :class:`InvalidLinkCode`."""
    guardian_id = verify_link_code(code, secret, now, max_age)
    _gid, issued, _nonce = _open_link_code(code, secret)
    expires_at = dt.datetime.fromtimestamp(issued, dt.UTC) + max_age
    if not await store.claim(link_code_id(code), expires_at):
        raise InvalidLinkCode("telegram: the link code was already used")
    return guardian_id


# ------------------------------------------------------------------------------------------------- updates


@dataclass(frozen=True)
class LinkRequest:
    chat_id: int
    guardian_id: int
    code_id: str  #: claim it in a :class:`LinkCodeStore`: a code links one chat, once


@dataclass(frozen=True)
class ButtonPress:
    chat_id: int
    action: str
    notice_ref: str
    callback_query_id: str


@dataclass(frozen=True)
class TextReply:
    chat_id: int
    text: str


def parse_update(
    update_json: dict[str, Any],
    secret: str,
    now: dt.datetime | None = None,
    max_age: dt.timedelta = DEFAULT_LINK_MAX_AGE,
) -> LinkRequest | ButtonPress | TextReply | None:
    """What a webhook update means. Raises :class:`InvalidLinkCode` for a bad ``/start`` code and
    :class:`ForgedButton` for callback data not signed for the chat it was pressed in."""
    update = Update.model_validate(update_json)
    if (query := update.callback_query) is not None:
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        action, notice_ref = verify_callback(query.data or "", chat_id, secret)
        return ButtonPress(chat_id, action, notice_ref, query.id)
    message = update.message
    if message is None or message.text is None or message.chat.type != "private":
        return None
    command, _, payload = message.text.strip().partition(" ")
    if command.split("@", 1)[0] == "/start" and payload.strip():
        code = payload.strip()
        guardian_id = verify_link_code(code, secret, now or clock.now(), max_age)
        return LinkRequest(message.chat.id, guardian_id, link_code_id(code))
    return TextReply(message.chat.id, message.text)


async def answer_button(bot: Bot, callback_query_id: str, text: str = "") -> None:
    """Stop the button's spinner, with a short notification (200 characters at most) when ``text`` is given."""
    await bot.answer_callback_query(callback_query_id, text=text[:200] or None)


# ------------------------------------------------------------------------------------------------- sending


def render_html(message: Rendered) -> str:
    """The subject in bold and the text, escaped for ``parse_mode="HTML"``, within Telegram's 4096 characters.

    A message rendered by ``hub.messaging.rendering`` for Telegram already carries its Telegram HTML: that is sent as
    it is.
    """
    if message.html and len(message.html) <= MAX_TEXT:
        return message.html
    subject, text = message.subject.strip(), message.text.strip()
    room = MAX_TEXT - len(subject) - 2
    if len(text) > room:
        text = text[: max(0, room - 1)].rstrip() + "…"
    head = f"<b>{html.escape(subject, quote=False)}</b>" if subject else ""
    return "\n\n".join(part for part in (head, html.escape(text, quote=False)) if part)


def _dead(exc: TelegramAPIError) -> bool:
    return isinstance(exc, TelegramForbiddenError) or (
        isinstance(exc, TelegramBadRequest) and "chat not found" in exc.message.lower()
    )


def classify_telegram_error(exc: Exception) -> Outcome:
    error = f"telegram {type(exc).__name__}: {getattr(exc, 'message', exc)}"
    if isinstance(exc, TelegramRetryAfter):
        return Outcome.transient(error, retry_after=float(exc.retry_after))
    if isinstance(exc, TelegramServerError | TelegramNetworkError | ClientDecodeError):
        return Outcome.transient(error)
    if isinstance(exc, TelegramAPIError) and _dead(exc):
        return Outcome.permanent(error, dead_contact=True)
    if isinstance(exc, TelegramUnauthorizedError):
        return Outcome.permanent(f"{error} (check the bot token)")
    return Outcome.permanent(error)


class TelegramAdapter(ChannelAdapter):
    """One aiogram ``Bot`` (one aiohttp session) per adapter, made on first use; :meth:`close` releases it."""

    channel = Channel.TELEGRAM

    def __init__(self, settings: TelegramSettings) -> None:
        self.settings = settings
        self._bot: Bot | None = None

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            s = self.settings
            api = TelegramAPIServer.from_base(s.api_base.rstrip("/")) if s.api_base else PRODUCTION
            self._bot = Bot(
                s.bot_token,
                session=AiohttpSession(api=api, timeout=s.timeout),
                default=DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True),
            )
        return self._bot

    def keyboard(self, chat_id: int, message: Rendered) -> InlineKeyboardMarkup | None:
        rows: list[list[InlineKeyboardButton]] = []
        if message.buttons:
            ref = notice_ref_of(message)
            if not ref:
                raise ValueError("telegram: buttons need a notice reference (a personal link or idempotency key)")
            secret = self.settings.link_secret
            rows += [
                [InlineKeyboardButton(text=b.label, callback_data=sign_callback(b.action, ref, chat_id, secret))]
                for b in message.buttons
            ]
        if message.link:
            label = _LINK_LABELS.get(message.language, _LINK_LABELS["fr"])
            rows.append([InlineKeyboardButton(text=label, url=message.link)])
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    async def send(self, contact: str, message: Rendered) -> Outcome:
        if not _CHAT_ID_RE.fullmatch(contact.strip()):
            return Outcome.permanent(f"telegram: {contact!r} is not a chat id", dead_contact=True)
        chat_id = int(contact)
        text = render_html(message)
        if not text:
            return Outcome.permanent("telegram: nothing to send (empty subject and text)")
        try:
            markup = self.keyboard(chat_id, message)
        except ValueError as exc:
            return Outcome.permanent(str(exc))
        try:
            sent = await self.bot.send_message(chat_id, text, reply_markup=markup)
        except (TelegramAPIError, ClientDecodeError) as exc:
            return classify_telegram_error(exc)
        return Outcome.sent(f"{sent.chat.id}:{sent.message_id}")

    async def answer(self, callback_query_id: str, text: str = "") -> None:
        await answer_button(self.bot, callback_query_id, text)

    async def close(self) -> None:
        if self._bot is not None:
            bot, self._bot = self._bot, None
            await bot.session.close()

    async def __aenter__(self) -> TelegramAdapter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
