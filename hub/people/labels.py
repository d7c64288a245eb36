"""How a group is named on every page: a class by the school's own code ("3A", what the timetable, the report and
the roster say), a course or a level by its name (its code is an internal key). One rule, so a class never reads
"3e A" in one place and "3A" in another. A pure function over plain values."""

from __future__ import annotations

from hub.enums import GroupKind

__all__ = ["group_label"]


def group_label(kind: str, code: str, name: str) -> str:
    """The label of a group of this kind, code and name."""
    if kind == GroupKind.CLASS:
        return code or name
    return name or code
