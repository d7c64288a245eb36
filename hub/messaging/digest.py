"""The digest: the notices the daily limit held to a later day leave as ONE message per guardian and channel.

``hub.messaging.planning`` gives the held deliveries of one guardian, channel and day the same ``digest_key``
(the charter's daily limit, guide 6967: a family is not rung more than so many times a day); when they come due
together, the worker sends them with :func:`render_digest`: one message listing every subject, each with its
personal link, in the guardian's language. The labels are here (French, Dutch, English), like the letter's.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from channels.base import Rendered
from hub.enums import Channel
from hub.messaging.rendering import NoticeView, language_of

_LABELS: dict[str, dict[str, str]] = {
    "fr": {
        "subject": "{school} : {count} messages",
        "intro": "Bonjour {name},\n\nPour ne pas vous déranger trop souvent, voici en un seul envoi {count} messages "
        "de l’école :",
        "short": "{school} : {count} messages pour vous",
        "sms": "{school} : {count} messages :",
    },
    "nl": {
        "subject": "{school}: {count} berichten",
        "intro": "Beste {name},\n\nOm u niet te vaak te storen, ontvangt u hier {count} berichten van de school samen:",
        "short": "{school}: {count} berichten voor u",
        "sms": "{school}: {count} berichten:",
    },
    "en": {
        "subject": "{school}: {count} messages",
        "intro": "Dear {name},\n\nSo as not to disturb you too often, here are {count} messages from the school "
        "together:",
        "short": "{school}: {count} messages for you",
        "sms": "{school}: {count} messages:",
    },
}


def render_digest(views: Sequence[NoticeView], channel: Channel | str) -> Rendered:
    """One message for ``channel`` listing the notices of ``views`` (one guardian's), in that guardian's
    language: each subject with its personal link; the email has the same list in HTML."""
    if not views:
        raise ValueError("an empty digest")
    channel = Channel(channel)
    first = views[0]
    lang = language_of(first.language)
    labels = _LABELS[lang]
    values = {"school": first.school_name, "count": len(views), "name": first.guardian_name}
    lines = [f"• {v.subject}" for v in views]
    if channel == Channel.SMS:
        text = "\n".join(
            [labels["sms"].format(**values), *(f"{line} {v.link}" for line, v in zip(lines, views, strict=True))]
        )
        return Rendered(language=lang, subject="", text=text, link=first.link)
    if channel in (Channel.WEBPUSH, Channel.FCM):
        return Rendered(language=lang, subject=labels["short"].format(**values), text="\n".join(lines), link=first.link)
    intro = labels["intro"].format(**values)
    text = "\n\n".join(
        [
            intro,
            *(f"{line}\n  {v.link}" if v.link else line for line, v in zip(lines, views, strict=True)),
            first.school_name,
        ]
    )
    items = "".join(
        f'<li><a href="{html.escape(v.link)}">{html.escape(v.subject)}</a></li>'
        if v.link
        else f"<li>{html.escape(v.subject)}</li>"
        for v in views
    )
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in intro.split("\n\n"))
    page = f'<!doctype html><html lang="{lang}"><body>{paragraphs}<ul>{items}</ul>'
    page += f"<p>{html.escape(first.school_name)}</p></body></html>"
    return Rendered(
        language=lang,
        subject=labels["subject"].format(**values),
        text=text,
        html=page if channel == Channel.EMAIL else "",
        link=first.link,
        reply_to=first.reply_to,
    )


__all__ = ["render_digest"]
