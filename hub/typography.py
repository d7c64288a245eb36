"""The typography of each language, applied by one helper (a leaf: it imports nothing of the product).

French (the rules of the Imprimerie nationale that Belgian schools follow too):

* **elision**: ``de``, ``le``, ``la``, ``que``, ``je``, ``ne``, ``se``, ``me``, ``te``, ``ce`` (and ``jusque``,
  ``lorsque``, ``puisque``) lose their vowel before a word starting with a vowel or a mute h: "d'Anne-Sophie",
  "l'école", "qu'Hélène", but "de Yasmine" (a y before a vowel is a consonant), "le hibou" (an aspirated h);
* a **narrow no-break space** (U+202F) before ``:``, ``;``, ``?``, ``!`` and inside « guillemets »; never in a time
  ("17:30"), an address ("https://…", "?lang=fr") or after a digit before a colon;
* **plurals**: 0 and 1 take the singular ("0 message", "1 message", "2 messages").

Dutch and English: no space before ``:``, ``;``, ``?``, ``!``; plurals: only 1 is singular ("0 berichten").

In every language a sentence's full stop is followed by a space: "17:30.Le personnel" reads "17:30. Le personnel"
(an abbreviation, a decimal, an address or a file name are left alone).

:func:`fix` applies the spacing rules and, in French, the elision of the short words it knows; :func:`elide` and
:func:`of` are for code that builds a phrase around a name; :func:`plural` chooses a form.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["NNBSP", "elide", "fix", "mark", "needs_elision", "of", "plural"]

#: U+202F NARROW NO-BREAK SPACE: the French space before high punctuation (never breaks a line before it).
NNBSP = "\u202f"

_VOWELS = frozenset("aeiouyàâäæéèêëîïôöœùûüAEIOUYÀÂÄÆÉÈÊËÎÏÔÖŒÙÛÜ")
#: Words whose h is aspirated (no elision: "le hibou", "de Hollande"): the beginnings of the common ones.
_ASPIRATED_H = (
    "hache",
    "haie",
    "haine",
    "hall",
    "halte",
    "hamac",
    "hameau",
    "hamster",
    "hanche",
    "handicap",
    "hangar",
    "hanter",
    "haricot",
    "harpe",
    "hasard",
    "hâte",
    "haut",
    "hauteur",
    "havre",
    "hennir",
    "héros",
    "hérisson",
    "hêtre",
    "hibou",
    "hiérarchie",
    "hockey",
    "hollande",
    "homard",
    "honte",
    "hors",
    "hotte",
    "houx",
    "hublot",
    "huit",
    "hurler",
    "hutte",
)
#: The short French words that elide, and their elided form.
_ELIDING = {
    "de": "d’",
    "le": "l’",
    "la": "l’",
    "que": "qu’",
    "je": "j’",
    "ne": "n’",
    "se": "s’",
    "me": "m’",
    "te": "t’",
    "ce": "c’",
    "jusque": "jusqu’",
    "lorsque": "lorsqu’",
    "puisque": "puisqu’",
}


def needs_elision(word: str) -> bool:
    """True when a French word starting with ``word`` takes the elided article: a vowel, a mute h, or a y before a
    consonant ("Yves"); not a y before a vowel ("Yasmine"), not an aspirated h ("hibou")."""
    if not word:
        return False
    first = word[0]
    if first in "yY":  # "n’y", "d’Yves"; but "de Yasmine", "le yaourt"
        return len(word) == 1 or word[1] not in _VOWELS
    if first in "hH":
        lower = word.lower()
        return not any(lower.startswith(stem) for stem in _ASPIRATED_H)
    return first in _VOWELS


def elide(article: str, word: str) -> str:
    """``article`` and ``word`` joined as French writes them: ``elide("de", "Anne-Sophie") == "d’Anne-Sophie"``."""
    elided = _ELIDING.get(article.lower())
    if elided is None or not needs_elision(word):
        return f"{article} {word}"
    if article[:1].isupper():
        elided = elided[0].upper() + elided[1:]
    return f"{elided}{word}"


def of(name: str, lang: str) -> str:
    """ "of <name>" in French (``de``/``d’``); in another language the caller's own words apply: the name alone."""
    return elide("de", name) if lang == "fr" else name


# ------------------------------------------------------------------------------------------------ spacing

#: Spans never touched: web addresses, e-mail addresses, HTML character references ("&amp;"), placeholders.
_PROTECTED = re.compile(r"(?:https?://|www\.)\S+|[\w.+-]+@[\w-]+\.[\w.-]+|&#?\w+;|\{[^{}\s]*\}|\S*\?\S*=\S*|/[\w./-]+")
#: ";", "?" or "!" after a word, with whatever space precedes it (none, a space, a no-break space): not the second
#: mark of "?!".
_FR_MARK = re.compile(r"(?<=[^\s;?!:])[ \u00a0\u202f]*([;?!])")
#: A colon ending a phrase (followed by a space or the end): never the colon of a time ("17:30").
_FR_COLON = re.compile(r"(?<=[^\s;?!:])[ \u00a0\u202f]*(:)(?=\s|$)")
#: « guillemets » with the space inside them of any kind, or none.
_FR_OPEN_QUOTE = re.compile(r"«[ \u00a0\u202f]?")
_FR_CLOSE_QUOTE = re.compile(r"[ \u00a0\u202f]?»")
#: A space before a high punctuation mark, which Dutch and English do not write.
_SPACE_BEFORE_HIGH = re.compile(r"(?<=\S)[ \u00a0\u202f]+([:;?!]+)(?=\s|$)")
#: A sentence's full stop glued to the next sentence: a lower-case letter, a digit or a closing mark before it,
#: a capital and a lower-case letter after ("17:30.Le personnel").
_GLUED_SENTENCE = re.compile(r"(?<=[a-zà-ÿ0-9)\]»”])\.(?=[A-ZÀ-Ý][a-zà-ÿ])")
#: French short words before a word that may need elision (whole words, a single space between).
_FR_ELISION = re.compile(
    r"\b(" + "|".join(sorted(_ELIDING, key=len, reverse=True)) + r")[ \u00a0]+(?=([^\W\d_][\w’'-]*))",
    re.IGNORECASE,
)


def _outside_addresses(text: str, rule: Callable[[str], str]) -> str:
    parts, last = [], 0
    for match in _PROTECTED.finditer(text):
        parts.append(rule(text[last : match.start()]))
        parts.append(match.group(0))
        last = match.end()
    parts.append(rule(text[last:]))
    return "".join(parts)


def _french(text: str) -> str:
    def elision(match: re.Match[str]) -> str:
        article, word = match.group(1), match.group(2)
        return elide(article, word)[: -len(word)] if needs_elision(word) else match.group(0)

    text = _FR_MARK.sub(NNBSP + r"\1", text)
    text = _FR_COLON.sub(NNBSP + r"\1", text)
    text = _FR_OPEN_QUOTE.sub("«" + NNBSP, text)
    text = _FR_CLOSE_QUOTE.sub(NNBSP + "»", text)
    return _FR_ELISION.sub(elision, text)


def _other(text: str) -> str:
    return _SPACE_BEFORE_HIGH.sub(r"\1", text).replace("«\u202f", "“").replace("\u202f»", "”")


def fix(text: str, lang: str) -> str:
    """``text`` with the typography of ``lang`` (``fr``, ``nl``, ``en``; another is left as it is but for the
    full stops): the spacing of punctuation, and in French the elision of the short words before a vowel or a
    mute h. Idempotent: ``fix(fix(t)) == fix(t)``."""
    if not text:
        return text

    def rule(part: str) -> str:
        part = _GLUED_SENTENCE.sub(". ", part)
        if lang == "fr":
            return _french(part)
        if lang in ("nl", "en"):
            return _other(part)
        return part

    return _outside_addresses(text, rule)


def mark(punctuation: str, lang: str) -> str:
    """A punctuation mark a page writes after an element of its own (a link): with the narrow no-break space
    before it in French for ``:``, ``;``, ``?``, ``!``, as it is otherwise."""
    return NNBSP + punctuation if lang == "fr" and punctuation in (":", ";", "?", "!") else punctuation


def plural(count: int, one: str, many: str, lang: str) -> str:
    """The form for ``count``: French takes the singular for 0 and 1, Dutch and English for 1 only."""
    singular = count in (0, 1) if lang == "fr" else count == 1
    return one if singular else many
