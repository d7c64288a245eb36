"""A guardian's own data, all of it, as the GDPR's right of access asks (art. 15 and 20): what the school holds
about them, in a machine-readable form.

:func:`export_guardian` returns one JSON-ready dict with a list of rows per table; :func:`export_zip` packs it as a
zip with that JSON and a CSV per table (a spreadsheet opens those). The portal's "My data" page and the JSON API
share them. Every export is audited (ids and counts only) by :func:`audited_export`.

What is *not* in it, on purpose: another person's data. A pupil appears by name only through the guardian's own
links; answers, acknowledgements and reply posts are the guardian's own (with one answer per pupil, the other
parent's answer stays theirs); a post of the school in the guardian's threads is included, since it was written to
them. Secrets are never exported: the session and sign-in link tokens (only their hashes are stored anyway), the
password hash, verification codes. A link barred by a court order shows as barred, without the pupil's name or the
order's reason (the school's record, which a guardian asks the school for).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from decimal import Decimal
from enum import Enum
from typing import Any

from hub import clock, csvfile
from hub.enums import ActorKind
from hub.messaging.models import Acknowledgement, Delivery, Notice, NoticePupil, SlipResponse, ThreadPost
from hub.people.models import ChannelPreference, Consent, Contact, Guardian, Guardianship, SignInLink, WebSession
from hub.records import visibility
from hub.records.models import Absence
from hub.store.audit import AuditEntry, audit

#: Changes when the shape of the export changes, so a program reading it can tell.
FORMAT = "carnet-guardian-export/1"


class NothingToExport(LookupError):
    """No guardian with this id (or their data was erased)."""


def _plain(value: Any) -> Any:
    """A value JSON can hold: times as ISO 8601, enums as their value, decimals as text (exact)."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def export_guardian(guardian_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Everything the school holds about this guardian, as one JSON-ready dict (a list of rows per table)."""
    return _plain(await guardian_data(guardian_id, now=now))


async def guardian_data(guardian_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The same as :func:`export_guardian` with its values as Python keeps them (times, enums): what the "My
    data" page shows."""
    guardian = (
        await Guardian.filter(id=guardian_id, erased_at__isnull=True).prefetch_related("household", "school").first()
    )
    if guardian is None:
        raise NothingToExport(f"no guardian {guardian_id}")
    household = guardian.household
    notices = await Notice.filter(guardian_id=guardian_id).order_by("id")
    notice_ids = [n.id for n in notices]
    at = now or clock.now()
    return {
        "format": FORMAT,
        "exported_at": at,
        "school": guardian.school.name,
        "guardian": (
            {
                "id": guardian.id,
                "external_id": guardian.external_id,
                "first_name": guardian.first_name,
                "last_name": guardian.last_name,
                "language": guardian.language,
                "street": guardian.street,
                "postal_code": guardian.postal_code,
                "city": guardian.city,
                "country": guardian.country,
                "household_address": (
                    f"{household.street}, {household.postal_code} {household.city} ({household.country})"
                    if household
                    else ""
                ),
                "has_password": bool(guardian.password_hash),
                "onboarded_at": guardian.onboarded_at,
                "quiet_from": guardian.quiet_from,
                "quiet_until": guardian.quiet_until,
                "created_at": guardian.created_at,
            }
        ),
        "contacts": (
            await Contact.filter(guardian_id=guardian_id)
            .order_by("id")
            .values("id", "kind", "value", "verified", "verified_at", "dead_at", "dead_reason", "created_at")
        ),
        "consents": (
            await Consent.filter(guardian_id=guardian_id)
            .order_by("given_at", "id")
            .values("id", "purpose", "version", "given_at", "source", "withdrawn_at", "withdrawn_source")
        ),
        "channel_preferences": (
            await ChannelPreference.filter(guardian_id=guardian_id)
            .order_by("rank", "id")
            .values("channel", "rank", "enabled")
        ),
        "children": await _children(guardian_id),
        **await _records(guardian_id, at),
        "notices": await _notices(notices),
        "deliveries": (
            await Delivery.filter(notice_id__in=notice_ids)
            .order_by("id")
            .values(
                "id", "notice_id", "channel", "step", "purpose", "state", "due_at", "sent_at", "delivered_at", "error"
            )
        ),
        "acknowledgements": (
            await Acknowledgement.filter(notice_id__in=notice_ids).order_by("at").values("notice_id", "at", "channel")
        ),
        "answers": (
            await SlipResponse.filter(guardian_id=guardian_id)
            .order_by("at", "id")
            .values(
                "id",
                "notice_id",
                "pupil_id",
                "slip__message__subject",
                "answers",
                "signed_name",
                "channel",
                "at",
            )
        ),
        "thread_posts": (
            # The guardian's own posts, and the school's posts in the guardian's threads (written to them).
            [
                row
                for row in await ThreadPost.filter(notice_id__in=notice_ids)
                .order_by("at", "id")
                .values("id", "notice_id", "author_kind", "guardian_id", "body", "channel", "at")
                if row["author_kind"] == ActorKind.STAFF or row["guardian_id"] == guardian_id
            ]
        ),
        "sessions": (
            await WebSession.filter(guardian_id=guardian_id)
            .order_by("created_at")
            .values("id", "created_at", "last_seen_at", "expires_at", "revoked_at", "user_agent")
        ),
        "sign_in_links": (
            await SignInLink.filter(guardian_id=guardian_id)
            .order_by("created_at")
            .values("id", "purpose", "created_at", "expires_at", "used_at")
        ),
        "activity": (
            await AuditEntry.filter(actor_kind=ActorKind.GUARDIAN, actor_id=guardian_id)
            .order_by("at", "id")
            .values("at", "action", "subject_type", "subject_id")
        ),
    }


async def _children(guardian_id: int) -> list[dict[str, Any]]:
    rows = (
        await Guardianship.filter(guardian_id=guardian_id)
        .order_by("pupil__first_name", "pupil_id")
        .values(
            "pupil_id",
            "pupil__first_name",
            "pupil__last_name",
            "relation",
            "receives",
            "may_answer",
            "barred",
            "created_at",
        )
    )
    return [
        {
            "pupil_id": row["pupil_id"],
            # A court order bars this guardian from the pupil: the link shows, the pupil's name does not.
            "pupil": "" if row["barred"] else f"{row['pupil__first_name']} {row['pupil__last_name']}",
            "relation": row["relation"],
            "receives": row["receives"],
            "may_answer": row["may_answer"],
            "barred": row["barred"],
            "since": row["created_at"],
        }
        for row in rows
    ]


async def _records(guardian_id: int, now: dt.datetime) -> dict[str, list[dict[str, Any]]]:
    """The children's records exactly as the portal shows them to this guardian at ``now`` (one rule,
    :mod:`hub.records.visibility`: the records right, no bar, publication time and the families' delay passed)."""
    pupils = sorted(await visibility.record_pupil_ids(guardian_id))
    grades = await visibility.family_grades(pupils, now)
    cards = await visibility.family_report_cards(pupils, now)
    return {
        "grades": await grades.order_by("pupil_id", "assessed_on", "id").values(
            "pupil_id", "subject", "title", "term", "score", "max_score", "comment", "assessed_on", "published_at"
        ),
        "report_cards": await cards.order_by("pupil_id", "school_year", "term").values(
            "pupil_id", "school_year", "term", "results", "general_comment", "published_at"
        ),
        "absences": await Absence.filter(pupil_id__in=pupils)
        .order_by("pupil_id", "starts_at", "id")
        .values("pupil_id", "starts_at", "ends_at", "reason", "justified", "note"),
    }


async def _notices(notices: list[Notice]) -> list[dict[str, Any]]:
    ids = [n.id for n in notices]
    pupils: dict[int, list[int]] = {}
    for notice_id, pupil_id in await NoticePupil.filter(notice_id__in=ids).values_list("notice_id", "pupil_id"):
        pupils.setdefault(notice_id, []).append(pupil_id)
    messages = {
        row["id"]: row
        for row in await Notice.filter(id__in=ids).values(
            "id",
            "message__subject",
            "message__body",
            "message__published_at",
            "message__author__first_name",
            "message__author__last_name",
        )
    }
    return [
        {
            "id": n.id,
            "subject": messages[n.id]["message__subject"],
            "body": messages[n.id]["message__body"],
            "sender": f"{messages[n.id]['message__author__first_name']} {messages[n.id]['message__author__last_name']}",
            "published_at": messages[n.id]["message__published_at"],
            "pupil_ids": sorted(pupils.get(n.id, [])),
            "channel_plan": list(n.plan),
            "first_read_at": n.first_read_at,
            "opened_at": n.opened_at,  # the personal link fetched (by the guardian or a mail scanner)
        }
        for n in notices
    ]


def export_json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")


def export_zip(data: dict[str, Any]) -> bytes:
    """The export as a zip: ``carnet-data.json`` (all of it) and a CSV per table (UTF-8 with a BOM, ``;``
    separated, as a Belgian spreadsheet opens it; a cell that would start a formula gets an apostrophe, see
    :mod:`hub.csvfile`). Nested values (answers, plans) are written as JSON."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("carnet-data.json", export_json(data))
        tables = {"guardian": [data["guardian"]]}
        tables.update({key: value for key, value in data.items() if isinstance(value, list)})
        for name, rows in tables.items():
            archive.writestr(f"{name}.csv", _csv(rows))
    return buffer.getvalue()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    """One table of the export through the product's CSV writer (formulas neutralised, ``;``, UTF-8 with a BOM)."""
    return csvfile.table(
        [
            {
                key: json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
                for key, value in row.items()
            }
            for row in rows
        ]
    )


async def audited_export(
    guardian_id: int,
    *,
    now: dt.datetime,
    actor_kind: ActorKind = ActorKind.GUARDIAN,
    actor_id: int | None = None,
    file_format: str = "json",
    via: str = "portal",
) -> dict[str, Any]:
    """:func:`export_guardian`, written to the audit log (who asked, in which format, how many rows)."""
    data = await export_guardian(guardian_id, now=now)
    await audit(
        "guardian.data_exported",
        at=now,
        actor_kind=actor_kind,
        actor_id=guardian_id if actor_id is None and actor_kind == ActorKind.GUARDIAN else actor_id,
        subject_type="guardian",
        subject_id=guardian_id,
        format=file_format,
        via=via,
        rows={key: len(value) for key, value in data.items() if isinstance(value, list)},
    )
    return data
