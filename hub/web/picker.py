"""The composer's pupil picker: find a pupil by name or class, choose several, see them as chips.

The page works without JavaScript as a filter form: the search field and its "Find" button post the composer's form
(``action=find_pupils``), which comes back with every typed field kept and only the pupils matching the search shown
(the chosen ones always are, as chips whose "Remove" button posts ``action=unpick-<id>``). With the page's own
script (``static/picker.js``) the list filters as one types, and choosing or removing needs no round trip. The
matching rule here and in the script is the same: every word of the search begins a word of the pupil's name or
class, ignoring case and accents ("lea 3a", "Dupo").
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MAX_QUERY", "Picker", "PickerItem", "build", "fold", "matches"]

#: The longest search kept (a full name and a class, with room to spare): a longer one is cut, never refused.
MAX_QUERY = 100


def fold(text: str) -> str:
    """Lower case without accents (``"Léa"`` -> ``"lea"``), what a search compares."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def matches(query: str, *texts: str) -> bool:
    """True when every word of ``query`` begins a word of ``texts`` (an empty query matches everything)."""
    words = fold(" ".join(texts)).replace("-", " ").replace("'", " ").split()
    return all(any(w.startswith(q) for w in words) for q in fold(query).replace("-", " ").replace("'", " ").split())


@dataclass(frozen=True)
class PickerItem:
    id: int
    name: str
    code: str  #: the pupil's class (the school's code), "" without one
    chosen: bool
    shown: bool  #: matches the search (or chosen)


@dataclass(frozen=True)
class Picker:
    query: str
    items: tuple[PickerItem, ...]

    @property
    def chosen(self) -> tuple[PickerItem, ...]:
        return tuple(item for item in self.items if item.chosen)

    @property
    def shown(self) -> int:
        return sum(1 for item in self.items if item.shown and not item.chosen)


def build(pupils: Sequence[tuple[str, Sequence[tuple[int, str]]]], chosen: Sequence[str], query: str) -> Picker:
    """The picker over the composer's pupils (``(class code, ((id, label), ...))``), the posted choices and search."""
    query = " ".join(query.split())[:MAX_QUERY]
    picked = set(chosen)
    items = [
        PickerItem(
            id=pid,
            name=label,
            code=code,
            chosen=str(pid) in picked,
            shown=str(pid) in picked or matches(query, label, code),
        )
        for code, options in pupils
        for pid, label in options
    ]
    items.sort(key=lambda item: (fold(item.name), item.id))
    return Picker(query=query, items=tuple(items))
