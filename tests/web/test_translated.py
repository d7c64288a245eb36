"""Templates whose fixed texts are translated when they compile (:mod:`hub.web.translated`) give exactly what
Jinja's ``i18n`` extension gives at render time: the same words, marked safe, the values escaped, ``%%`` a percent
sign; and what cannot be folded is left to the extension."""

from __future__ import annotations

import gettext
from typing import Any

import pytest
from jinja2 import DictLoader, Environment, select_autoescape

from hub.web.kit import LANGUAGES, page_translations
from hub.web.translated import TranslatedEnvironment

_WORDS = {
    "Hello": "Bonjour",
    "Hello %(name)s": "Bonjour %(name)s <b>!</b>",
    "100%% sure": "sûr à 100%%",
    "Only <em>you</em>": "Vous <em>seul</em>",
    "%(num)d message": "%(num)d message",
    "%(num)d messages": "%(num)d messages",
}


class _Catalogue(gettext.NullTranslations):
    def gettext(self, message: str) -> str:
        return _WORDS.get(message, message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _WORDS.get(singular if n == 1 else plural, singular if n == 1 else plural)


_TEMPLATES = {
    "fixed.html": (
        '<p>{{ _("Hello") }} {{ gettext("Only <em>you</em>") }} {{ _("100%% sure") }} {{ _("Not translated") }}</p>'
    ),
    "values.html": '<p>{{ _("Hello %(name)s", name=who) }}</p>',
    "plural.html": '<p>{{ ngettext("%(num)d message", "%(num)d messages", n) }}</p>',
    "filtered.html": '<p title="{{ _("Hello")|upper }}">{{ (_("Hello") ~ "!")|e }}</p>',
    "shadowed.html": '{% set _ = shout %}<p>{{ _("Hello") }}</p>',
    "missing.html": '<p>{{ _("Hello %(name)s") }}</p>',
    "plain.txt": '{{ _("Hello %(name)s", name=who) }} {{ _("Only <em>you</em>") }}',
    "layout.html": "<main>{% block main %}{% endblock %}</main>",
    "child.html": '{% extends "layout.html" %}{% block main %}{{ _("Hello") }}{% endblock %}',
}


def _env(cls: type[Environment], catalogue: Any, templates: dict[str, str]) -> Environment:
    env = cls(loader=DictLoader(templates), autoescape=select_autoescape(), extensions=["jinja2.ext.i18n"])
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]
    if isinstance(env, TranslatedEnvironment):
        env.fold_gettext = catalogue.gettext
    return env


_VALUES = {"who": "<script>Zoé</script>", "n": 2, "shout": lambda text: text.upper()}


@pytest.mark.parametrize("name", sorted(set(_TEMPLATES) - {"missing.html", "layout.html"}))
def test_a_folded_template_gives_what_the_extension_gives(name: str) -> None:
    plain = _env(Environment, _Catalogue(), _TEMPLATES).get_template(name).render(_VALUES)
    folded = _env(TranslatedEnvironment, _Catalogue(), _TEMPLATES).get_template(name).render(_VALUES)
    assert folded == plain


def test_the_fixed_words_are_in_the_compiled_code_and_the_values_still_escaped() -> None:
    env = _env(TranslatedEnvironment, _Catalogue(), _TEMPLATES)
    code = env.compile(_TEMPLATES["fixed.html"], raw=True)
    assert "Bonjour" in code and "Vous <em>seul</em>" in code and "sûr à 100%" in code
    assert "gettext" not in code  # no call of the catalogue left
    page = env.get_template("values.html").render(_VALUES)
    assert page == "<p>Bonjour &lt;script&gt;Zoé&lt;/script&gt; <b>!</b></p>"
    assert "ngettext" in env.compile(_TEMPLATES["plural.html"], raw=True)  # a number's form stays at render time
    assert "Bonjour" not in env.compile(_TEMPLATES["shadowed.html"], raw=True)  # its own ``_``: left alone


def test_a_text_that_fails_without_values_still_fails_when_it_renders() -> None:
    for cls in (Environment, TranslatedEnvironment):
        template = _env(cls, _Catalogue(), _TEMPLATES).get_template("missing.html")  # compiles
        with pytest.raises(KeyError):
            template.render()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_overlay_of_the_pages_keeps_folding(lang: str) -> None:
    env = _env(TranslatedEnvironment, page_translations(lang), _TEMPLATES)
    sync = env.overlay(enable_async=False)
    assert isinstance(sync, TranslatedEnvironment) and sync.fold_gettext is not None
    assert "gettext" not in sync.compile(_TEMPLATES["child.html"], raw=True)
