"""How many SMS segments a message costs, and how to make it cheaper.

An SMS is billed per *segment*, and the segment size depends on the encoding the whole message needs:

* **GSM-7** (GSM 03.38 default alphabet): 160 septets in a single SMS, 153 per part once the message is
  split, because each part carries a 7-octet concatenation header (UDH). The characters of the extension
  table (``^ { } \\ [ ~ ] | €`` and form feed) are sent as ESC + character and so cost 2 septets.
* **UCS-2** (UTF-16 on the wire): 70 code units in a single SMS, 67 per part. A character outside the Basic
  Multilingual Plane (most emoji) is a surrogate pair and costs 2 code units.

A single character outside GSM-7 switches the *whole* message to UCS-2, which cuts the capacity by more
than half. For French this bites often: ’ (the apostrophe word processors and phones insert), « », œ, ê, â,
î, ô, û, ç, ë, ï are all outside GSM-7, while é, è, à, ù, Ç are inside it. :func:`gsm_friendly` proposes a
GSM-7 rewrite the composer may *offer*; nothing here alters a message on its own.

The counts model what the operator bills; they are an upper bound when Twilio's "Smart Encoding" is enabled,
since Twilio may then replace some Unicode characters itself.

All functions are pure: no I/O, no global state.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, Literal

__all__ = [
    "GSM7",
    "GSM7_MULTIPART_SEPTETS",
    "GSM7_SINGLE_SEPTETS",
    "UCS2",
    "UCS2_MULTIPART_UNITS",
    "UCS2_SINGLE_UNITS",
    "Encoding",
    "SegmentCount",
    "count_segments",
    "encoding_of",
    "estimate_cost",
    "gsm_friendly",
    "split_segments",
    "ucs2_characters",
]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7: Final[Encoding] = "GSM-7"
UCS2: Final[Encoding] = "UCS-2"

# Capacities per segment. A multipart message loses 7 septets (GSM-7) / 3 UCS-2 units to the UDH that tells
# the handset how to reassemble the parts.
GSM7_SINGLE_SEPTETS: Final = 160
GSM7_MULTIPART_SEPTETS: Final = 153
UCS2_SINGLE_UNITS: Final = 70
UCS2_MULTIPART_UNITS: Final = 67

# GSM 03.38 default alphabet, in table order (0x00-0x7F), minus 0x1B (ESC), which is not a character but the
# prefix of the extension table. Position 0x09 is the *capital* Ç in the standard; lowercase ç is not in the
# alphabet, even though some handsets display 0x09 as ç.
_GSM7_BASIC: Final[frozenset[str]] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# Extension table: each is sent as ESC + code, hence 2 septets that must travel in the same segment.
_GSM7_EXTENSION: Final[frozenset[str]] = frozenset("\f^{}\\[~]|€")

# Proposed GSM-7 replacements for the characters French text (and Dutch: ë, ï) commonly carries. Capitals are
# included because a sentence starting with "À" or "Être" is as common as any; É and Ç are already GSM-7 and
# so absent. Every replacement is itself GSM-7 (asserted in the tests).
_FRENCH_TO_GSM7: Final[dict[str, str]] = {
    # Quotes and apostrophes: word processors and phone keyboards insert the curly ones.
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u2039": "'",  # ‹
    "\u203a": "'",  # ›
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    # French typography puts (narrow) non-breaking spaces before ; : ! ? and inside « ».
    "\u00a0": " ",  # no-break space
    "\u202f": " ",  # narrow no-break space
    "\u2009": " ",  # thin space
    # Dashes and the ellipsis.
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2013": "-",  # – en dash
    "\u2014": "-",  # — em dash
    "\u2212": "-",  # − minus sign
    "\u2026": "...",  # …
    # Ligatures.
    "œ": "oe",
    "Œ": "OE",
    # Accented letters outside GSM-7 (é è à ù É Ç are inside and stay untouched).
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ç": "c",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "Ÿ": "Y",
}
_FRENCH_TO_GSM7_TABLE: Final = str.maketrans(_FRENCH_TO_GSM7)


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """The cost of one message body, as the operator bills it."""

    encoding: Encoding
    #: Septets for GSM-7 (extension characters count 2); UTF-16 code units for UCS-2 (emoji outside the BMP
    #: count 2).
    units: int
    #: Number of SMS billed per recipient. At least 1, even for an empty body (see :func:`count_segments`).
    segments: int
    #: Capacity of each segment: 160/70 for a single SMS, 153/67 once the message is split.
    per_segment_limit: int
    #: Units still free in the last segment before another segment is needed. A GSM-7 extension character
    #: or a surrogate pair needs 2 of them, so 1 remaining unit may not be enough for the next character.
    remaining_in_last_segment: int


def encoding_of(text: str) -> Encoding:
    """The encoding the whole of ``text`` needs: GSM-7 if every character is in the GSM 03.38 alphabet or its
    extension table, UCS-2 otherwise.

    The text is taken exactly as it will be sent: it is not normalised, so a decomposed "é" (e + combining
    accent, as pasted from some macOS apps) needs UCS-2. :func:`gsm_friendly` composes such pairs.
    """
    if all(char in _GSM7_BASIC or char in _GSM7_EXTENSION for char in text):
        return GSM7
    return UCS2


def _unit_cost(char: str, encoding: Encoding) -> int:
    """Units one character takes in ``encoding``; 2 means an indivisible pair (ESC + char, or surrogates)."""
    if encoding == GSM7:
        return 2 if char in _GSM7_EXTENSION else 1
    # Python strings hold code points; UTF-16 needs a surrogate pair above the BMP.
    return 2 if ord(char) > 0xFFFF else 1


def _limits(encoding: Encoding) -> tuple[int, int]:
    """(single-SMS capacity, per-part capacity once split) for ``encoding``."""
    if encoding == GSM7:
        return GSM7_SINGLE_SEPTETS, GSM7_MULTIPART_SEPTETS
    return UCS2_SINGLE_UNITS, UCS2_MULTIPART_UNITS


def _split(text: str) -> tuple[Encoding, int, list[str], list[int]]:
    """Encoding, total units, the parts and the units of each part: the single source of truth for both
    :func:`split_segments` and :func:`count_segments`, so they can never disagree."""
    encoding = encoding_of(text)
    costs = [_unit_cost(char, encoding) for char in text]
    total = sum(costs)
    single, multipart = _limits(encoding)
    if total <= single:
        return encoding, total, [text], [total]

    # Greedy fill: a character goes in the current part if its whole cost fits, otherwise it opens the next
    # part. A 2-unit character never straddles a boundary, so a part may end 1 unit short of the limit.
    # Greedy is optimal here (every character costs at most 2 <= limit), so the count is the true minimum.
    parts: list[str] = []
    part_units: list[int] = []
    start = 0
    used = 0
    for index, cost in enumerate(costs):
        if used + cost > multipart:
            parts.append(text[start:index])
            part_units.append(used)
            start = index
            used = 0
        used += cost
    parts.append(text[start:])
    part_units.append(used)
    return encoding, total, parts, part_units


def split_segments(text: str) -> list[str]:
    """The parts ``text`` is cut into for sending; ``"".join(split_segments(text)) == text``.

    An empty text gives ``[""]``, so ``len(split_segments(text)) == count_segments(text).segments`` always.
    """
    return _split(text)[2]


def count_segments(text: str) -> SegmentCount:
    """Encoding, size and number of segments of ``text``.

    Empty text counts as 0 units in **1** segment. Twilio refuses an empty body (error 21602), so the caller
    must reject it before sending anyway; for the composer's counter and for cost estimates, saying "1 SMS"
    never under-estimates, whereas "0 SMS" would advertise a free message that cannot exist.
    """
    encoding, total, _parts, part_units = _split(text)
    single, multipart = _limits(encoding)
    limit = single if len(part_units) == 1 else multipart
    return SegmentCount(
        encoding=encoding,
        units=total,
        segments=len(part_units),
        per_segment_limit=limit,
        remaining_in_last_segment=limit - part_units[-1],
    )


def estimate_cost(text: str, recipients: int, price_per_segment: Decimal) -> Decimal:
    """Cost of sending ``text`` to ``recipients`` phones at ``price_per_segment`` each: exact, not rounded.

    Rounding to the currency's cents is left to whoever displays or books the amount, so that summing several
    estimates does not accumulate rounding errors.
    """
    # bool is an int subclass; True recipients is a bug in the caller, not 1 phone.
    if isinstance(recipients, bool) or not isinstance(recipients, int):
        raise TypeError(f"recipients must be an int, got {type(recipients).__name__}")
    if recipients < 0:
        raise ValueError(f"recipients must be >= 0, got {recipients}")
    # A float price would silently carry binary rounding error into money; refuse it rather than convert.
    if not isinstance(price_per_segment, Decimal):
        raise TypeError(f"price_per_segment must be a Decimal, got {type(price_per_segment).__name__}")
    if not price_per_segment.is_finite() or price_per_segment < 0:
        raise ValueError(f"price_per_segment must be a finite Decimal >= 0, got {price_per_segment}")
    return count_segments(text).segments * recipients * price_per_segment


def gsm_friendly(text: str) -> str:
    """A GSM-7 rewrite of the French typography in ``text``, for the composer to *offer* ("send cheaper").

    Never apply it without the author's consent: it changes what families read (œ → oe, ê → e, « » → "). Only
    the listed characters are replaced; anything else (emoji, Arabic, °, ...) is kept, so the result may still
    need UCS-2: check ``encoding_of`` on the result.

    It is not always cheaper either: "…" is 1 UCS-2 unit but 3 septets, "œ" 1 unit but 2 septets, so compare
    ``count_segments`` of both texts before offering it.

    The text is first NFC-composed, which changes no visible character but turns a decomposed "é" (e +
    combining accent) into the GSM-7 "é" and a decomposed "ê" into one the table knows.
    """
    result = unicodedata.normalize("NFC", text).translate(_FRENCH_TO_GSM7_TABLE)
    # Replacing a letter can let a following stray combining mark compose with the new base ("Ê" + U+0308
    # becomes "E" + U+0308, which NFC turns into "Ë", again in the table). Repeat until nothing changes so
    # that offering "send cheaper" on an already rewritten text is a no-op. Each extra round consumes a
    # combining mark, so this ends.
    while (again := unicodedata.normalize("NFC", result).translate(_FRENCH_TO_GSM7_TABLE)) != result:
        result = again
    return result


def ucs2_characters(text: str) -> tuple[str, ...]:
    """The characters of ``text`` outside GSM-7 (each once, in order of appearance): those that force UCS-2."""
    return tuple(dict.fromkeys(c for c in text if c not in _GSM7_BASIC and c not in _GSM7_EXTENSION))
