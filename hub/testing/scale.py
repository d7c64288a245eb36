"""Test and benchmark equipment for scale: a school of N families in seconds, notices and deliveries by the tens of
thousands, and a count of the SQL statements a piece of code sends.

The rows go in through ``hub.store.sql.insert_many`` (the driver's ``executemany``), not one ORM object at a time:
a school of 50,000 guardians is built in seconds. Each family is one pupil in one class with one guardian, who has
a verified email address and the consents to be written to by email.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.enums import (
    AudienceKind,
    Channel,
    ConsentPurpose,
    ConsentSource,
    ContactKind,
    DeliveryPurpose,
    DeliveryState,
    GroupKind,
    Relation,
    StaffRole,
    Urgency,
)
from hub.messaging.models import Message, MessageAudience
from hub.people.models import Group, School, Staff, StaffRoleGrant
from hub.store import sql

__all__ = ["BigSchool", "Statements", "big_school", "count_statements", "insert_deliveries", "insert_notices"]


@dataclass
class BigSchool:
    school: School
    teacher: Staff
    principal: Staff
    class_group: Group
    guardian_ids: list[int] = field(default_factory=list)

    async def message(
        self, *, urgency: Urgency = Urgency.NORMAL, needs_ack: bool = False, subject: str = "Sortie"
    ) -> Message:
        """A draft to the whole class (every family), by the teacher (the principal for an urgent one)."""
        author = self.teacher if urgency is Urgency.NORMAL else self.principal
        message = await Message.create(
            school=self.school,
            author=author,
            subject=subject,
            body="Sortie au musée vendredi : prévoir un pique-nique.",
            urgency=urgency,
            urgency_reason="exercice" if urgency is Urgency.EMERGENCY else "",
            needs_acknowledgement=needs_ack,
        )
        await MessageAudience.create(message=message, kind=AudienceKind.GROUP, group=self.class_group)
        return message


async def big_school(families: int, *, now: dt.datetime, tag: str = "S") -> BigSchool:
    """A school whose one class holds ``families`` pupils, each with one guardian reachable by email."""
    school = await School.create(name=f"Athénée {tag}")
    teacher = await Staff.create(school=school, first_name="Tom", last_name="T", email=f"tom.{tag}@school.be")
    await StaffRoleGrant.create(staff=teacher, role=StaffRole.TEACHER)
    principal = await Staff.create(school=school, first_name="Paula", last_name="P", email=f"paula.{tag}@school.be")
    await StaffRoleGrant.create(staff=principal, role=StaffRole.PRINCIPAL)
    class_group = await Group.create(school=school, kind=GroupKind.CLASS, code=f"1{tag}", name=f"1{tag}")
    numbers = range(families)
    await sql.insert_many(
        "household", ("school_id", "external_id", "street", "postal_code", "city", "country"),
        ((school.id, f"H{i}", "Rue de la Loi 1", "1000", "Bruxelles", "BE") for i in numbers),
    )  # fmt: skip
    households = await _ids("household", school.id)
    await sql.insert_many(
        "pupil", ("school_id", "external_id", "first_name", "last_name", "active", "created_at"),
        ((school.id, f"P{i}", f"Élève{i}", "Dupont", True, now) for i in numbers),
    )  # fmt: skip
    pupils = await _ids("pupil", school.id)
    await sql.insert_many(
        "guardian",
        ("school_id", "external_id", "first_name", "last_name", "language", "household_id", "street", "postal_code",
         "city", "country", "password_hash", "created_at"),
        ((school.id, f"G{i}", f"Parent{i}", "Dupont", "fr", households[i], "", "", "", "BE", "", now) for i in numbers),
    )  # fmt: skip
    guardians = await _ids("guardian", school.id)
    await sql.insert_many(
        "membership", ("group_id", "pupil_id"), ((class_group.id, pupil) for pupil in pupils)
    )  # fmt: skip
    await sql.insert_many(
        "guardianship",
        ("pupil_id", "guardian_id", "relation", "household_id", "receives", "may_answer", "barred", "barred_reason",
         "created_at"),
        ((pupils[i], guardians[i], Relation.MOTHER.value, households[i], True, True, False, "", now) for i in numbers),
    )  # fmt: skip
    await sql.insert_many(
        "contact", ("guardian_id", "kind", "value", "verified", "dead_reason", "created_at"),
        ((g, ContactKind.EMAIL.value, f"parent{i}.{tag.lower()}@example.be", True, "", now)
         for i, g in enumerate(guardians)),
    )  # fmt: skip
    await sql.insert_many(
        "consent", ("guardian_id", "purpose", "version", "given_at", "source", "withdrawn_source"),
        ((g, purpose.value, "2026-1", now, ConsentSource.IMPORT.value, "")
         for g in guardians for purpose in (ConsentPurpose.SCHOOL_MESSAGES, ConsentPurpose.EMAIL)),
    )  # fmt: skip
    return BigSchool(school, teacher, principal, class_group, guardians)


async def _ids(table: str, school_id: int) -> list[int]:
    rows = await sql.query(f"SELECT id FROM {table} WHERE school_id = $1 ORDER BY id", [school_id])
    return [row["id"] for row in rows]


async def insert_notices(
    message_id: int, guardian_ids: Sequence[int], *, now: dt.datetime, plan: Sequence[Channel]
) -> list[int]:
    """One notice per guardian for an already published message; their ids, in the guardians' order."""
    plan_text = json.dumps([channel.value for channel in plan])
    await sql.insert_many(
        "notice", ("message_id", "guardian_id", "token", "plan", "created_at"),
        ((message_id, g, secrets.token_urlsafe(24), plan_text, now) for g in guardian_ids),
    )  # fmt: skip
    rows = await sql.query("SELECT id, guardian_id FROM notice WHERE message_id = $1", [message_id])
    by_guardian = {row["guardian_id"]: row["id"] for row in rows}
    return [by_guardian[g] for g in guardian_ids]


async def insert_deliveries(
    notice_ids: Sequence[int],
    *,
    channel: Channel,
    step: int,
    state: DeliveryState,
    due_at: dt.datetime,
    sent_at: dt.datetime | None = None,
    purpose: DeliveryPurpose = DeliveryPurpose.INITIAL,
) -> None:
    """One delivery per notice, all alike."""
    await sql.insert_many(
        "delivery",
        ("notice_id", "channel", "step", "purpose", "state", "due_at", "attempts", "claimed_by", "sent_at",
         "provider_id", "cost", "segments", "error", "digest_key", "created_at", "updated_at"),
        ((n, channel.value, step, purpose.value, state.value, due_at, 1 if sent_at else 0, "", sent_at, "", 0, 0, "",
          "", due_at, sent_at or due_at) for n in notice_ids),
    )  # fmt: skip


@dataclass
class Statements:
    """The SQL statements sent through the ORM's connections (``sql.insert_many`` included): each one's text and
    its number of arguments (rows of an ``executemany`` count once, with the arguments of one row)."""

    sent: list[tuple[str, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sent)

    @property
    def most_arguments(self) -> int:
        return max((n for _sql, n in self.sent), default=0)


_NUMBERED = re.compile(r"\$(\d+)")
_VERBS = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"}


class _Counter(logging.Handler):
    def __init__(self, into: Statements) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        args: Any = record.args
        if not isinstance(args, tuple) or not args:
            return
        query = str(args[0])
        if not query.split() or query.split(None, 1)[0].upper() not in _VERBS:
            return  # a pool opened or closed, not a statement
        values = args[1] if len(args) > 1 else None
        placeholders = len(set(_NUMBERED.findall(query))) or query.count("?")
        rows = isinstance(values, list) and bool(values) and all(isinstance(v, list | tuple) for v in values)
        if rows and isinstance(values, list) and len(values[0]) == placeholders:
            arguments = placeholders  # an executemany: one statement, run per row
        else:  # an array of ids is one argument
            arguments = len(values) if isinstance(values, list | tuple) else 0
        self.into.sent.append((query, arguments))


@contextlib.contextmanager
def count_statements() -> Iterator[Statements]:
    """Count the statements sent inside the block (the ORM logs each one at DEBUG on ``tortoise.db_client``)."""
    found = Statements()
    logger = logging.getLogger("tortoise.db_client")
    handler = _Counter(found)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # the rows of a large executemany are not for the test's log capture
    try:
        yield found
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate
