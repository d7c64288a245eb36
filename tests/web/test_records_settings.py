"""The records settings page: the principal reads, an administrator changes (audited, bounded, bad input 400 and
nothing saved); the rules then read what was saved."""

from __future__ import annotations

from hub.demo.school import STAFF_DOMAIN
from hub.enums import StaffRole
from hub.people.models import School, Staff, StaffRoleGrant
from hub.people.records_settings import RecordsSettings, records_settings
from hub.store.audit import AuditEntry
from tests.web.conftest import Site

PAGE = "/staff/settings/records"
GOOD = {"family_records_delay_hours": "24", "grade_notices": "1", "absence_threshold_half_days": "12"}


async def _an_admin() -> str:
    grant = await StaffRoleGrant.filter(role=StaffRole.ADMIN, staff__active=True).prefetch_related("staff").first()
    assert grant is not None
    return str(grant.staff.email)


async def _school_id() -> int:
    return (await Staff.get(email=f"direction@{STAFF_DOMAIN}")).school_id


def test_a_principal_reads_the_records_settings_and_may_not_change_them(site: Site) -> None:
    school_id = site.run(_school_id)
    before = site.run(records_settings, school_id)
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    assert site.client.get(PAGE, follow_redirects=False).status_code == 403  # a teacher does not see them
    site.login_staff(f"direction@{STAFF_DOMAIN}")
    shown = site.client.get(PAGE)
    assert shown.status_code == 200
    assert f'value="{before.absence_threshold_half_days}"' in shown.text and "disabled" in shown.text
    assert 'href="/staff/settings/records"' in site.client.get("/staff/settings").text
    assert site.post(PAGE, GOOD, form_page=PAGE).status_code == 403
    assert site.run(records_settings, school_id) == before


def test_an_administrator_changes_the_records_settings_audited_and_bad_input_is_refused(site: Site) -> None:
    school_id = site.run(_school_id)
    before = site.run(records_settings, school_id)
    site.login_staff(site.run(_an_admin))
    for bad in (
        {**GOOD, "family_records_delay_hours": "169"},
        {**GOOD, "family_records_delay_hours": "-1"},
        {**GOOD, "family_records_delay_hours": "douze"},
        {**GOOD, "absence_threshold_half_days": "0"},
        {**GOOD, "absence_threshold_half_days": "101"},
        {**GOOD, "absence_threshold_half_days": ""},
        {**GOOD, "grade_notices": "maybe"},
        {**GOOD, "absence_threshold_half_days": "9" * 40},
    ):
        refused = site.post(PAGE, bad, form_page=PAGE)
        assert refused.status_code == 400, bad
        assert 'role="alert"' in refused.text
        assert site.run(records_settings, school_id) == before
    assert site.run(lambda: AuditEntry.filter(action="school.records_settings").count()) == 0

    saved = site.post(PAGE, GOOD, form_page=PAGE)
    assert saved.status_code == 303 and saved.headers["location"] == f"{PAGE}?done=1"
    assert site.run(records_settings, school_id) == RecordsSettings(24, True, 12)
    school = site.run(lambda: School.get(id=school_id))
    assert (school.family_records_delay_hours, school.grade_notices, school.absence_threshold_half_days) == (
        24,
        True,
        12,
    )
    entries = site.run(lambda: AuditEntry.filter(action="school.records_settings").all())
    assert len(entries) == 1
    assert entries[0].details["after"] == {
        key: value
        for key, value in {
            "family_records_delay_hours": 24,
            "grade_notices": True,
            "absence_threshold_half_days": 12,
        }.items()
        if getattr(before, key) != value
    }

    # An unchecked box turns the notices off again; saving the same values again audits nothing more.
    off = {key: value for key, value in GOOD.items() if key != "grade_notices"}
    assert site.post(PAGE, off, form_page=PAGE).status_code == 303
    assert site.run(records_settings, school_id) == RecordsSettings(24, False, 12)
    assert site.post(PAGE, off, form_page=PAGE).status_code == 303
    assert site.run(lambda: AuditEntry.filter(action="school.records_settings").count()) == 2
    assert 'value="24"' in site.client.get(PAGE).text


def test_an_administrator_chooses_the_day_of_the_journal_digest(site: Site) -> None:
    school_id = site.run(_school_id)
    site.login_staff(site.run(_an_admin))
    page = site.client.get(PAGE).text
    assert '<option value="4" selected>vendredi</option>' in page  # Friday by default, days named in French
    for bad in ("7", "-1", "vendredi", ""):
        refused = site.post(PAGE, {**GOOD, "journal_digest_weekday": bad}, form_page=PAGE)
        assert refused.status_code == 400 and "jour du récapitulatif" in refused.text, bad
    assert site.run(records_settings, school_id).journal_digest_weekday == 4
    assert site.post(PAGE, {**GOOD, "journal_digest_weekday": "0"}, form_page=PAGE).status_code == 303
    assert site.run(records_settings, school_id) == RecordsSettings(24, True, 12, 0)
    assert '<option value="0" selected>lundi</option>' in site.client.get(PAGE).text
    # A form without the field (an older page) leaves the day as it is.
    assert site.post(PAGE, GOOD, form_page=PAGE).status_code == 303
    assert site.run(records_settings, school_id).journal_digest_weekday == 0
    entry = site.run(lambda: AuditEntry.filter(action="school.records_settings").order_by("-id").first())
    assert entry is not None and entry.details["after"].get("journal_digest_weekday") in (None, 0)
