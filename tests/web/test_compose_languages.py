"""The composer in several languages: the author writes the Dutch version beside the French one, the preview
counts the families per language and warns of a missing one, and a machine translation's draft comes from the
translation service (DeepL's official client, LibreTranslate's API) through the local peer, fills the form
marked "machine translation", and saves or sends nothing by itself."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from channels.peers.translator import TranslatorPeer
from hub.config import Settings
from hub.enums import Language
from hub.messaging import translate_client, translations
from hub.messaging.models import Message, MessageVersion
from hub.people.models import Guardian
from tests.web.conftest import Site, _serve
from tests.web.test_api import Api, _trip, count
from tests.web.test_compose import PRINCIPAL, _compose, _draft_id, _message_form

KEY = "peer-key:fx"


class _PeerThread:
    """The translator peer on its own event loop (the app's settings need its address before the app starts)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.peer = TranslatorPeer(auth_key=KEY)

    def __enter__(self) -> TranslatorPeer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.peer.start(), self.loop).result(10)
        return self.peer

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.peer.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def translator() -> Iterator[TranslatorPeer]:
    with _PeerThread() as peer:
        yield peer


@pytest.fixture
def deepl_site(demo_db_url: str, tmp_path: Path, translator: TranslatorPeer) -> Iterator[Site]:
    settings = Settings(
        data_dir=tmp_path,
        database_url=demo_db_url,
        base_url="http://testserver",
        translation="deepl",
        deepl_auth_key=KEY,
        deepl_server_url=translator.base_url,
    )
    yield from _serve(settings)


def _value(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page)
    return found.group(1) if found else ""


def _textarea(page: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*>([^<]*)</textarea>', page)
    return found.group(1) if found else ""


async def _versions(message_id: int) -> list[tuple[str, str, bool]]:
    rows = await MessageVersion.filter(message_id=message_id).order_by("language")
    return [(r.language, r.subject, r.machine) for r in rows]


def test_a_dutch_version_is_stored_and_the_preview_warns_of_english(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    form = _message_form(school="1", tr_nl_subject="Uitstap naar het museum", tr_nl_body="De klas gaat donderdag.")
    message_id = _draft_id(_compose(site, form))
    assert site.run(_versions, message_id) == [("nl", "Uitstap naar het museum", False)]
    page = site.client.get(f"/staff/compose/{message_id}/preview?lang=en&show=nl").text
    # the whole school reads French, Dutch and English: English readers are warned of, Dutch ones are not
    assert re.search(r"\d+ famil(y|ies) reading English in this audience will get the message in French", page)
    assert "reading Dutch" not in page
    assert "Uitstap naar het museum" in page  # the Dutch rendering of the preview is the Dutch version
    # the draft opens again with its Dutch version
    edit = site.client.get(f"/staff/compose?draft={message_id}").text
    assert _value(edit, "tr_nl_subject") == "Uitstap naar het museum"


def test_half_a_version_is_refused_with_a_clear_error_and_nothing_stored(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    before = site.run(lambda: Message.all().count())
    response = _compose(site, _message_form(school="1", tr_en_subject="Museum outing"))
    assert response.status_code == 422
    assert (
        "Write the message in this language too" in response.text
        or "Schrijf" in response.text
        or ("Écrivez aussi le message dans cette langue" in response.text)
    )
    assert site.run(lambda: Message.all().count()) == before


def test_machine_translation_is_off_by_default(site: Site) -> None:
    site.login_staff(PRINCIPAL)
    page = site.client.get("/staff/compose").text
    assert 'value="translate:nl"' not in page
    response = _compose(site, _message_form(school="1", action="translate:nl"))
    assert response.status_code == 422 and "tr_nl_subject" in response.text
    assert _value(response.text, "tr_nl_subject") == ""


def test_a_machine_draft_comes_from_deepl_through_its_client_and_is_marked(
    deepl_site: Site, translator: TranslatorPeer
) -> None:
    site = deepl_site
    site.login_staff(PRINCIPAL)
    assert 'value="translate:nl"' in site.client.get("/staff/compose").text
    before = site.run(lambda: Message.all().count())
    form = _message_form(school="1", subject="Sortie au théâtre", body="Jeudi, la classe va au théâtre.")
    response = _compose(site, {**form, "action": "translate:nl"})
    assert response.status_code == 200, response.text
    assert [(r.api, r.source, r.target) for r in translator.requests] == [("deepl", "fr", "nl")]
    assert translator.requests[0].texts[:2] == ("Sortie au théâtre", "Jeudi, la classe va au théâtre.")
    page = response.text
    assert _value(page, "tr_nl_subject") == "Uitstap naar theater"
    assert _textarea(page, "tr_nl_body") == "Donderdag, de klas va naar theater."
    assert 'name="tr_nl_machine" value="1" checked' in page  # marked for the author
    assert site.run(lambda: Message.all().count()) == before  # a draft fills the form, never saves nor sends
    # the author reviews it and previews: the version is kept, marked, and the family will be told
    reviewed = {
        **form,
        "tr_nl_subject": "Uitstap naar het theater",
        "tr_nl_body": "Donderdag gaat de klas naar het theater.",
        "tr_nl_machine": "1",
    }
    message_id = _draft_id(_compose(site, reviewed))
    assert site.run(_versions, message_id) == [("nl", "Uitstap naar het theater", True)]
    preview = site.client.get(f"/staff/compose/{message_id}/preview?show=nl").text
    assert "machinevertaling" in preview or "machine translation" in preview.lower()


async def test_libretranslate_drafts_through_its_api_and_refusals_are_clear() -> None:
    async with TranslatorPeer(auth_key=KEY) as peer:
        school = translations.Version(
            "fr",
            "Réunion des parents",
            "Bonjour,\n\nLa réunion est lundi.",
            (translations.QuestionText("Oui ?", ("Oui", "Non")),),
        )
        client = translate_client.LibreTranslator(peer.base_url, KEY)
        version = await translate_client.draft(client, school, "en")
        assert version.machine and version.language == "en"
        assert version.subject == "Meeting des parents" or version.subject.startswith("Meeting")
        assert version.questions[0].choices == ("Yes", "No")
        assert peer.requests[-1].api == "libretranslate"
        with pytest.raises(translate_client.TranslationUnavailable):
            await translate_client.draft(translate_client.LibreTranslator(peer.base_url, "wrong"), school, "en")
        with pytest.raises(translate_client.TranslationUnavailable):
            await translate_client.draft(translate_client.DeepLTranslator("wrong", peer.base_url), school, "nl")


async def _a_notice_of(message_id: int, language: Language) -> int:
    from hub.messaging.models import Notice

    notice = await Notice.filter(message_id=message_id).order_by("id").first()
    assert notice is not None
    await Guardian.filter(id=notice.guardian_id).update(language=language)
    return notice.guardian_id


def test_the_api_takes_versions_and_a_guardian_reads_theirs(site: Site) -> None:
    api = Api(site).sign_in_staff(PRINCIPAL)
    klass = next(g for g in api.get("/groups").json()["items"] if g["kind"] == "class")
    trip = _trip([{"kind": "group", "id": klass["id"]}])
    dutch = {
        "language": "nl",
        "subject": "Uitstap naar het theater",
        "body": "We gaan op 10 december naar een toneelstuk.",
        "questions": [{"text": "Mijn kind neemt deel."}, {"text": "Maaltijd", "choices": ["boterhammen", "warm"]}],
        "machine": True,
    }
    for wrong in ({**dutch, "language": "de"}, {**dutch, "language": "fr"}, {**dutch, "subject": ""}):
        before = count(site, Message)
        refused = api.post("/messages", {**trip, "versions": [wrong]})
        assert refused.status_code == 422, refused.text
        assert count(site, Message) == before
    assert api.post("/messages", {**trip, "versions": [dutch, dutch]}).status_code == 422
    created = api.post("/messages", {**trip, "versions": [dutch]})
    assert created.status_code == 201, created.text
    message_id = created.json()["id"]
    assert site.run(_versions, message_id) == [("nl", "Uitstap naar het theater", True)]

    guardian_id = site.run(_a_notice_of, message_id, Language.NL)
    mine = Api(site).sign_in_guardian(guardian_id)
    (item,) = [n for n in mine.get("/notices").json()["items"] if n["message_id"] == message_id]
    assert item["subject"] == "Uitstap naar het theater"  # the list too, as the detail (issue 14)
    detail = mine.get(f"/notices/{item['id']}").json()
    assert detail["subject"] == "Uitstap naar het theater" and detail["body"].startswith("We gaan")
    assert "machinevertaling" in detail["language_note"]
    page = site.client.get(f"/portal/notices/{item['id']}").text
    assert "Mijn kind neemt deel." in page and "boterhammen" in page and "machinevertaling" in page
