"""Machine translation drafts for the composer: the school's text sent to a translation service through its real
client, the answer put in the form for the author to read and correct. Nothing is sent to families from here: a
draft fills the composer's fields and is marked "machine translation" (``tr_<lang>_machine``) until the author
sends the message, and the families are told (``hub.messaging.rendering.language_note``).

Off by default (``CARNET_TRANSLATION`` unset). Two services:

* ``deepl``: DeepL's official Python client (``deepl.Translator``), its ``server_url`` settable
  (``CARNET_DEEPL_SERVER_URL``) for a proxy or, in tests and the demo, the local peer
  (``channels/peers/translator.py``). The client is synchronous: it runs in a thread.
* ``libretranslate``: LibreTranslate's HTTP API (``POST /translate``) on a school's own server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp
import deepl

from hub.config import Settings
from hub.messaging.rendering import language_of
from hub.messaging.translations import QuestionText, Version, fill_fields


class _Fields(Protocol):
    def one(self, name: str, default: str = "") -> str: ...
    def set(self, name: str, *values: object) -> None: ...


#: DeepL's codes of the product's languages (English: British, as the English catalogue).
_DEEPL_TARGET = {"fr": "FR", "nl": "NL", "en": "EN-GB"}
_DEEPL_SOURCE = {"fr": "FR", "nl": "NL", "en": "EN"}
#: How long the author waits for a draft at most.
TIMEOUT_SECONDS = 20.0


class TranslationUnavailable(Exception):
    """The service refused or did not answer: the author writes the translation, or tries again."""


class Translator(Protocol):
    name: str

    async def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]: ...


@dataclass
class DeepLTranslator:
    auth_key: str
    server_url: str = ""
    name: str = "DeepL"

    async def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        def call() -> list[str]:
            client = deepl.Translator(self.auth_key, server_url=self.server_url or None, send_platform_info=False)
            client.set_app_info("carnet", "1")
            try:
                results = client.translate_text(
                    list(texts),
                    source_lang=_DEEPL_SOURCE[language_of(source)],
                    target_lang=_DEEPL_TARGET[language_of(target)],
                    preserve_formatting=True,
                )
            finally:
                client.close()
            found = results if isinstance(results, list) else [results]
            return [r.text for r in found]

        try:
            return await asyncio.wait_for(asyncio.to_thread(call), TIMEOUT_SECONDS)
        except (deepl.DeepLException, TimeoutError) as exc:
            raise TranslationUnavailable(f"DeepL: {exc}") from exc


@dataclass
class LibreTranslator:
    url: str
    api_key: str = ""
    name: str = "LibreTranslate"

    async def translate(self, texts: Sequence[str], *, source: str, target: str) -> list[str]:
        payload: dict[str, object] = {
            "q": list(texts),
            "source": language_of(source),
            "target": language_of(target),
            "format": "text",
        }
        if self.api_key:
            payload["api_key"] = self.api_key
        try:
            timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(self.url.rstrip("/") + "/translate", json=payload) as response,
            ):
                body = await response.json(content_type=None)
                if response.status != 200:
                    raise TranslationUnavailable(f"LibreTranslate {response.status}: {body}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise TranslationUnavailable(f"LibreTranslate: {exc}") from exc
        found = body.get("translatedText") if isinstance(body, dict) else None
        if not isinstance(found, list) or len(found) != len(texts) or not all(isinstance(t, str) for t in found):
            raise TranslationUnavailable("LibreTranslate: an answer of another shape")
        return found


def from_settings(settings: Settings) -> Translator | None:
    """The configured service, None when machine translation is off (the default) or set in part."""
    if settings.translation == "deepl" and settings.deepl_auth_key:
        return DeepLTranslator(settings.deepl_auth_key, settings.deepl_server_url)
    if settings.translation == "libretranslate" and settings.libretranslate_url:
        return LibreTranslator(settings.libretranslate_url, settings.libretranslate_key)
    return None


def enabled(settings: Settings) -> bool:
    return from_settings(settings) is not None


async def draft(translator: Translator, school: Version, target: str) -> Version:
    """``school`` (the message in the school's language) translated into ``target`` in one request, marked."""
    texts = [school.subject, school.body]
    for question in school.questions:
        texts.append(question.text)
        texts.extend(question.choices)
    texts = [t if t.strip() else " " for t in texts]  # the services refuse an empty text
    out = await translator.translate(texts, source=school.language, target=target)
    if len(out) != len(texts):
        raise TranslationUnavailable(f"{translator.name}: {len(out)} texts back for {len(texts)}")
    subject, body, rest = out[0], out[1], iter(out[2:])
    questions = []
    for question in school.questions:
        text = next(rest)
        questions.append(QuestionText(text.strip(), tuple(next(rest).strip() for _ in question.choices)))
    return Version(language_of(target), " ".join(subject.split())[:200], body.strip(), tuple(questions), machine=True)


async def fill_form(fields: _Fields, settings: Settings, school: Version, target: str) -> str:
    """Ask ``target``'s draft of ``school`` and put it in the form (marked); the problem to show, or ""."""
    translator = from_settings(settings)
    if translator is None:
        return "Machine translation is not set up on this server."
    if language_of(target) == school.language or target not in _DEEPL_TARGET:
        return "Choose another language than the school's."
    if not school.subject and not school.body:
        return "Write the message first: the draft is made from it."
    try:
        version = await draft(translator, school, target)
    except TranslationUnavailable:
        return "The translation service did not answer: write the translation yourself, or try again later."
    fill_fields(fields, [version])
    return ""
