"""The composer's form read without the web or a database: every field checked, times read in the school's zone,
reply-slip rows, files told by their first bytes, and CSV cells a spreadsheet cannot run."""

from __future__ import annotations

import datetime as dt

import pytest

from charter import default_charter
from hub.csvfile import cell as csv_cell
from hub.enums import AnswerMode, AudienceKind, QuestionKind, Urgency
from hub.messaging.composer import (
    MAX_ATTACHMENT_BYTES,
    Fields,
    QuestionDraft,
    Term,
    Upload,
    attachment_problem,
    attachment_type,
    local_input,
    parse_form,
)

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
CHARTER = default_charter()


def _fields(**values: object) -> Fields:
    base: dict[str, object] = {"subject": "Sortie", "body": "Bonjour", "group": ["3"]}
    base.update(values)
    return Fields({k: v if isinstance(v, list) else [str(v)] for k, v in base.items()})


def test_a_complete_form_becomes_a_draft() -> None:
    fields = _fields(
        subject="  Sortie   au musée ",
        body="Ligne 1\r\n\r\nLigne 2\r\n",
        group=["3", "3", "x", "4"],
        pupil=["9"],
        urgency="urgent",
        needs_acknowledgement="1",
        scheduled_at="2026-11-30T08:00",
        slip="1",
        slip_deadline="2026-12-04T12:00",
        answer_mode="every_guardian",
        reminder=["24", "72", "5"],
        q1_text="Participe ?",
        q2_kind="many_choices",
        q2_text="Activités",
        q2_choices="Piscine\n\nMusée\nPiscine",
        q2_optional="1",
        q3_kind="amount",
        q3_text="Tickets",
        q3_price="3,50",
    )
    draft, errors = parse_form(fields, charter=CHARTER, now=NOW)
    assert errors == {}
    assert draft.subject == "Sortie au musée"
    assert draft.body == "Ligne 1\n\nLigne 2"
    assert draft.urgency is Urgency.URGENT and draft.needs_acknowledgement
    assert draft.scheduled_at == dt.datetime(2026, 11, 30, 7, 0, tzinfo=dt.UTC)  # 08:00 in Brussels (UTC+1)
    assert [(t.kind, t.id) for t in draft.audience] == [
        (AudienceKind.GROUP, 3),
        (AudienceKind.GROUP, 4),
        (AudienceKind.PUPIL, 9),
    ]
    assert draft.slip is not None
    assert draft.slip.deadline == dt.datetime(2026, 12, 4, 11, 0, tzinfo=dt.UTC)
    assert draft.slip.answer_mode is AnswerMode.EVERY_GUARDIAN
    assert draft.slip.reminder_hours == (72, 24)
    assert draft.slip.questions == (
        QuestionDraft(QuestionKind.YES_NO, "Participe ?"),
        QuestionDraft(QuestionKind.MANY_CHOICES, "Activités", ("Piscine", "Musée"), required=False),
        QuestionDraft(QuestionKind.AMOUNT, "Tickets", (), unit_price_cents=350),
    )
    assert local_input(draft.scheduled_at, CHARTER) == "2026-11-30T08:00"


def test_an_emergency_keeps_its_reason_and_another_urgency_drops_it() -> None:
    draft, errors = parse_form(_fields(urgency="emergency"), charter=CHARTER, now=NOW)
    assert set(errors) == {"urgency_reason"}
    draft, errors = parse_form(_fields(urgency="emergency", urgency_reason=" Tempête "), charter=CHARTER, now=NOW)
    assert errors == {} and draft.urgency_reason == "Tempête"
    draft, errors = parse_form(_fields(urgency="normal", urgency_reason="oubliée"), charter=CHARTER, now=NOW)
    assert errors == {} and draft.urgency_reason == ""


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"subject": "x" * 201}, "subject"),
        ({"body": " \n "}, "body"),
        ({"urgency": "panic"}, "urgency"),
        ({"group": []}, "audience"),
        ({"scheduled_at": "2026-11-23T10:59"}, "scheduled_at"),  # 09:59 UTC: already past
        ({"slip": "1", "slip_deadline": "2026-11-20T10:00", "q1_text": "Q"}, "slip_deadline"),
        ({"slip": "1", "slip_deadline": "2026-12-20T10:00", "answer_mode": "all", "q1_text": "Q"}, "answer_mode"),
        ({"slip": "1", "slip_deadline": "2026-12-20T10:00", "q1_kind": "riddle", "q1_text": "Q"}, "q1_kind"),
        ({"slip": "1", "slip_deadline": "2026-12-20T10:00", "q1_choices": "A\nB"}, "q1_text"),
        ({"slip": "1", "slip_deadline": "2026-12-20T10:00", "q1_text": "Q", "q1_choices": "A\nB"}, "q1_choices"),
        (
            {"slip": "1", "slip_deadline": "2026-12-20T10:00", "q1_kind": "amount", "q1_text": "Q", "q1_price": "-2"},
            "q1_price",
        ),
        (
            {
                "slip": "1",
                "slip_deadline": "2026-12-20T10:00",
                "q1_kind": "amount",
                "q1_text": "Q",
                "q1_price": "1.005",
            },
            "q1_price",
        ),
    ],
)
def test_each_bad_field_has_its_error(values: dict[str, object], field: str) -> None:
    _draft, errors = parse_form(_fields(**values), charter=CHARTER, now=NOW)
    assert field in errors, errors


def test_a_deadline_must_follow_a_chosen_sending_time() -> None:
    fields = _fields(scheduled_at="2026-12-10T08:00", slip="1", slip_deadline="2026-12-09T08:00", q1_text="Q")
    _draft, errors = parse_form(fields, charter=CHARTER, now=NOW)
    assert set(errors) == {"slip_deadline"}


def test_question_rows_grow_with_what_was_posted_and_stay_bounded() -> None:
    assert Fields().question_rows == 3
    assert _fields(question_rows="7").question_rows == 7
    assert _fields(q9_text="Q").question_rows == 9
    assert _fields(question_rows="500").question_rows == 30
    assert _fields(q99_text="Q").question_rows == 3  # beyond the limit: not a question row


def test_files_are_told_by_their_first_bytes() -> None:
    assert attachment_type(b"%PDF-1.7 ...") == "application/pdf"
    assert attachment_type(b"\xff\xd8\xff\xe0 jpeg") == "image/jpeg"
    assert attachment_type(b"\x89PNG\r\n\x1a\n...") == "image/png"
    assert attachment_type(b"<svg onload=alert(1)>") is None
    assert (
        attachment_problem(Upload("a.pdf", b"%PDF-" + b"0" * MAX_ATTACHMENT_BYTES))
        == "A file is too big: 5 MB at most."
    )
    assert attachment_problem(Upload("a.pdf", b"")) == "A file is empty."
    assert attachment_problem(Upload("a.pdf", b"MZ\x90")) == "Only PDF, JPEG and PNG files can be attached."
    assert attachment_problem(Upload("a.pdf", b"%PDF-" + b"0" * (MAX_ATTACHMENT_BYTES - 5))) == ""
    uploads = [Upload(f"{i}.png", b"\x89PNG\r\n\x1a\n") for i in range(6)]
    _draft, errors = parse_form(_fields(), charter=CHARTER, now=NOW, uploads=uploads)
    assert errors == {"attachments": "Five files at most."}
    draft, errors = parse_form(_fields(), charter=CHARTER, now=NOW, uploads=[Upload("", b"")])
    assert errors == {} and draft.uploads == []  # an empty file input


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+32 470", "'+32 470"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=cmd", "'\t=cmd"),
        ("Dupont", "Dupont"),
        ("", ""),
        (None, ""),
        (3, "3"),
    ],
)
def test_csv_cells_never_start_like_a_formula(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_an_audience_term_knows_only_the_audience_kinds() -> None:
    assert Term("group", 3).kind is AudienceKind.GROUP
    with pytest.raises(ValueError):
        Term("everyone")
