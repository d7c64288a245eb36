"""A message in the families' languages: the versions an author writes (or has drafted by a translation service
and reviews), which one each guardian gets, and what the preview says of the languages of an audience.

The message itself (``Message.subject``, ``body``, its slip's questions) is written in the school's language; a
:class:`~hub.messaging.models.MessageVersion` holds the same message in another language the product speaks
(:data:`LANGUAGES`). A guardian reading a language with a version gets it on every channel; any other guardian
gets the school's text with a short note in their own language (:func:`hub.messaging.rendering.language_note`).

The composer's form names a version's fields ``tr_<lang>_subject``, ``tr_<lang>_body``, ``tr_<lang>_q<N>`` (the
text of question N) and ``tr_<lang>_q<N>_choices`` (one choice a line), and ``tr_<lang>_machine`` = ``1`` while
the text is a machine translation's draft (:mod:`hub.messaging.translate_client`) the author keeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tortoise.transactions import in_transaction

from hub.messaging.models import Message, MessageVersion, ReplySlip, SlipQuestion
from hub.messaging.rendering import LANGUAGES, QuestionView, language_of
from hub.people.models import School

__all__ = [
    "LANGUAGES",
    "LANGUAGE_NAMES",
    "AudienceLanguage",
    "QuestionText",
    "Version",
    "audience_languages",
    "choose",
    "fill_fields",
    "original",
    "parse_versions",
    "save_versions",
    "subjects_for",
    "translated_questions",
    "versions_of",
]

#: The languages' names, in English (the pages translate them).
LANGUAGE_NAMES: Mapping[str, str] = {"fr": "French", "nl": "Dutch", "en": "English"}
MAX_SUBJECT = 200
MAX_BODY = 20_000
MAX_QUESTION = 1000
MAX_CHOICE = 200


@dataclass(frozen=True)
class QuestionText:
    text: str
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Version:
    """The message's words in one language."""

    language: str
    subject: str
    body: str
    #: By position (the first is question 1); an empty text keeps the school's wording of that question.
    questions: tuple[QuestionText, ...] = ()
    machine: bool = False


# --------------------------------------------------------------------------------------------- choosing


def choose(reader: object, school: Version, versions: Mapping[str, Version]) -> Version:
    """The version ``reader`` (a language) gets: their own when written, else the school's."""
    lang = language_of(reader)
    found = versions.get(lang)
    return found if found is not None and lang != school.language else school


def original(message: Message, school_language: object, questions: Sequence[SlipQuestion] = ()) -> Version:
    """The message as written in the school's language."""
    return Version(
        language_of(school_language),
        message.subject,
        message.body,
        tuple(QuestionText(q.text, tuple(q.choices or ())) for q in questions),
    )


def translated_questions(questions: Sequence[QuestionView], version: Version) -> tuple[QuestionView, ...]:
    """The slip's questions in ``version``'s words (a question it leaves empty keeps the school's words; a choice
    list of another length too, so that answer ``index`` means the same choice in every language)."""
    out = []
    for index, question in enumerate(questions):
        words = version.questions[index] if index < len(version.questions) else None
        if words is None or not words.text:
            out.append(question)
            continue
        choices = words.choices if len(words.choices) == len(question.choices) else tuple(question.choices)
        out.append(QuestionView(question.position, question.kind, words.text, choices, question.unit_price_cents))
    return tuple(out)


# ------------------------------------------------------------------------------------------ the preview


@dataclass(frozen=True)
class AudienceLanguage:
    language: str
    families: int
    #: The language these families get the message in (theirs when written, else the school's).
    gets: str
    machine: bool = False

    @property
    def missing(self) -> bool:
        return self.gets != self.language


def audience_languages(
    families_by_language: Mapping[str, int], school_language: str, versions: Mapping[str, Version]
) -> list[AudienceLanguage]:
    """How many families read each language, and in which they get the message: most families first."""
    school = language_of(school_language)
    lines = []
    for lang, count in sorted(families_by_language.items(), key=lambda item: (-item[1], item[0])):
        lang = language_of(lang)
        version = versions.get(lang)
        gets = lang if lang == school or version is not None else school
        lines.append(AudienceLanguage(lang, count, gets, bool(version and version.machine and gets == lang)))
    return lines


# --------------------------------------------------------------------------------------------- the form


class _FieldsLike(Protocol):
    def one(self, name: str, default: str = "") -> str: ...


def parse_versions(
    fields: _FieldsLike, *, school_language: str, question_count: int, errors: dict[str, str]
) -> list[Version]:
    """The versions written in the form (a language left empty has none), with an error per field."""
    school = language_of(school_language)
    versions = []
    for lang in LANGUAGES:
        if lang == school:
            continue
        prefix = f"tr_{lang}_"
        subject = " ".join(fields.one(prefix + "subject").split())
        body = fields.one(prefix + "body").replace("\r\n", "\n").strip()
        questions = []
        for n in range(1, question_count + 1):
            text = " ".join(fields.one(f"{prefix}q{n}").split())
            choices = tuple(
                c.strip() for c in fields.one(f"{prefix}q{n}_choices").replace("\r\n", "\n").split("\n") if c.strip()
            )
            if len(text) > MAX_QUESTION or any(len(c) > MAX_CHOICE for c in choices):
                errors[f"{prefix}q{n}"] = "The question is too long (1,000 characters at most, 200 per choice)."
            questions.append(QuestionText(text, choices))
        if not subject and not body and not any(q.text for q in questions):
            continue
        if not subject:
            errors[prefix + "subject"] = "Write the subject in this language too, or leave the language empty."
        elif len(subject) > MAX_SUBJECT:
            errors[prefix + "subject"] = "The subject is too long (200 characters at most)."
        if not body:
            errors[prefix + "body"] = "Write the message in this language too, or leave the language empty."
        elif len(body) > MAX_BODY:
            errors[prefix + "body"] = "The message is too long (20,000 characters at most)."
        while questions and not questions[-1].text:
            questions.pop()
        versions.append(Version(lang, subject, body, tuple(questions), fields.one(prefix + "machine") == "1"))
    return versions


class _SettableFields(_FieldsLike, Protocol):
    def set(self, name: str, *values: object) -> None: ...


def fill_fields(fields: _SettableFields, versions: Iterable[Version]) -> None:
    """The form's values of stored versions (the reverse of :func:`parse_versions`)."""
    for version in versions:
        prefix = f"tr_{version.language}_"
        fields.set(prefix + "subject", version.subject)
        fields.set(prefix + "body", version.body)
        for n, question in enumerate(version.questions, start=1):
            fields.set(f"{prefix}q{n}", question.text)
            fields.set(f"{prefix}q{n}_choices", "\n".join(question.choices))
        if version.machine:
            fields.set(prefix + "machine", "1")


# ------------------------------------------------------------------------------------------- the store


async def save_versions(message_id: int, versions: Iterable[Version]) -> None:
    """Replace the message's versions by these (all or nothing)."""
    async with in_transaction():
        await MessageVersion.filter(message_id=message_id).delete()
        await MessageVersion.bulk_create(
            [
                MessageVersion(
                    message_id=message_id,
                    language=v.language,
                    subject=v.subject,
                    body=v.body,
                    questions=[{"text": q.text, "choices": list(q.choices)} for q in v.questions],
                    machine=v.machine,
                )
                for v in versions
            ]
        )


def _version(row: MessageVersion) -> Version:
    questions = tuple(
        QuestionText(str(q.get("text", "")), tuple(str(c) for c in q.get("choices", ())))
        for q in (row.questions or ())
        if isinstance(q, dict)
    )
    return Version(row.language, row.subject, row.body, questions, row.machine)


async def versions_of(message_ids: Iterable[int]) -> dict[int, dict[str, Version]]:
    """Each message's versions by language, in one query."""
    found: dict[int, dict[str, Version]] = {}
    for row in await MessageVersion.filter(message_id__in=list(set(message_ids))).order_by("language"):
        found.setdefault(row.message_id, {})[row.language] = _version(row)
    return found


async def subjects_for(reader: object, school_language: object, subjects: Mapping[int, str]) -> dict[int, str]:
    """The subject a reader of language ``reader`` sees of each message (``subjects``: message id -> its subject in
    the school's language): their language's version where one is written, else the school's, as :func:`choose`
    picks; one query for any number of messages. The one helper of every list of messages a family reads (the
    portal's inbox, the office's paper list, the API's notices)."""
    lang = language_of(reader)
    if not subjects or lang == language_of(school_language):
        return dict(subjects)
    written = dict(
        await MessageVersion.filter(message_id__in=list(subjects), language=lang).values_list("message_id", "subject")
    )
    return {mid: str(written.get(mid) or subject) for mid, subject in subjects.items()}


async def school_version(message: Message, school_language: object) -> Version:
    """The school's own text of ``message``, questions included."""
    slip = await ReplySlip.get_or_none(message_id=message.id)
    questions = list(await SlipQuestion.filter(slip_id=slip.id).order_by("position")) if slip else []
    return original(message, school_language, questions)


async def school_language(school_id: int) -> str:
    """The language the school writes in (``fr`` when it says nothing the product speaks)."""
    found = await School.filter(id=school_id).values_list("default_language", flat=True)
    return language_of(found[0] if found else "")
