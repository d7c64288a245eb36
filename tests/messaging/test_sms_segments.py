"""SMS segment counting: GSM-7 / UCS-2 detection, boundaries, indivisible pairs, cost, French rewrite."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.messaging.sms_segments import (
    GSM7,
    UCS2,
    SegmentCount,
    count_segments,
    encoding_of,
    estimate_cost,
    gsm_friendly,
    split_segments,
)

# Written out independently of the module (not imported from it), so a typo in its table fails the tests.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
EMOJI = "😀"  # U+1F600: outside the BMP, a surrogate pair in UTF-16


def reference_units(text: str, encoding: str) -> int:
    """Units of ``text`` measured without the module: septets, or UTF-16 code units."""
    if encoding == GSM7:
        return sum(2 if char in GSM7_EXTENSION else 1 for char in text)
    return len(text.encode("utf-16-le")) // 2


# --- Alphabet ---------------------------------------------------------------------------------------------


def test_gsm7_alphabet_is_complete() -> None:
    # 128 table positions minus ESC (0x1B), which is a prefix and not a character.
    assert len(set(GSM7_BASIC)) == 127
    for char in GSM7_BASIC + GSM7_EXTENSION:
        assert encoding_of(char) == GSM7, repr(char)


@pytest.mark.parametrize(
    "char",
    ["’", "«", "»", "œ", "ê", "â", "ô", "î", "û", "ç", "ï", "ë", "À", "È", "`", "\t", "\u00a0", "…", "°"],
)
def test_characters_outside_gsm7(char: str) -> None:
    assert encoding_of(char) == UCS2
    assert encoding_of("Bonjour " + char) == UCS2


def test_empty_text_is_gsm7_one_segment() -> None:
    # Documented choice: 0 units but 1 segment, so a cost estimate is never zero.
    assert count_segments("") == SegmentCount(GSM7, 0, 1, 160, 160)
    assert split_segments("") == [""]


# --- GSM-7 boundaries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments", "limit", "remaining"),
    [
        (1, 1, 160, 159),
        (160, 1, 160, 0),
        (161, 2, 153, 145),
        (306, 2, 153, 0),
        (307, 3, 153, 152),
        (459, 3, 153, 0),
        (460, 4, 153, 152),
    ],
)
def test_gsm7_boundaries(length: int, segments: int, limit: int, remaining: int) -> None:
    assert count_segments("a" * length) == SegmentCount(GSM7, length, segments, limit, remaining)


def test_extension_characters_count_double() -> None:
    assert count_segments("€" * 80) == SegmentCount(GSM7, 160, 1, 160, 0)
    # 76 "€" (152 septets) fill the first part, the other 5 take 10 septets of the second.
    assert count_segments("€" * 81) == SegmentCount(GSM7, 162, 2, 153, 153 - 10)
    assert count_segments("{}[]") == SegmentCount(GSM7, 8, 1, 160, 152)


def test_extension_character_does_not_straddle_the_153_boundary() -> None:
    # 152 septets + "€" would need septets 153 and 154: the pair moves whole to the next part.
    text = "a" * 152 + "€" + "b" * 10
    assert split_segments(text) == ["a" * 152, "€" + "b" * 10]
    assert count_segments(text) == SegmentCount(GSM7, 164, 2, 153, 153 - 12)


def test_extension_padding_can_cost_an_extra_segment() -> None:
    # 306 septets would fill exactly 2 parts, but the lost septet before "€" pushes one "b" into a third.
    text = "a" * 152 + "€" + "b" * 152
    assert count_segments(text).units == 306
    assert split_segments(text) == ["a" * 152, "€" + "b" * 151, "b"]
    assert count_segments(text).segments == 3


def test_extension_character_ending_exactly_at_153() -> None:
    text = "a" * 151 + "€" + "b" * 10
    assert split_segments(text) == ["a" * 151 + "€", "b" * 10]


def test_all_extension_characters_fit_76_per_part() -> None:
    # 153 is odd: a part of only 2-septet characters holds 76 of them (152 septets).
    assert [len(part) for part in split_segments("€" * 200)] == [76, 76, 48]


# --- UCS-2 boundaries -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "segments", "limit", "remaining"),
    [(70, 1, 70, 0), (71, 2, 67, 63), (134, 2, 67, 0), (135, 3, 67, 66)],
)
def test_ucs2_boundaries(length: int, segments: int, limit: int, remaining: int) -> None:
    assert count_segments("ê" * length) == SegmentCount(UCS2, length, segments, limit, remaining)


def test_one_ucs2_character_switches_the_whole_message() -> None:
    # 160 GSM-7 characters fit one SMS; a single ’ makes them 161 UCS-2 units, i.e. 3 SMS.
    assert count_segments("a" * 160).segments == 1
    assert count_segments("a" * 159 + "’") == SegmentCount(UCS2, 160, 3, 67, 67 - 26)


def test_extension_characters_cost_one_unit_in_ucs2() -> None:
    assert count_segments("€ê") == SegmentCount(UCS2, 2, 1, 70, 68)


def test_emoji_count_two_units() -> None:
    assert count_segments(EMOJI) == SegmentCount(UCS2, 2, 1, 70, 68)
    assert count_segments(EMOJI * 35) == SegmentCount(UCS2, 70, 1, 70, 0)
    assert count_segments(EMOJI * 36) == SegmentCount(UCS2, 72, 2, 67, 67 - 6)


def test_surrogate_pair_does_not_straddle_the_67_boundary() -> None:
    text = "ê" * 66 + EMOJI + "ê" * 66
    assert count_segments(text).units == 134  # would fit 2 parts if the pair could be cut ...
    assert split_segments(text) == ["ê" * 66, EMOJI + "ê" * 65, "ê"]  # ... but it cannot
    assert count_segments(text).segments == 3


def test_arabic_text() -> None:
    text = "مرحبا بكم في المدرسة، الاجتماع يوم الاثنين"
    assert count_segments(text) == SegmentCount(UCS2, len(text), 1, 70, 70 - len(text))
    long_text = (text + " ") * 3
    count = count_segments(long_text)
    assert (count.encoding, count.units, count.segments) == (
        UCS2,
        len(long_text),
        math.ceil(len(long_text) / 67),
    )


# --- French -----------------------------------------------------------------------------------------------


def test_french_accents_in_gsm7_stay_gsm7() -> None:
    assert encoding_of("Réunion à l'école, après les congés. Ça commence à 18h, où ? Voilà !") == GSM7


@pytest.mark.parametrize(
    "sentence",
    [
        "Réunion à l’école jeudi à 18h.",  # typographic apostrophe
        "La leçon de demain est annulée.",  # lowercase ç
        "Fête de l'école : venez nombreux !",  # ê
        "« Journée pédagogique » vendredi.",  # guillemets
        "Réunion\u00a0: jeudi.",  # non-breaking space before the colon
    ],
)
def test_french_sentence_switches_to_ucs2(sentence: str) -> None:
    assert encoding_of(sentence) == UCS2


def test_gsm_friendly_makes_a_french_sentence_gsm7() -> None:
    sentence = (
        "Chers parents, la fête de Noël aura lieu le vendredi 19\u00a0décembre\u202f; "
        "l’entrée est gratuite – « venez nombreux » avec vos sœurs et frères… "
        "La leçon de piano est reportée. À bientôt, Ève."
    )
    friendly = gsm_friendly(sentence)
    assert friendly == (
        "Chers parents, la fete de Noel aura lieu le vendredi 19 décembre ; "
        'l\'entrée est gratuite - " venez nombreux " avec vos soeurs et frères... '
        "La lecon de piano est reportée. A bientot, Eve."
    )
    assert encoding_of(sentence) == UCS2
    assert encoding_of(friendly) == GSM7
    assert count_segments(friendly).segments < count_segments(sentence).segments


def test_gsm_friendly_composes_decomposed_accents() -> None:
    decomposed = "e\u0301te\u0301 fe\u0302te"  # "été fête" with combining accents
    assert encoding_of(decomposed) == UCS2
    assert gsm_friendly(decomposed) == "été fete"


def test_gsm_friendly_keeps_what_it_cannot_replace() -> None:
    assert gsm_friendly("Bravo ! 🎉 20°") == "Bravo ! 🎉 20°"
    assert encoding_of(gsm_friendly("Fête 🎉")) == UCS2


def test_gsm_friendly_is_not_always_cheaper() -> None:
    # "…" is 1 UCS-2 unit but 3 septets: the composer must compare before offering.
    text = "…" * 60
    assert count_segments(text).segments == 1
    assert count_segments(gsm_friendly(text)).segments == 2


def test_gsm_friendly_replacements_are_gsm7() -> None:
    every_source = "‘’‚‹›“”„«»\u00a0\u202f\u2009\u2010\u2011–—−…œŒâêîôûçëïÿÀÂÈÊËÎÏÔÙÛŸ"
    assert encoding_of(every_source) == UCS2
    assert encoding_of(gsm_friendly(every_source)) == GSM7


# --- Cost -------------------------------------------------------------------------------------------------


def test_estimate_cost() -> None:
    price = Decimal("0.0794")
    assert estimate_cost("a" * 160, 250, price) == Decimal("19.8500")
    assert estimate_cost("a" * 161, 250, price) == Decimal("39.7000")
    assert estimate_cost("Fête", 3, price) == Decimal("0.2382")
    assert estimate_cost("", 2, price) == Decimal("0.1588")  # empty counts as 1 segment
    assert estimate_cost("Bonjour", 0, price) == Decimal("0")


@pytest.mark.parametrize(
    ("recipients", "price", "error"),
    [
        (-1, Decimal("0.07"), ValueError),
        (True, Decimal("0.07"), TypeError),
        (2.0, Decimal("0.07"), TypeError),
        (1, 0.07, TypeError),
        (1, Decimal("-0.07"), ValueError),
        (1, Decimal("NaN"), ValueError),
        (1, Decimal("Infinity"), ValueError),
    ],
)
def test_estimate_cost_rejects_bad_input(recipients: object, price: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        estimate_cost("Bonjour", recipients, price)  # type: ignore[arg-type]


# --- Properties -------------------------------------------------------------------------------------------

# GSM-7 only, with extension characters weighted up so boundaries around them are actually exercised.
gsm7_text = st.text(alphabet=st.one_of(st.sampled_from(GSM7_BASIC), st.sampled_from(GSM7_EXTENSION)), max_size=700)
# Anything: mostly GSM-7 with some French, emoji and arbitrary code points mixed in.
any_char = st.one_of(
    st.sampled_from(GSM7_BASIC + GSM7_EXTENSION),
    st.sampled_from("’«»œêâîôûçëï…\u00a0"),
    st.sampled_from([EMOJI, "🎉", "👍", "🏽", "𝄞"]),
    st.characters(codec="utf-8"),
)
any_text = st.text(alphabet=any_char, max_size=700)


@given(text=any_text, extra=st.text(alphabet=any_char, min_size=1, max_size=20))
def test_segments_never_decrease_when_appending(text: str, extra: str) -> None:
    assert count_segments(text + extra).segments >= count_segments(text).segments


@given(text=gsm7_text)
def test_gsm7_is_one_segment_iff_at_most_160_septets(text: str) -> None:
    count = count_segments(text)
    assert count.encoding == GSM7
    assert count.units == reference_units(text, GSM7)
    assert (count.segments == 1) == (count.units <= 160)


@given(text=any_text)
def test_split_reassembles_and_each_part_fits(text: str) -> None:
    parts = split_segments(text)
    count = count_segments(text)
    assert "".join(parts) == text
    assert len(parts) == count.segments
    assert count.units == reference_units(text, count.encoding)
    # Parts are measured in the message's encoding, even a part that alone would be GSM-7.
    part_units = [reference_units(part, count.encoding) for part in parts]
    assert all(units <= count.per_segment_limit for units in part_units)
    assert count.remaining_in_last_segment == count.per_segment_limit - part_units[-1]
    if len(parts) > 1:
        assert all(parts)
        # No part ends early except where the next character's pair would not fit: the count is minimal.
        for part, units, following in zip(parts, part_units, parts[1:], strict=False):
            assert units + reference_units(following[0], count.encoding) > count.per_segment_limit, part


@given(text=any_text)
def test_single_unit_text_matches_the_closed_formula(text: str) -> None:
    # Without 2-unit characters no part loses a unit to padding, so the textbook formula holds exactly.
    count = count_segments(text)
    if count.units != len(text):
        return
    single, multipart = (160, 153) if count.encoding == GSM7 else (70, 67)
    expected = 1 if count.units <= single else math.ceil(count.units / multipart)
    assert count.segments == expected


@given(text=gsm7_text)
def test_gsm_friendly_leaves_gsm7_text_alone(text: str) -> None:
    assert gsm_friendly(text) == text


@given(text=any_text)
def test_gsm_friendly_is_idempotent(text: str) -> None:
    once = gsm_friendly(text)
    assert gsm_friendly(once) == once
