"""The school's settings for its records (grades, report cards, absences), as an administrator changes them (the
principal only reads them).

* ``family_records_delay_hours``: the pupil-first window, hours after a grade's or report card's publication before
  families see it (0 to a week: the pupil hears first, the family soon after);
* ``grade_notices``: whether families get the weekly bundle of single grades;
* ``absence_threshold_half_days``: unjustified half-days in a school year past which a pupil is flagged to the
  principal (1 to 100);
* ``journal_digest_weekday``: the day of the week families get the journal's digest of coming homework and tests
  (0 Monday to 6 Sunday; Friday by default; sent inside the charter's hours of that day, so a day without sending
  hours, a weekend for most charters, sends none).

A form's values are checked whole before anything is saved (``SettingsError`` naming the field, problem
``records``); what changed is audited with the old and new values (numbers and a yes/no, no personal data).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from tortoise.transactions import in_transaction

from hub.enums import ActorKind
from hub.people.models import School
from hub.people.settings_admin import SettingsError
from hub.store.audit import audit

#: The pupil-first window's bounds, in hours: none, up to a week.
MIN_DELAY_HOURS, MAX_DELAY_HOURS = 0, 168
#: The absence threshold's bounds, in half-days: a school year has about 360 of them.
MIN_THRESHOLD, MAX_THRESHOLD = 1, 100


@dataclass(frozen=True)
class RecordsSettings:
    family_records_delay_hours: int
    grade_notices: bool
    absence_threshold_half_days: int
    journal_digest_weekday: int = 4


async def records_settings(school_id: int) -> RecordsSettings:
    school = await School.get(id=school_id)
    return RecordsSettings(
        school.family_records_delay_hours,
        bool(school.grade_notices),
        school.absence_threshold_half_days,
        school.journal_digest_weekday,
    )


def _whole(raw: dict[str, str], key: str, low: int, high: int) -> int:
    text = raw.get(key, "").strip()
    if not text.isdigit() or len(text) > 4 or not low <= int(text) <= high:
        raise SettingsError(key, "records", f"{low}..{high}")
    return int(text)


def checked_records_settings(raw: dict[str, str]) -> RecordsSettings:
    """The settings a form asks for: two whole numbers within their bounds and a checkbox ("1"/"on" or absent)."""
    notices = raw.get("grade_notices", "").strip()
    if notices not in ("", "0", "1", "on"):
        raise SettingsError("grade_notices", "records")
    return RecordsSettings(
        family_records_delay_hours=_whole(raw, "family_records_delay_hours", MIN_DELAY_HOURS, MAX_DELAY_HOURS),
        grade_notices=notices in ("1", "on"),
        absence_threshold_half_days=_whole(raw, "absence_threshold_half_days", MIN_THRESHOLD, MAX_THRESHOLD),
        journal_digest_weekday=_whole(raw, "journal_digest_weekday", 0, 6),
    )


async def update_records_settings(school_id: int, wanted: RecordsSettings, *, by: int, at: dt.datetime) -> list[str]:
    """Save the settings (checked again: ``SettingsError`` and nothing saved); the names of those that changed,
    audited with their old and new values when any did."""
    checked_records_settings(
        {
            "family_records_delay_hours": str(wanted.family_records_delay_hours),
            "grade_notices": "1" if wanted.grade_notices else "",
            "absence_threshold_half_days": str(wanted.absence_threshold_half_days),
            "journal_digest_weekday": str(wanted.journal_digest_weekday),
        }
    )
    async with in_transaction():
        before = asdict(await records_settings(school_id))
        after = asdict(wanted)
        changed = [key for key in after if before[key] != after[key]]
        if changed:
            await School.filter(id=school_id).update(**{key: after[key] for key in changed})
            await audit(
                "school.records_settings",
                at=at,
                actor_kind=ActorKind.STAFF,
                actor_id=by,
                subject_type="school",
                subject_id=school_id,
                fields=changed,
                before={key: before[key] for key in changed},
                after={key: after[key] for key in changed},
            )
    return changed
