"""A reply slip's deadline as an iCalendar event (RFC 5545), carried by the email as a ``text/calendar`` part, so a
family can put "answer the slip" in their calendar in one click. Plain values in, text out: no database.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

#: How long before the deadline the event starts: a reminder slot, not an appointment.
SLOT = timedelta(minutes=30)

_SUMMARY = {
    "fr": "Répondre au talon : {subject}",
    "nl": "Antwoordstrook invullen: {subject}",
    "en": "Answer the reply slip: {subject}",
}


def _escape(text: str) -> str:
    """TEXT values (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped."""
    return (
        text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\n", "\\n")
    )


def _fold(line: str) -> str:
    """Lines of at most 75 octets, continued with CRLF and a space (RFC 5545 3.1), never inside a character."""
    out: list[str] = []
    current = ""
    for ch in line:
        if len((current + ch).encode("utf-8")) > (75 if not out else 74):
            out.append(current)
            current = ""
        current += ch
    out.append(current)
    return "\r\n ".join(out)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def slip_event(*, subject: str, deadline: datetime, link: str, language: str, now: datetime, key: str) -> str:
    """One VEVENT ending at the slip's ``deadline`` (aware), named after ``subject``, with the personal ``link``;
    ``key`` makes the UID (a hash of it: the same notice gives the same event, and no token leaks)."""
    uid = hashlib.sha256(key.encode()).hexdigest()[:32]
    summary = _SUMMARY.get(language, _SUMMARY["fr"]).format(subject=subject)
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Carnet//Reply slip//FR",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:{uid}@carnet",
        f"DTSTAMP:{_stamp(now)}",
        f"DTSTART:{_stamp(deadline - SLOT)}",
        f"DTEND:{_stamp(deadline)}",
        f"SUMMARY:{_escape(summary)}",
        f"DESCRIPTION:{_escape(link)}",
        *([f"URL:{link}"] if link else []),
        "TRANSP:TRANSPARENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
