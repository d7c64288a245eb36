"""The guardian's data export as a readable PDF: the same content as the JSON and the zip (``hub.privacy.export``),
laid out for a person: one section per kind of data, in the guardian's language, each row as its fields, times in
the school's time zone. Text that a font cannot draw is replaced, never makes the PDF fail (``hub.pdf``).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

from hub.pdf import UnicodePDF, find_unicode_fonts

__all__ = ["SECTION_TITLES", "export_pdf"]

#: The sections in the order the PDF shows them, titled per language (French for any other).
SECTION_TITLES: dict[str, dict[str, str]] = {
    "fr": {
        "title": "Mes données",
        "intro": "Tout ce que {school} garde sur vous dans Carnet, le {date} (RGPD, articles 15 et 20).",
        "guardian": "À propos de moi",
        "contacts": "Mes contacts",
        "consents": "Mes consentements",
        "channel_preferences": "L'ordre de mes canaux",
        "children": "Mes enfants",
        "notices": "Les messages reçus",
        "deliveries": "Les envois",
        "acknowledgements": "Mes accusés de réception",
        "answers": "Mes réponses aux talons",
        "thread_posts": "Mes échanges avec l'école",
        "sessions": "Mes connexions",
        "sign_in_links": "Mes liens de connexion",
        "activity": "Ce que j'ai fait dans Carnet",
        "none": "rien",
    },
    "nl": {
        "title": "Mijn gegevens",
        "intro": "Alles wat {school} in Carnet over u bewaart, op {date} (AVG, artikels 15 en 20).",
        "guardian": "Over mij",
        "contacts": "Mijn contactgegevens",
        "consents": "Mijn toestemmingen",
        "channel_preferences": "De volgorde van mijn kanalen",
        "children": "Mijn kinderen",
        "notices": "Ontvangen berichten",
        "deliveries": "Verzendingen",
        "acknowledgements": "Mijn leesbevestigingen",
        "answers": "Mijn antwoorden op strookjes",
        "thread_posts": "Mijn gesprekken met de school",
        "sessions": "Mijn aanmeldingen",
        "sign_in_links": "Mijn aanmeldlinks",
        "activity": "Wat ik in Carnet deed",
        "none": "niets",
    },
    "en": {
        "title": "My data",
        "intro": "Everything {school} holds about you in Carnet, on {date} (GDPR, articles 15 and 20).",
        "guardian": "About me",
        "contacts": "My contacts",
        "consents": "My consents",
        "channel_preferences": "The order of my channels",
        "children": "My children",
        "notices": "Messages received",
        "deliveries": "Deliveries",
        "acknowledgements": "My acknowledgements",
        "answers": "My answers to reply slips",
        "thread_posts": "My conversations with the school",
        "sessions": "My sign-ins",
        "sign_in_links": "My sign-in links",
        "activity": "What I did in Carnet",
        "none": "nothing",
    },
}
_SECTIONS = tuple(key for key in SECTION_TITLES["en"] if key not in ("title", "intro", "none"))


def _value(value: Any, tz: ZoneInfo) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            return dt.datetime.fromisoformat(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")
        except ValueError:
            return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def export_pdf(data: dict[str, Any], *, language: str = "fr", timezone: str = "Europe/Brussels") -> bytes:
    """The export (``hub.privacy.export.export_guardian``'s dict) as a PDF."""
    words = SECTION_TITLES.get(language, SECTION_TITLES["fr"])
    tz = ZoneInfo(timezone)
    pdf = UnicodePDF(find_unicode_fonts())
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.set_title(words["title"])
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def line(text: str, size: float = 10, bold: bool = False, height: float = 5) -> None:
        pdf.use(size, bold)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(width, height, pdf.text_of(text))

    line(words["title"], 18, bold=True, height=9)
    line(words["intro"].format(school=data.get("school", ""), date=_value(data.get("exported_at"), tz)))
    for key in _SECTIONS:
        content = data.get(key)
        rows = [content] if isinstance(content, dict) else list(content or [])
        pdf.ln(3)
        line(f"{words[key]} ({len(rows)})", 13, bold=True, height=7)
        if not rows:
            line(words["none"])
        for row in rows:
            line("; ".join(f"{field}: {_value(value, tz)}" for field, value in row.items()))
            pdf.ln(1)
    return bytes(pdf.output())
