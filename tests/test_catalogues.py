"""Every word a page shows is translated: each ``_("…")`` of the page templates and the web modules has a French
and a Dutch entry, with the same ``%(name)s`` placeholders as the English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hub.web.kit import page_translations

ROOT = Path(__file__).resolve().parent.parent
_CALL = re.compile(r"""\b_\(\s*"((?:[^"\\]|\\.)*)"|\b_\(\s*'((?:[^'\\]|\\.)*)'""")
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _msgids() -> dict[str, str]:
    found: dict[str, str] = {}
    sources = [*ROOT.glob("templates/pages/**/*.html"), *ROOT.glob("hub/web/*.py")]
    for path in sources:
        for match in _CALL.finditer(path.read_text(encoding="utf-8")):
            msgid = (match.group(1) or match.group(2)).replace('\\"', '"').replace("\\'", "'")
            found.setdefault(msgid, str(path.relative_to(ROOT)))
    return found


def test_the_pages_have_words_to_translate() -> None:
    assert len(_msgids()) > 50


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_every_page_word_is_translated(lang: str) -> None:
    catalog = page_translations(lang)._catalog  # the merged msgid -> msgstr table
    missing = [f"{where}: {msgid!r}" for msgid, where in _msgids().items() if not catalog.get(msgid)]
    assert not missing, f"{len(missing)} words without a {lang} translation:\n" + "\n".join(sorted(missing))


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_translations_keep_their_placeholders(lang: str) -> None:
    catalog = page_translations(lang)._catalog
    wrong = [
        msgid
        for msgid, msgstr in catalog.items()
        if isinstance(msgid, str)
        and msgid
        and sorted(_PLACEHOLDER.findall(msgid)) != sorted(_PLACEHOLDER.findall(msgstr))
    ]
    assert not wrong, f"placeholders differ in {lang}: {wrong}"


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_two_catalogues_never_translate_one_word_differently(lang: str) -> None:
    """The page modules' catalogues are merged: the same English word translated two ways in two files would
    change another module's page, depending on the order of the files."""
    from babel.messages.pofile import read_po

    seen: dict[str, tuple[str, str]] = {}
    clashes = []
    for path in sorted((ROOT / "hub" / "locale" / lang / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as po:
            for message in read_po(po):
                if not message.id or not message.string or path.name == "messages.po":
                    continue
                key = str(message.id)
                if key in seen and seen[key][1] != str(message.string):
                    clashes.append(
                        f"{key!r}: {seen[key][0]} says {seen[key][1]!r}, {path.name} says {message.string!r}"
                    )
                seen.setdefault(key, (path.name, str(message.string)))
    assert not clashes, "\n".join(clashes)


def test_french_plurals_follow_french_rules() -> None:
    fr = page_translations("fr")
    assert fr.plural(0) == fr.plural(1) != fr.plural(2)  # "0 message", "1 message", "2 messages"
    nl = page_translations("nl")
    assert nl.plural(0) == nl.plural(2) != nl.plural(1)
