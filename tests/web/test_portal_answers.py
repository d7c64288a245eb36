"""Reading a posted reply slip (``hub.messaging.portal.parse_answers``), without a database: every kind of question
stored
as the SMS, paper and API answers are, and every wrong answer named with its field."""

from __future__ import annotations

import pytest

from hub.messaging.portal import FieldErrors, Question, amount_cents, parse_answers

YES_NO = Question(1, "yes_no", "Participe ?", (), True, None)
ONE = Question(2, "one_choice", "Repas", ("Viande", "Végétarien"), True, None)
MANY = Question(3, "many_choices", "Activités", ("Piscine", "Musée", "Théâtre"), False, None)
TEXT = Question(4, "free_text", "Remarques", (), False, None)
TICKETS = Question(5, "amount", "Tickets", (), True, 300)
GIFT = Question(6, "amount", "Don", (), False, None)
ALL = (YES_NO, ONE, MANY, TEXT, TICKETS, GIFT)


def test_every_kind_is_stored_as_the_other_channels_store_it() -> None:
    form = {"q1": ["yes"], "q2": ["1"], "q3": ["2", "0"], "q4": [" Allergie aux noix "], "q5": ["3"], "q6": ["12,5"]}
    answers, signed = parse_answers(ALL, {**form, "signed_name": ["  Anne   Dumont "]}, needs_signature=True)
    assert answers == {
        "1": "yes",
        "2": "Végétarien",
        "3": ["Piscine", "Théâtre"],
        "4": "Allergie aux noix",
        "5": 3,
        "6": 12.5,
    }
    assert signed == "Anne Dumont"


def test_optional_questions_may_stay_empty() -> None:
    answers, signed = parse_answers(ALL, {"q1": ["no"], "q2": ["0"], "q5": ["0"], "q6": [" "]}, needs_signature=False)
    assert answers == {"1": "no", "2": "Viande", "5": 0}
    assert signed == ""


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("q1", ["peut-être"], "choice"),
        ("q2", ["2"], "choice"),
        ("q2", ["0", "1"], "choice"),
        ("q2", ["Viande"], "choice"),
        ("q3", ["0", "7"], "choice"),
        ("q4", ["x" * 2001], "too_long"),
        ("q5", ["-1"], "count"),
        ("q5", ["1.5"], "count"),
        ("q5", ["1001"], "count"),
        ("q6", ["douze"], "amount"),
        ("q6", ["12,345"], "amount"),
        ("q6", ["-3"], "amount"),
        ("q6", ["NaN"], "amount"),
        ("q6", ["100000,01"], "amount"),
    ],
)
def test_a_wrong_answer_names_its_field(field: str, value: list[str], code: str) -> None:
    form = {"q1": ["yes"], "q2": ["0"], "q5": ["1"], field: value}
    with pytest.raises(FieldErrors) as refused:
        parse_answers(ALL, form, needs_signature=False)
    assert refused.value.errors == {field: code}


def test_missing_answers_and_signature_are_all_listed() -> None:
    with pytest.raises(FieldErrors) as refused:
        parse_answers(ALL, {"q3": ["1"]}, needs_signature=True)
    assert refused.value.errors == {"q1": "required", "q2": "required", "q5": "required", "signed_name": "required"}
    with pytest.raises(FieldErrors) as too_long:
        parse_answers((YES_NO,), {"q1": ["yes"], "signed_name": ["N" * 201]}, needs_signature=True)
    assert too_long.value.errors == {"signed_name": "too_long"}


def test_amounts_in_cents() -> None:
    assert amount_cents(TICKETS, 3) == 900
    assert amount_cents(TICKETS, "2") == 600  # a paper slip typed by the office is text
    assert amount_cents(GIFT, 12.5) == 1250
    assert amount_cents(GIFT, "abc") is None
