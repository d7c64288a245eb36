"""A message's email rendered once, then personalised per guardian: what the worker sends.

``hub.messaging.rendering.render`` runs the Jinja templates, the translations and Babel's list formatting for each
notice, though the notices of one message differ only in a few values: the guardian's name, the pupils named, the
personal link and short code, the unsubscribe address. Here the email is rendered once per message, language and
shape (which of those values are empty, how many pupils) with a marker standing for each personal value, and each
guardian's copy is that rendering with the markers replaced (HTML-escaped in the HTML part, as the template's
autoescape does).

The first guardian of each shape is also rendered in full and compared: a shape whose substituted copy is not exactly
the full rendering (a template that would treat a personal value other than by printing it) is rendered in full for
every guardian from then on. A reply slip's calendar is made from the personal link, so a notice with a slip is
always rendered in full.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from functools import lru_cache

from markupsafe import escape

from channels.base import Rendered
from hub.enums import Channel
from hub.messaging.rendering import NoticeView, render

__all__ = ["render_email"]

_MARK = "\x1a"
_GUARDIAN, _LINK, _CODE, _UNSUBSCRIBE = (f"{_MARK}{name}{_MARK}" for name in ("G", "L", "C", "U"))
#: Shapes remembered (and whether their substituted copy was found exact): a school's recent messages.
_SHAPES = 512


def _pupil(n: int) -> str:
    return f"{_MARK}P{n}{_MARK}"


@lru_cache(maxsize=_SHAPES)
def _skeleton(shape: NoticeView) -> Rendered:
    return render(shape, Channel.EMAIL)


_checked: OrderedDict[NoticeView, bool] = OrderedDict()


def _personal(view: NoticeView) -> list[tuple[str, str]]:
    pairs = [(_GUARDIAN, view.guardian_name), (_LINK, view.link), (_CODE, view.short_code)]
    pairs += [(_pupil(n), name) for n, name in enumerate(view.pupils)]
    return [(mark, value) for mark, value in pairs if value]


def _fill(text: str, pairs: list[tuple[str, str]], *, html: bool) -> str:
    for mark, value in pairs:
        text = text.replace(mark, str(escape(value)) if html else value)
    return text


def render_email(view: NoticeView) -> Rendered:
    """``render(view, Channel.EMAIL)``, built from the message's rendering kept for its shape."""
    values = (view.guardian_name, view.link, view.short_code, view.unsubscribe, *view.pupils)
    values += (view.subject, view.body, view.school_name, view.sender_name)
    if view.slip is not None or any(_MARK in value for value in values):
        return render(view, Channel.EMAIL)
    shape = dataclasses.replace(
        view,
        guardian_name=_GUARDIAN if view.guardian_name else "",
        link=_LINK if view.link else "",
        short_code=_CODE if view.short_code else "",
        unsubscribe=_UNSUBSCRIBE if view.unsubscribe else "",
        pupils=tuple(_pupil(n) for n in range(len(view.pupils))),
    )
    exact = _checked.get(shape)
    if exact is False:
        return render(view, Channel.EMAIL)
    skeleton = _skeleton(shape)
    pairs = _personal(view)
    copy = dataclasses.replace(
        skeleton,
        text=_fill(skeleton.text, pairs, html=False),
        html=_fill(skeleton.html, pairs, html=True),
        link=view.link,
        unsubscribe=view.unsubscribe,
    )
    if exact is None:  # the first of its shape: check the copy against the full rendering
        full = render(view, Channel.EMAIL)
        _checked[shape] = copy == full
        while len(_checked) > _SHAPES:
            _checked.popitem(last=False)
        return full
    _checked.move_to_end(shape)
    return copy
