"""Templates whose fixed words are translated once, when the template compiles, instead of on every render.

The pages call ``_`` with the English text (Jinja's ``i18n`` extension, new style): on each render every call looks the
text up in the catalogue, marks it safe and formats it, through three layers of Jinja's context calls. A page
such as the portal's inbox makes some sixty of them per render, most with a fixed text and no value. Each
language has its own :class:`TranslatedEnvironment` (see :meth:`hub.web.kit.Web.env`), so a fixed text has one
translation there: the compiler puts it in the template's code as a constant (a text without values becomes part
of the page's fixed output), and a text with values becomes the translated format string applied to them, as the
extension would (``Markup(translated) % values``: the values are escaped, the translation is not).

What is folded is exactly what the extension would produce: the same catalogue (``page_translations``, built once
per process), the same marking as safe when the template autoescapes, the same ``%`` formatting (``%%`` is a
percent sign even without values). A call that is not ``_``/``gettext`` of one literal text with keyword values
only is left to the extension, and so is every call of a template that assigns a name ``_`` or ``gettext``
itself. ``ngettext`` (whose form depends on a number) is never folded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, nodes
from jinja2.visitor import NodeTransformer

#: The names under which the ``i18n`` extension installs the translation of one text.
_GETTEXT_NAMES = ("_", "gettext")


class TranslatedEnvironment(Environment):
    """An environment of one language: ``gettext`` (that language's) translates the fixed texts at compile time.
    Set :attr:`fold_gettext` after creating it (its overlays keep it)."""

    fold_gettext: Callable[[str], str] | None = None

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        if self.fold_gettext is None:
            return tree
        return fold_translations(tree, self.fold_gettext, self)


def fold_translations(tree: nodes.Template, gettext: Callable[[str], str], environment: Environment) -> nodes.Template:
    """``tree`` with its foldable translation calls replaced by their translation (see the module's note)."""
    for name in tree.find_all(nodes.Name):
        if name.name in _GETTEXT_NAMES and name.ctx != "load":
            return tree  # the template names something ``_`` itself: leave every call to run
    folded = _Folder(gettext).visit(tree)
    assert isinstance(folded, nodes.Template)
    folded.set_environment(environment)
    return folded


class _Folder(NodeTransformer):
    def __init__(self, gettext: Callable[[str], str]) -> None:
        self.gettext = gettext

    def visit_Call(self, node: nodes.Call, *args: Any, **kwargs: Any) -> nodes.Node:
        visited = self.generic_visit(node, *args, **kwargs)
        assert isinstance(visited, nodes.Call)
        node = visited
        target = node.node
        if not (isinstance(target, nodes.Name) and target.name in _GETTEXT_NAMES and target.ctx == "load"):
            return node
        if len(node.args) != 1 or node.dyn_args is not None or node.dyn_kwargs is not None:
            return node
        text = node.args[0]
        if not (isinstance(text, nodes.Const) and isinstance(text.value, str)):
            return node
        translated = self.gettext(text.value)
        lineno = node.lineno
        if not node.kwargs:
            try:
                fixed = translated % {}  # as the extension formats a text without values
            except (KeyError, TypeError, ValueError):
                return node  # a text that fails without values fails at render time, as it always did
            return nodes.MarkSafeIfAutoescape(nodes.Const(fixed, lineno=lineno), lineno=lineno)
        values = nodes.Dict(
            [nodes.Pair(nodes.Const(kw.key, lineno=lineno), kw.value, lineno=lineno) for kw in node.kwargs],
            lineno=lineno,
        )
        return nodes.Mod(nodes.MarkSafeIfAutoescape(nodes.Const(translated, lineno=lineno), lineno=lineno), values)
