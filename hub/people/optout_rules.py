"""Opt-outs as rules over plain values: which topics a guardian stopped on which channels, what an SMS keyword
asks for, and what still reaches them. No database: ``hub.people.optouts`` stores and loads, the router
(``hub.messaging.routing``) obeys.

A stop is a pair (topic, channel), the channel None meaning every channel. Absences and emergencies can never
be stopped (:data:`hub.enums.UNSTOPPABLE_TOPICS`), nor can a message sent with the urgency EMERGENCY.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from hub.enums import CATEGORY_TOPIC, UNSTOPPABLE_TOPICS, Category, Channel, Topic, Urgency

__all__ = [
    "STOPPABLE_TOPICS",
    "SmsCommand",
    "Stop",
    "parse_sms_command",
    "sms_answer",
    "stoppable",
    "stopped_channels",
    "topic_of",
]

#: The topics a guardian may stop, in the order the pages list them.
STOPPABLE_TOPICS: tuple[Topic, ...] = tuple(t for t in Topic if t not in UNSTOPPABLE_TOPICS)

#: (topic, channel): a stop on one channel, or on every channel when the channel is None.
Stop = tuple[Topic, Channel | None]

#: The words a guardian may text after STOP (or START), in French, Dutch and English, without accents: the
#: families' words for each topic, the unstoppable ones included so that the answer can say they cannot be stopped.
TOPIC_WORDS: dict[str, Topic] = {
    # records
    "notes": Topic.RECORDS,
    "bulletin": Topic.RECORDS,
    "bulletins": Topic.RECORDS,
    "cijfers": Topic.RECORDS,
    "rapport": Topic.RECORDS,
    "punten": Topic.RECORDS,
    "grades": Topic.RECORDS,
    "records": Topic.RECORDS,
    # school life
    "vie": Topic.SCHOOL_LIFE,
    "ecole": Topic.SCHOOL_LIFE,
    "info": Topic.SCHOOL_LIFE,
    "infos": Topic.SCHOOL_LIFE,
    "school": Topic.SCHOOL_LIFE,
    "schoolleven": Topic.SCHOOL_LIFE,
    "news": Topic.SCHOOL_LIFE,
    # events
    "evenements": Topic.EVENTS,
    "sorties": Topic.EVENTS,
    "activiteiten": Topic.EVENTS,
    "uitstappen": Topic.EVENTS,
    "events": Topic.EVENTS,
    "trips": Topic.EVENTS,
    # homework and journal
    "devoirs": Topic.HOMEWORK,
    "journal": Topic.HOMEWORK,
    "huiswerk": Topic.HOMEWORK,
    "agenda": Topic.HOMEWORK,
    "homework": Topic.HOMEWORK,
    # the two that cannot be stopped
    "absences": Topic.ABSENCES,
    "afwezigheden": Topic.ABSENCES,
    "afwezig": Topic.ABSENCES,
    "urgences": Topic.EMERGENCIES,
    "noodgevallen": Topic.EMERGENCIES,
    "nood": Topic.EMERGENCIES,
    "emergencies": Topic.EMERGENCIES,
}

_STOP_WORDS = frozenset({"stop", "arret", "stopall", "unsubscribe", "optout"})
_START_WORDS = frozenset({"start", "unstop"})


def topic_of(category: Category | str) -> Topic:
    """The topic a message's category belongs to (the mapping is :data:`hub.enums.CATEGORY_TOPIC`)."""
    return CATEGORY_TOPIC[Category(category)]


def stoppable(category: Category | str, urgency: Urgency | str = Urgency.NORMAL) -> bool:
    """Whether a message of ``category`` and ``urgency`` may be stopped at all."""
    return topic_of(category) not in UNSTOPPABLE_TOPICS and Urgency(urgency) is not Urgency.EMERGENCY


def stopped_channels(
    stops: Iterable[Stop], category: Category | str, urgency: Urgency | str = Urgency.NORMAL
) -> frozenset[Channel] | None:
    """The channels on which a message of ``category`` must not reach this guardian: None when it is stopped
    on every channel, an empty set when nothing is stopped (always so for absences, emergencies and any message
    of urgency EMERGENCY)."""
    if not stoppable(category, urgency):
        return frozenset()
    topic = topic_of(category)
    found: set[Channel] = set()
    for stop_topic, channel in stops:
        if Topic(stop_topic) is not topic:
            continue
        if channel is None:
            return None
        found.add(Channel(channel))
    return frozenset(found)


@dataclass(frozen=True)
class SmsCommand:
    """What an SMS asking to stop or resume means."""

    start: bool  #: START (resume) rather than STOP
    #: The stoppable topics named (every stoppable topic for a bare STOP or START).
    topics: frozenset[Topic]
    #: Topics named that cannot be stopped (absences, emergencies): the answer says so.
    refused: frozenset[Topic] = frozenset()
    #: Words after STOP that name no topic: the answer lists the words it knows.
    unknown: tuple[str, ...] = ()


def _normalise(text: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    cleaned = "".join(char if char.isalnum() else " " for char in bare.casefold())
    return cleaned.split()


def parse_sms_command(body: str) -> SmsCommand | None:
    """``STOP NOTES``, ``STOP CIJFERS``, ``STOP GRADES`` (several topics may follow), ``STOP`` alone (every
    topic that may be stopped), and ``START ...`` the same way; None when the text is no such command.
    Insensitive to case, accents and punctuation."""
    words = _normalise(body)
    if not words or words[0] not in _STOP_WORDS | _START_WORDS:
        return None
    start = words[0] in _START_WORDS
    rest = words[1:]
    if not rest:
        return SmsCommand(start, frozenset(STOPPABLE_TOPICS))
    if len(rest) > 6:  # a sentence that happens to begin with "stop" is free text for the thread
        return None
    named = [TOPIC_WORDS.get(word) for word in rest]
    unknown = tuple(word for word, topic in zip(rest, named, strict=True) if topic is None)
    topics = {topic for topic in named if topic is not None}
    return SmsCommand(
        start,
        frozenset(topics - UNSTOPPABLE_TOPICS),
        frozenset(topics & UNSTOPPABLE_TOPICS),
        unknown,
    )


# ------------------------------------------------------------------------------------------ the SMS answer

#: How each topic is named in an answer, per language (French for any other).
TOPIC_NAMES: dict[str, dict[Topic, str]] = {
    "fr": {
        Topic.SCHOOL_LIFE: "vie de l'ecole",
        Topic.EVENTS: "evenements et sorties",
        Topic.RECORDS: "notes et bulletins",
        Topic.HOMEWORK: "devoirs et journal de classe",
        Topic.ABSENCES: "absences",
        Topic.EMERGENCIES: "urgences",
    },
    "nl": {
        Topic.SCHOOL_LIFE: "schoolleven",
        Topic.EVENTS: "activiteiten en uitstappen",
        Topic.RECORDS: "cijfers en rapporten",
        Topic.HOMEWORK: "huiswerk en agenda",
        Topic.ABSENCES: "afwezigheden",
        Topic.EMERGENCIES: "noodgevallen",
    },
    "en": {
        Topic.SCHOOL_LIFE: "school life",
        Topic.EVENTS: "events and trips",
        Topic.RECORDS: "grades and report cards",
        Topic.HOMEWORK: "homework and class journal",
        Topic.ABSENCES: "absences",
        Topic.EMERGENCIES: "emergencies",
    },
}

# The answers are SMS: plain GSM-7 words (no curly quotes, few accents) so that they stay one or two segments.
_TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "stopped": "Carnet: plus de SMS pour: {topics}.",
        "portal": "Ces messages restent lisibles sur votre portail Carnet.",
        "paper": "Ces messages vous arriveront sur papier.",
        "kept": "Les absences et les urgences ne peuvent pas etre arretees: elles arrivent toujours par SMS.",
        "resume": "Pour les reprendre: START {word}.",
        "started": "Carnet: les SMS reprennent pour: {topics}.",
        "unknown": "Carnet: mot inconnu. Envoyez STOP NOTES, STOP DEVOIRS, STOP SORTIES, STOP VIE ou STOP seul.",
    },
    "nl": {
        "stopped": "Carnet: geen sms meer voor: {topics}.",
        "portal": "Deze berichten blijven leesbaar op uw Carnet-portaal.",
        "paper": "Deze berichten krijgt u op papier.",
        "kept": "Afwezigheden en noodgevallen kunnen niet worden gestopt: die komen altijd per sms.",
        "resume": "Opnieuw ontvangen: START {word}.",
        "started": "Carnet: u krijgt weer sms voor: {topics}.",
        "unknown": "Carnet: onbekend woord. Stuur STOP CIJFERS, STOP HUISWERK, STOP ACTIVITEITEN, STOP SCHOOL of STOP.",
    },
    "en": {
        "stopped": "Carnet: no more SMS for: {topics}.",
        "portal": "These messages stay readable on your Carnet portal.",
        "paper": "These messages will reach you on paper.",
        "kept": "Absences and emergencies cannot be stopped: they always come by SMS.",
        "resume": "To resume: START {word}.",
        "started": "Carnet: SMS resume for: {topics}.",
        "unknown": "Carnet: unknown word. Send STOP GRADES, STOP HOMEWORK, STOP EVENTS, STOP SCHOOL or STOP alone.",
    },
}


def sms_answer(command: SmsCommand, language: str, *, has_portal: bool) -> str:
    """What the hub texts back after a STOP or START: what stopped (or resumed), what replaces it (the portal, or
    paper when the guardian has no portal), and that absences and emergencies still come by SMS."""
    lang = language if language in _TEXTS else "fr"
    texts, names = _TEXTS[lang], TOPIC_NAMES[lang]
    if command.unknown and not command.topics and not command.refused:
        return texts["unknown"]
    listed = ", ".join(names[t] for t in STOPPABLE_TOPICS if t in command.topics)
    parts: list[str] = []
    if command.start:
        if listed:
            parts.append(texts["started"].format(topics=listed))
    elif listed:
        word = "" if len(command.topics) == len(STOPPABLE_TOPICS) else _resume_word(command.topics, lang)
        parts += [
            texts["stopped"].format(topics=listed),
            texts["portal" if has_portal else "paper"],
            texts["resume"].format(word=word).replace("START .", "START."),
        ]
    parts.append(texts["kept"])
    return " ".join(parts)


def _resume_word(topics: frozenset[Topic], lang: str) -> str:
    words = [word.upper() for word, topic in _ANSWER_WORDS[lang].items() if topic in topics]
    return " ".join(words)


#: The word an answer suggests for START, per language: one per stoppable topic.
_ANSWER_WORDS: dict[str, dict[str, Topic]] = {
    "fr": {"vie": Topic.SCHOOL_LIFE, "sorties": Topic.EVENTS, "notes": Topic.RECORDS, "devoirs": Topic.HOMEWORK},
    "nl": {
        "school": Topic.SCHOOL_LIFE,
        "activiteiten": Topic.EVENTS,
        "cijfers": Topic.RECORDS,
        "huiswerk": Topic.HOMEWORK,
    },
    "en": {"school": Topic.SCHOOL_LIFE, "events": Topic.EVENTS, "grades": Topic.RECORDS, "homework": Topic.HOMEWORK},
}
