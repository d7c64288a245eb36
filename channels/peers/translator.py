"""A local stand-in for a translation service (aiohttp on 127.0.0.1), for the demo and the tests.

``async with TranslatorPeer(auth_key=...) as peer:`` serves at ``peer.base_url`` two public APIs, so Carnet's
real clients talk to it as they would to the service:

* DeepL's API v2 (what the official ``deepl`` Python client calls; point its ``server_url`` here):
  ``POST /v2/translate`` with ``Authorization: DeepL-Auth-Key <key>`` and a JSON body ``{"text": [...],
  "target_lang": "NL", "source_lang": "FR", ...}``; answers ``{"translations": [{"detected_source_language",
  "text", "billed_characters"}]}``. A wrong key: 403 ``{"message": "Wrong endpoint"...}`` as DeepL does; no text
  or an unknown target language: 400. ``GET /v2/usage`` gives the characters billed so far.
* LibreTranslate's ``POST /translate`` (JSON or form: ``q`` a string or a list, ``source``, ``target``,
  ``format``, ``api_key``); answers ``{"translatedText": ...}`` of the same shape as ``q``. A wrong key: 403
  ``{"error": ...}``; a missing field or an unknown language: 400.

The "translation" is a small glossary of school words, word by word, keeping case and punctuation, with any
other word left as it is: enough to see a text come back changed, deterministic for the tests. Every request is
recorded in ``peer.requests`` (api, source, target, texts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from channels.peers.loopback import LoopbackServer

#: The languages the peer translates between (DeepL's codes; LibreTranslate uses the lower-case first part).
DEEPL_TARGETS = {"FR", "NL", "EN-GB", "EN-US", "DE"}
LIBRE_LANGUAGES = {"fr", "nl", "en", "de"}

#: French to Dutch and English, the words of the demo's messages; the reverse directions are read off it.
GLOSSARY: dict[str, dict[str, str]] = {
    "nl": {
        "sortie": "uitstap",
        "au": "naar",
        "théâtre": "theater",
        "piscine": "zwembad",
        "jeudi": "donderdag",
        "mardi": "dinsdag",
        "lundi": "maandag",
        "vendredi": "vrijdag",
        "classe": "klas",
        "réunion": "vergadering",
        "parents": "ouders",
        "école": "school",
        "bonjour": "goedendag",
        "merci": "bedankt",
        "oui": "ja",
        "non": "nee",
        "participera": "neemt deel",
        "votre": "uw",
        "enfant": "kind",
        "le": "de",
        "la": "de",
        "les": "de",
        "et": "en",
        "à": "om",
    },
    "en": {
        "sortie": "outing",
        "au": "to the",
        "théâtre": "theatre",
        "piscine": "swimming pool",
        "jeudi": "Thursday",
        "mardi": "Tuesday",
        "lundi": "Monday",
        "vendredi": "Friday",
        "classe": "class",
        "réunion": "meeting",
        "parents": "parents",
        "école": "school",
        "bonjour": "hello",
        "merci": "thank you",
        "oui": "yes",
        "non": "no",
        "participera": "will take part",
        "votre": "your",
        "enfant": "child",
        "le": "the",
        "la": "the",
        "les": "the",
        "et": "and",
        "à": "at",
    },
}
_WORD = re.compile(r"\w+", re.UNICODE)


def _table(source: str, target: str) -> dict[str, str]:
    if source == target:
        return {}
    if source == "fr":
        return GLOSSARY.get(target, {})
    if target == "fr":
        return {v.lower(): k for k, v in GLOSSARY.get(source, {}).items() if " " not in v}
    return {}


def translate(text: str, source: str, target: str) -> str:
    """``text`` word by word through the glossary (``source`` may be empty: French is assumed)."""
    table = _table(source or "fr", target)

    def one(match: re.Match[str]) -> str:
        word = match.group(0)
        found = table.get(word.lower())
        if found is None:
            return word
        return found[:1].upper() + found[1:] if word[:1].isupper() else found

    return _WORD.sub(one, text)


@dataclass(frozen=True)
class TranslationRequest:
    api: str  #: "deepl" or "libretranslate"
    source: str
    target: str
    texts: tuple[str, ...]


class TranslatorPeer:
    def __init__(self, *, auth_key: str = "peer-key:fx") -> None:
        self.auth_key = auth_key
        self.requests: list[TranslationRequest] = []
        self.billed = 0
        self._server = LoopbackServer("translator")

    @property
    def base_url(self) -> str:
        return self._server.base_url

    async def start(self) -> TranslatorPeer:
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_post("/v2/translate", self._deepl)
        app.router.add_get("/v2/usage", self._usage)
        app.router.add_post("/translate", self._libre)
        await self._server.serve(app)
        return self

    async def stop(self) -> None:
        await self._server.close()

    async def __aenter__(self) -> TranslatorPeer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------------------------------------ DeepL

    def _deepl_authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"DeepL-Auth-Key {self.auth_key}"

    async def _deepl(self, request: web.Request) -> web.Response:
        if not self._deepl_authorised(request):
            return web.json_response({"message": "Wrong endpoint. Use https://api.deepl.com"}, status=403)
        body: dict[str, Any]
        if request.content_type == "application/json":
            body = await request.json()
        else:
            form = await request.post()
            body = {"text": form.getall("text", []), **{k: form[k] for k in form if k != "text"}}
        texts = body.get("text")
        target = str(body.get("target_lang", "")).upper()
        source = str(body.get("source_lang", "") or "").upper()
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return web.json_response({"message": "Parameter 'text' not specified."}, status=400)
        if target not in DEEPL_TARGETS:
            return web.json_response({"message": "Value for 'target_lang' not supported."}, status=400)
        source_code = source.split("-")[0].lower() or "fr"
        target_code = target.split("-")[0].lower()
        self.requests.append(TranslationRequest("deepl", source_code, target_code, tuple(texts)))
        self.billed += sum(len(t) for t in texts)
        return web.json_response(
            {
                "translations": [
                    {
                        "detected_source_language": source_code.upper(),
                        "text": translate(t, source_code, target_code),
                        "billed_characters": len(t),
                    }
                    for t in texts
                ]
            }
        )

    async def _usage(self, request: web.Request) -> web.Response:
        if not self._deepl_authorised(request):
            return web.json_response({"message": "Wrong endpoint"}, status=403)
        return web.json_response({"character_count": self.billed, "character_limit": 500_000})

    # -------------------------------------------------------------------------------------- LibreTranslate

    async def _libre(self, request: web.Request) -> web.Response:
        body: dict[str, Any]
        if request.content_type == "application/json":
            body = await request.json()
        else:
            form = await request.post()
            body = {k: form[k] for k in form}
        if self.auth_key and body.get("api_key") != self.auth_key:
            return web.json_response({"error": "Invalid API key"}, status=403)
        q, source, target = body.get("q"), str(body.get("source", "")), str(body.get("target", ""))
        if q is None or not target:
            return web.json_response({"error": "Invalid request: missing q or target parameter"}, status=400)
        if target not in LIBRE_LANGUAGES or (source not in LIBRE_LANGUAGES and source != "auto"):
            return web.json_response({"error": f"{target} is not supported"}, status=400)
        texts = q if isinstance(q, list) else [q]
        if not all(isinstance(t, str) for t in texts):
            return web.json_response({"error": "Invalid request: q"}, status=400)
        source = "fr" if source == "auto" else source
        self.requests.append(TranslationRequest("libretranslate", source, target, tuple(texts)))
        out = [translate(t, source, target) for t in texts]
        return web.json_response({"translatedText": out if isinstance(q, list) else out[0]})
