"""A real school sets itself up: ``school init``, the staff import, access recovery and the two-administrator rule,
over SQLite and PostgreSQL (the service functions the command and the pages call)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hub.enums import GroupKind, StaffRole
from hub.people import school_setup, settings_admin
from hub.people.models import Group, School, Staff, StaffRoleGrant, Teaching, WebSession
from hub.people.roster import import_roster
from hub.people.setup_models import AdminNoticeSeen, SchoolProfile, StaffExternalId, StaffSignInLink
from hub.people.staff_import import StaffImportError, import_staff_text, parse_staff
from hub.store.audit import AuditEntry

DATA = Path(__file__).parent.parent / "data"
NOW = dt.datetime(2026, 8, 25, 9, 0, tzinfo=dt.UTC)
STAFF_HEADER = "staff_id,first_name,last_name,email,roles,language,classes,courses,titular"

SCHOOL = school_setup.SchoolIn(
    name="Athénée Royal de Namur",
    timezone="Europe/Brussels",
    default_language="fr",
    address="Rue de Bruxelles 1, 5000 Namur",
    dpo_name="Julie Renard",
    dpo_email="dpo@ecole.be",
)
ADMINS = [
    school_setup.AdminIn("Anne", "Lambert", "anne@ecole.be"),
    school_setup.AdminIn("Sophie", "Martin", "Sophie@Ecole.be"),
]


async def _snapshot() -> dict[str, Any]:
    """Everything a staff import may touch, as plain values."""
    return {
        "staff": sorted(await Staff.all().values_list("id", "first_name", "last_name", "email", "language", "active")),
        "roles": sorted(await StaffRoleGrant.all().values_list("staff_id", "role")),
        "teaching": sorted(await Teaching.all().values_list("staff_id", "group_id", "subject", "is_titular")),
        "ids": sorted(await StaffExternalId.all().values_list("staff_id", "external_id")),
    }


async def _admin_grants(staff_id: int | None = None) -> int:
    """The audit entries of the administrator's role being granted (to this member)."""
    entries = AuditEntry.filter(action="staff.role_granted")
    if staff_id is not None:
        entries = entries.filter(subject_id=str(staff_id))
    return sum(1 for e in await entries if e.details.get("role") == "admin")


async def _school_with_roster() -> school_setup.SetupResult:
    result = await school_setup.init_school(SCHOOL, ADMINS, now=NOW)
    await import_roster(DATA / "roster_valid.csv", now=NOW)
    return result


# ------------------------------------------------------------------------------------------------ school init


async def test_init_creates_the_school_its_officer_and_two_administrators_with_one_time_links(db: str) -> None:
    result = await school_setup.init_school(SCHOOL, ADMINS, now=NOW)
    school = await School.get()
    assert (school.name, school.timezone, str(school.default_language)) == (SCHOOL.name, "Europe/Brussels", "fr")
    assert school.address == SCHOOL.address
    profile = await SchoolProfile.get(school_id=school.id)
    assert (profile.dpo_name, profile.dpo_email) == ("Julie Renard", "dpo@ecole.be")
    assert [a.staff.email for a in result.admins] == ["anne@ecole.be", "sophie@ecole.be"]
    assert await school_setup.admin_count(school.id) == 2
    for first in result.admins:
        assert len(first.token) >= 40
        assert not await StaffSignInLink.filter(token_hash=first.token).exists()  # only the hash is stored
        link = await school_setup.consume_staff_link(first.token, NOW + dt.timedelta(days=6))
        assert link is not None and link.staff_id == first.staff.id
        assert await school_setup.consume_staff_link(first.token, NOW + dt.timedelta(days=6)) is None  # once
    assert await AuditEntry.filter(action="school.initialised").count() == 1
    assert await _admin_grants() == 2


async def test_a_setup_link_expires(db: str) -> None:
    result = await school_setup.init_school(SCHOOL, ADMINS, now=NOW)
    assert await school_setup.consume_staff_link(result.admins[0].token, NOW + dt.timedelta(days=7, seconds=1)) is None


async def test_init_refuses_a_database_that_holds_a_school_and_changes_nothing(db: str) -> None:
    await school_setup.init_school(SCHOOL, ADMINS, now=NOW)
    before = (await School.all().count(), await Staff.all().count(), await AuditEntry.all().count())
    others = [school_setup.AdminIn("A", "B", "a@b.be"), school_setup.AdminIn("C", "D", "c@d.be")]
    with pytest.raises(school_setup.SchoolExists, match="already holds a school"):
        await school_setup.init_school(
            school_setup.SchoolIn(name="Other", dpo_name="X", dpo_email="x@y.be"), others, now=NOW
        )
    assert (await School.all().count(), await Staff.all().count(), await AuditEntry.all().count()) == before


async def test_init_names_every_problem_and_stores_nothing(db: str) -> None:
    bad = school_setup.SchoolIn(name=" ", timezone="Mars/Olympus", default_language="xx", dpo_name="", dpo_email="no")
    admins = [school_setup.AdminIn("", "Lambert", "same@ecole.be"), school_setup.AdminIn("S", "M", "SAME@ecole.be")]
    with pytest.raises(school_setup.SetupError) as caught:
        await school_setup.init_school(bad, admins, now=NOW)
    fields = [f for f, _ in caught.value.problems]
    assert fields == [
        "name",
        "address",
        "timezone",
        "language",
        "dpo_name",
        "dpo_email",
        "admin1_first_name",
        "admin2_email",
    ]
    with pytest.raises(school_setup.SetupError, match="2 administrators, 1 were given"):
        await school_setup.init_school(SCHOOL, ADMINS[:1], now=NOW)
    assert await School.all().count() == 0 and await Staff.all().count() == 0


# ------------------------------------------------------------------------------------------------ staff import


async def test_the_staff_file_brings_staff_roles_and_teaching_and_matches_the_first_admins_by_email(db: str) -> None:
    await _school_with_roster()
    report = await import_staff_text((DATA / "staff_valid.csv").read_text(encoding="utf-8"), now=NOW)
    assert (report.members, report.created, report.roles_granted, report.teachings_added) == (4, 2, 4, 3)
    anne = await Staff.get(email="anne@ecole.be")
    assert await StaffExternalId.get(staff_id=anne.id).values_list("external_id", flat=True) == "S-001"
    roles = set(await StaffRoleGrant.filter(staff_id=anne.id).values_list("role", flat=True))
    assert roles == {StaffRole.PRINCIPAL, StaffRole.ADMIN}
    marc = await Staff.get(email="marc.dubois@ecole.be")
    b3 = await Group.get(kind=GroupKind.CLASS, code="3B")
    assert await Teaching.filter(staff_id=marc.id, group_id=b3.id, subject="Mathématiques", is_titular=True).exists()
    els = await Staff.get(email="els.peeters@ecole.be")
    assert str(els.language) == "nl"
    lat = await Group.get(kind=GroupKind.COURSE, code="LAT3")
    assert await Teaching.filter(staff_id=els.id, group_id=lat.id).exists()
    assert await AuditEntry.filter(action="staff.role_granted", subject_id=str(marc.id)).count() == 1


async def test_importing_the_same_file_again_changes_nothing(db: str) -> None:
    await _school_with_roster()
    text = (DATA / "staff_valid.csv").read_text(encoding="utf-8")
    await import_staff_text(text, now=NOW)
    before = await _snapshot()
    changes = await AuditEntry.exclude(action="staff.imported").count()
    again = await import_staff_text(text, now=NOW + dt.timedelta(days=1))
    assert not again.changed and "nothing changed" in again.describe()
    assert await _snapshot() == before
    assert await AuditEntry.exclude(action="staff.imported").count() == changes  # no role change was recorded


async def test_a_bad_staff_file_stores_nothing_and_names_every_error_by_line_and_column(db: str) -> None:
    await _school_with_roster()
    before = await _snapshot()
    entries = await AuditEntry.all().count()
    text = "\n".join(
        [
            STAFF_HEADER,
            "S-1,,Lambert,not-an-email,wizard,fr,,,",  # line 2: three problems
            "S-1,Marc,Dubois,marc@ecole.be,teacher,xx,9Z:Maths,,",  # line 3: twice the id, a language, a class
            "S-3,Els,Peeters,Marc@ecole.be,teacher,nl,,NOPE,3B",  # line 4: line 3's email, an unknown course
            "S-4,Paul,Petit,paul@ecole.be,secretary,fr,3B,,",  # line 5: teaches without the teacher role
        ]
    )
    with pytest.raises(StaffImportError) as caught:
        await import_staff_text(text, now=NOW)
    found = [(e.line, e.column) for e in caught.value.errors]
    assert found == [
        (2, "first_name"),
        (2, "email"),
        (2, "roles"),
        (3, "staff_id"),
        (3, "language"),
        (3, "classes"),
        (4, "email"),
        (4, "courses"),
        (5, "roles"),
    ]
    assert 'the school has no class "9Z"' in caught.value.describe()
    assert "nothing was stored: 9 errors" in caught.value.describe()
    assert await _snapshot() == before and await AuditEntry.all().count() == entries


def test_a_file_without_its_columns_is_refused_at_the_header() -> None:
    with pytest.raises(StaffImportError) as caught:
        parse_staff("staff_id,first_name\nS-1,Anne\n")
    assert [(e.line, e.column) for e in caught.value.errors] == [(1, "last_name"), (1, "email"), (1, "roles")]


async def test_staff_missing_from_a_new_years_file_are_deactivated_never_deleted(db: str) -> None:
    await _school_with_roster()
    await import_staff_text((DATA / "staff_valid.csv").read_text(encoding="utf-8"), now=NOW)
    els = await Staff.get(email="els.peeters@ecole.be")
    await WebSession.create(
        token_hash="x" * 64,
        actor_kind="staff",
        staff_id=els.id,
        csrf_token="c",
        created_at=NOW,
        last_seen_at=NOW,
        expires_at=NOW + dt.timedelta(hours=1),
    )
    next_year = "\n".join(
        line for line in (DATA / "staff_valid.csv").read_text(encoding="utf-8").splitlines() if "S-003" not in line
    )
    report = await import_staff_text(next_year, now=NOW + dt.timedelta(days=365))
    assert report.deactivated == 1
    els = await Staff.get(id=els.id)  # still there, with their teaching: the history stays
    assert not els.active and await Teaching.filter(staff_id=els.id).exists()
    assert await WebSession.filter(staff_id=els.id, revoked_at__isnull=True).count() == 0
    assert await AuditEntry.filter(action="staff.deactivated", subject_id=str(els.id)).count() == 1
    back = await import_staff_text((DATA / "staff_valid.csv").read_text(encoding="utf-8"), now=NOW)
    assert back.reactivated == 1 and (await Staff.get(id=els.id)).active


# ------------------------------------------------------------------------------------ the last two administrators


async def test_an_import_that_would_leave_fewer_than_two_administrators_is_refused(db: str) -> None:
    await _school_with_roster()
    await import_staff_text((DATA / "staff_valid.csv").read_text(encoding="utf-8"), now=NOW)
    before = await _snapshot()
    demoting = (DATA / "staff_valid.csv").read_text(encoding="utf-8").replace("secrétaire|admin", "secretary")
    with pytest.raises(StaffImportError, match="would keep 1 administrator"):
        await import_staff_text(demoting, now=NOW)
    leaving = "\n".join(
        line for line in (DATA / "staff_valid.csv").read_text(encoding="utf-8").splitlines() if "S-004" not in line
    )
    with pytest.raises(StaffImportError, match="would keep 1 administrator"):
        await import_staff_text(leaving, now=NOW)
    assert await _snapshot() == before


async def test_the_settings_refuse_to_demote_or_deactivate_one_of_the_last_two_administrators(db: str) -> None:
    result = await school_setup.init_school(SCHOOL, ADMINS, now=NOW)
    anne, sophie = (first.staff for first in result.admins)
    with pytest.raises(settings_admin.SettingsError) as demoted:
        await settings_admin.set_role(anne.school_id, sophie.id, "admin", granted=False, by=anne, at=NOW)
    assert demoted.value.problem == "two_admins"
    with pytest.raises(settings_admin.SettingsError) as removed:
        await settings_admin.set_active(anne.school_id, sophie.id, active=False, by=anne, at=NOW)
    assert removed.value.problem == "two_admins"
    assert await school_setup.admin_count(anne.school_id) == 2
    assert await AuditEntry.filter(action__in=["staff.role_revoked", "staff.deactivated"]).count() == 0


# -------------------------------------------------------------------------------------------- access recovery


async def test_recovery_makes_a_member_administrator_gives_a_link_and_is_audited_once(db: str) -> None:
    await _school_with_roster()
    await import_staff_text((DATA / "staff_valid.csv").read_text(encoding="utf-8"), now=NOW)
    marc = await Staff.get(email="marc.dubois@ecole.be")
    recovery = await school_setup.recover_access(" Marc.Dubois@ecole.be ", now=NOW)
    assert recovery.promoted and recovery.staff.id == marc.id
    assert await StaffRoleGrant.filter(staff_id=marc.id, role=StaffRole.ADMIN).exists()
    assert await AuditEntry.filter(action=school_setup.RECOVERED, subject_id=str(marc.id)).count() == 1
    assert await _admin_grants(marc.id) == 1
    link = await school_setup.consume_staff_link(recovery.token, NOW + dt.timedelta(hours=23))
    assert link is not None and link.staff_id == marc.id

    anne = await Staff.get(email="anne@ecole.be")
    (notice,) = await school_setup.unseen_recoveries(anne.id)
    assert notice.name == "Marc Dubois" and notice.promoted
    assert await school_setup.unseen_recoveries((await Staff.get(email="els.peeters@ecole.be")).id) == []
    assert await school_setup.mark_recoveries_seen(anne.id, [notice.entry_id, 999_999], now=NOW) == 1
    assert await school_setup.unseen_recoveries(anne.id) == []
    assert await AdminNoticeSeen.filter(staff_id=anne.id).count() == 1
    sophie = await Staff.get(email="sophie@ecole.be")
    assert len(await school_setup.unseen_recoveries(sophie.id)) == 1  # each administrator sees it once


async def test_recovery_of_an_administrator_adds_no_role_and_unknown_or_departed_members_are_refused(db: str) -> None:
    result = await school_setup.init_school(SCHOOL, ADMINS, now=NOW)
    again = await school_setup.recover_access("anne@ecole.be", now=NOW)
    assert not again.promoted
    assert await AuditEntry.filter(action="staff.role_granted").count() == 2  # the two of init, no more
    with pytest.raises(school_setup.RecoveryError, match="no member of staff"):
        await school_setup.recover_access("nobody@ecole.be", now=NOW)
    await Staff.filter(id=result.admins[1].staff.id).update(active=False)
    with pytest.raises(school_setup.RecoveryError, match="deactivated"):
        await school_setup.recover_access("sophie@ecole.be", now=NOW)
    assert await AuditEntry.filter(action=school_setup.RECOVERED).count() == 1


# ------------------------------------------------------------------------------------------------ the command


def _carnet(tmp_path: Path, *args: str, answers: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARNET_")}
    env.update(CARNET_DATA_DIR=str(tmp_path), CARNET_DATABASE_URL=f"sqlite://{tmp_path / 'c.sqlite3'}")
    return subprocess.run(
        [sys.executable, "-m", "hub", *args], env=env, input=answers, capture_output=True, text=True, timeout=120
    )


def test_school_init_asks_its_questions_and_refuses_bad_answers_with_nothing_created(tmp_path: Path) -> None:
    wrong = "\n".join(
        ["", "Mars/Olympus", "xx", "Rue 1", "Julie", "not-an-email", "Anne", "L", "a@e.be", "S", "M", "a@e.be"]
    )
    refused = _carnet(tmp_path, "school", "init", "--interactive", answers=wrong + "\n")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    for problem in ("name: is required", "timezone:", "language:", "dpo_email:", "admin2_email:"):
        assert problem in refused.stderr
    answers = ["Athénée de Namur", "", "nl", "Rue 1, Namur", "Julie Renard", "dpo@ecole.be"]
    answers += ["Anne", "Lambert", "anne@ecole.be", "Sophie", "Martin", "sophie@ecole.be"]
    done = _carnet(tmp_path, "school", "init", "--interactive", answers="\n".join(answers) + "\n")
    assert done.returncode == 0, done.stderr
    assert "School name" in done.stdout and "Time zone [Europe/Brussels]" in done.stdout
    assert "school created: Athénée de Namur (Europe/Brussels, nl)" in done.stdout
    assert done.stdout.count("/staff/s/") == 2
    again = _carnet(tmp_path, "school", "init", "--no-input", "--name", "X")
    assert again.returncode == 2 and "already holds a school" in again.stderr
    missing = _carnet(tmp_path, "import-staff", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "is not a file" in missing.stderr
