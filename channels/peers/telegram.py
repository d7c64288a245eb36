"""A local stand-in for Telegram's Bot API (aiohttp on 127.0.0.1), for the demo and the tests.

``async with TelegramPeer(token=..., username="carnet_test_bot", chats={1001}) as peer:`` serves at
``peer.base_url``; point ``TelegramSettings.api_base`` at it and aiogram talks to it as to api.telegram.org
(``POST /bot<token>/<method>``, form-encoded or multipart, or JSON).

What it implements
    * ``sendMessage`` (chat_id, text, parse_mode, reply_markup): 200 and the Message JSON (message_id, date,
      chat ``{id, type: "private"}``, from the bot, the text with the HTML tags parsed away, reply_markup), kept
      in ``peer.messages``. Refusals, as Telegram's ``{"ok": false, "error_code", "description"}``:

      =====================================  =====  ==================================================
      case                                   code   description
      =====================================  =====  ==================================================
      a token other than the peer's          401    Unauthorized
      a chat in ``peer.blocked``             403    Forbidden: bot was blocked by the user
      a chat not in ``peer.chats``           400    Bad Request: chat not found
      empty text / over 4096 characters      400    Bad Request: message text is empty / is too long
      HTML that does not parse               400    Bad Request: can't parse entities: ...
      callback data over 64 bytes            400    Bad Request: BUTTON_DATA_INVALID
      ``peer.flood(n, retry_after)``         429    Too Many Requests: retry after N (parameters)
      ``peer.fail_next(n)``                  500    Internal Server Error
      =====================================  =====  ==================================================

    * ``answerCallbackQuery`` (for a query id the peer issued with :meth:`TelegramPeer.press_button`, else 400),
      kept in ``peer.answers``; ``getMe``.
    * Updates, as the webhook JSON Telegram would post: :meth:`TelegramPeer.press_button` and
      :meth:`TelegramPeer.user_sends` return the ``Update`` dict (the test hands it to ``parse_update``).
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from aiohttp import web

from channels.peers.loopback import LoopbackServer

_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler", "span"}
_TAGS |= {"blockquote", "tg-emoji"}


@dataclass
class PeerMessage:
    chat_id: int
    message_id: int
    text: str  #: as the guardian sees it (tags parsed away, entities unescaped)
    raw: str  #: as the bot sent it
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    date: int = field(default_factory=lambda: int(time.time()))

    @property
    def buttons(self) -> list[dict[str, Any]]:
        return [b for row in (self.reply_markup or {}).get("inline_keyboard", []) for b in row]


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.error = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TAGS:
            self.error = self.error or f'unsupported start tag "{tag}"'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.error = self.error or f'unexpected end tag "{tag}"'

    def handle_data(self, data: str) -> None:
        self.out.append(data)


def parse_html(text: str) -> tuple[str, str]:
    """(plain text, error): what Telegram shows for ``parse_mode="HTML"``."""
    parser = _Html()
    parser.feed(text)
    parser.close()
    if parser.stack and not parser.error:
        parser.error = f'can\'t find end tag corresponding to start tag "{parser.stack[-1]}"'
    # A bare "<" that is not a tag is an error for Telegram, where HTMLParser keeps it as data.
    plain = "".join(parser.out)
    if not parser.error and "<" in plain and plain.count("<") > text.count("&lt;") + text.count("&#60;"):
        parser.error = "unsupported start tag"
    return plain, parser.error


class TelegramPeer:
    def __init__(self, *, token: str, username: str = "carnet_test_bot", chats: set[int] | None = None) -> None:
        self.token = token
        self.username = username
        #: Chats that started the bot: sending anywhere else is "chat not found".
        self.chats: set[int] = set(chats or ())
        #: Chats whose user blocked the bot: 403.
        self.blocked: set[int] = set()
        self.messages: list[PeerMessage] = []
        self.answers: list[dict[str, Any]] = []
        self._flood: list[float] = []
        self._fail = 0
        self._queries: set[str] = set()
        self._ids = itertools.count(1)
        self._updates = itertools.count(100_000)
        self._server = LoopbackServer("Telegram")

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def start(self) -> TelegramPeer:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._dispatch)
        await self._server.serve(app)
        return self

    async def stop(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> TelegramPeer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------ controls

    def flood(self, n: int = 1, retry_after: int = 5) -> None:
        """The next ``n`` sendMessage calls get 429 with ``parameters.retry_after``."""
        self._flood += [retry_after] * n

    def fail_next(self, n: int = 1) -> None:
        """The next ``n`` sendMessage calls get 500."""
        self._fail += n

    def to(self, chat_id: int) -> list[PeerMessage]:
        return [m for m in self.messages if m.chat_id == chat_id]

    def message_json(self, m: PeerMessage, chat_id: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "message_id": m.message_id,
            "date": m.date,
            "chat": {"id": chat_id if chat_id is not None else m.chat_id, "type": "private", "first_name": "Parent"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Carnet", "username": self.username},
            "text": m.text,
        }
        if m.reply_markup:
            out["reply_markup"] = m.reply_markup
        return out

    def press_button(self, chat_id: int, message: PeerMessage, callback_data: str) -> dict[str, Any]:
        """The Update for a user of ``chat_id`` pressing a button carrying ``callback_data`` on ``message`` (as
        shown in ``chat_id``: pressing data copied from another chat's message is how a replay looks)."""
        query_id = str(secrets.randbits(63))
        self._queries.add(query_id)
        return {
            "update_id": next(self._updates),
            "callback_query": {
                "id": query_id,
                "from": _user(chat_id),
                "message": self.message_json(message, chat_id),
                "chat_instance": str(chat_id * 7919),
                "data": callback_data,
            },
        }

    def user_sends(self, chat_id: int, text: str) -> dict[str, Any]:
        """The Update for a text message from the user of the private chat ``chat_id``; "/start" also makes the
        chat known (as pressing Start does)."""
        message: dict[str, Any] = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Parent"},
            "from": _user(chat_id),
            "text": text,
        }
        if text.startswith("/"):
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split(" ", 1)[0])}]
            if text.split(" ", 1)[0] == "/start":
                self.chats.add(chat_id)
                self.blocked.discard(chat_id)
        return {"update_id": next(self._updates), "message": message}

    # ------------------------------------------------------------------------------------------ API

    async def _dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        params = await _params(request)
        method = request.match_info["method"].lower()
        if method == "sendmessage":
            return self._send_message(params)
        if method == "answercallbackquery":
            return self._answer(params)
        if method == "getme":
            return _ok(
                {"id": self.bot_id, "is_bot": True, "first_name": "Carnet", "username": self.username}
                | {"can_join_groups": False, "can_read_all_group_messages": False, "supports_inline_queries": False}
            )
        return _error(404, "Not Found: method not found")

    def _send_message(self, params: dict[str, Any]) -> web.Response:
        try:
            chat_id = int(params.get("chat_id", ""))
        except (TypeError, ValueError):
            return _error(400, "Bad Request: chat not found")
        if self._flood:
            retry_after = self._flood.pop(0)
            return _error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)
        if self._fail:
            self._fail -= 1
            return _error(500, "Internal Server Error")
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.chats:
            return _error(400, "Bad Request: chat not found")
        raw = str(params.get("text") or "")
        parse_mode = params.get("parse_mode") or None
        text, problem = parse_html(raw) if parse_mode == "HTML" else (raw, "")
        if problem:
            return _error(400, f"Bad Request: can't parse entities: {problem}")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            markup = json.loads(markup)
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        message = PeerMessage(chat_id, next(self._ids), text, raw, parse_mode, markup or None)
        self.messages.append(message)
        return _ok(self.message_json(message))

    def _answer(self, params: dict[str, Any]) -> web.Response:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._queries:
            return _error(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        self._queries.discard(query_id)
        self.answers.append(params)
        return _ok(True)


async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        return dict(await request.json())
    if request.method == "GET":
        return dict(request.query)
    form = await request.post()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": "Parent", "language_code": "fr"}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, *, retry_after: float | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
