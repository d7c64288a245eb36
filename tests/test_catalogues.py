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
