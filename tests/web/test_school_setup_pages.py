"""The pages of a real school's setting up, on a school set up as a real one is (``school init``, the roster, the
staff file) rather than the demo: staff sign-in by link, the staff import page, the recovery banner, the
two-administrator rule on the settings page, the audit page and what it records."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import clock
from hub.config import Settings
from hub.enums import GroupKind, StaffRole
from hub.people import school_setup
from hub.people.models import Group, Membership, Staff, StaffRoleGrant
from hub.people.roster import import_roster
from hub.people.staff_import import import_staff_text
from hub.store.audit import AuditEntry
from tests.web.conftest import Site, _serve

DATA = Path(__file__).parent.parent / "data"
SCHOOL = school_setup.SchoolIn(
    name="Athénée Royal de Namur",
    address="Rue de Bruxelles 1, 5000 Namur",
    dpo_name="Julie Renard",
    dpo_email="dpo@ecole.be",
)
ADMINS = [
    school_setup.AdminIn("Anne", "Lambert", "anne@ecole.be"),
    school_setup.AdminIn("Sophie", "Martin", "sophie@ecole.be"),
]


async def _set_up() -> None:
    now = clock.now()
    await school_setup.init_school(SCHOOL, ADMINS, now=now)
    await import_roster(DATA / "roster_valid.csv", now=now)
    await import_staff_text((DATA / "staff_valid.csv").read_text(encoding="utf-8"), now=now)


@pytest.fixture
def school_site(db_url: str, tmp_path: Path) -> Iterator[Site]:
    """The app over a fresh database holding a school set up as a real one: init, roster, staff file."""
    for site in _serve(Settings(data_dir=tmp_path, database_url=db_url, base_url="http://testserver")):
        site.run(_set_up)
        yield site


def _sign_in(site: Site, email: str) -> None:
    """Sign in as this member of staff through a real one-time link (the page's button, a POST)."""
    site.client.cookies.clear()

    async def link() -> str:
        member = await Staff.get(email=email)
        return await school_setup.create_staff_link(member.id, clock.now(), "sign_in")

    token = site.run(link)
    page = site.client.get(f"/staff/s/{token}")
    assert page.status_code == 200 and 'action="/staff/s/' in page.text
    response = site.post(f"/staff/s/{token}", form_page=f"/staff/s/{token}")
    assert response.status_code == 303 and response.headers["location"] == "/staff", response.text


def _entries(site: Site, action: str, **filters: Any) -> int:
    return site.run(lambda: AuditEntry.filter(action=action, **filters).count())


def _id_of(site: Site, email: str) -> int:
    async def find() -> int:
        return (await Staff.get(email=email)).id

    return site.run(find)


# -------------------------------------------------------------------------------------------- staff links


def test_a_staff_link_signs_in_once_and_a_bad_or_used_one_is_refused_without_error(school_site: Site) -> None:
    site = school_site
    _sign_in(site, "marc.dubois@ecole.be")
    assert "Marc Dubois" in site.client.get("/staff").text
    assert _entries(site, "staff.login", actor_id=_id_of(site, "marc.dubois@ecole.be")) == 1
    site.client.cookies.clear()
    for token in ("nope", "x" * 300, "%00"):
        assert site.client.get(f"/staff/s/{token}").status_code == 410
        assert site.post(f"/staff/s/{token}", form_page="/login").status_code == 410


def test_asking_for_a_link_answers_the_same_for_any_address(school_site: Site) -> None:
    site = school_site
    answers = []
    for address in ("marc.dubois@ecole.be", "nobody@ecole.be"):
        response = site.post("/login/link?lang=en", {"email": address}, form_page="/login")
        assert response.status_code == 200 and "a sign-in link is on its way" in response.text
        answers.append(response.text.replace(address, "ADDRESS"))
    assert answers[0] == answers[1]  # nothing tells who is on the staff
    assert site.post("/login/link", {"email": ""}, form_page="/login").status_code == 400


# ----------------------------------------------------------------------------------------- the import page


def test_the_import_page_names_every_error_and_stores_nothing_then_imports(school_site: Site) -> None:
    site = school_site
    _sign_in(site, "anne@ecole.be")

    async def staff_rows() -> list[Any]:
        return sorted(await Staff.all().values_list("email", "active"))

    before = site.run(staff_rows)
    bad = b"staff_id,first_name,last_name,email,roles,classes\nS-9,,X,bad,teacher,9Z\n"
    response = site.post(
        "/staff/admin/staff-import?lang=en",
        form_page="/staff/admin/staff-import",
        files={"file": ("s.csv", bad, "text/csv")},
    )
    assert response.status_code == 400
    for column in ("first_name", "email", "classes"):
        assert f"<td>2</td><td>{column}</td>" in response.text
    assert "nothing was stored: 3 errors" in response.text
    assert site.run(staff_rows) == before
    not_utf8 = "staff_id;first_name\nS-1;Élodie\n".encode("latin-1")
    refused = site.post(
        "/staff/admin/staff-import", form_page="/staff/admin/staff-import", files={"file": ("s.csv", not_utf8)}
    )
    assert refused.status_code == 400 and "UTF-8" in refused.text
    assert site.post("/staff/admin/staff-import", form_page="/staff/admin/staff-import").status_code == 400

    good = (DATA / "staff_valid.csv").read_bytes() + b"S-005,Paul,Petit,paul.petit@ecole.be,teacher,fr,3C,,\n"
    done = site.post(
        "/staff/admin/staff-import?lang=en", form_page="/staff/admin/staff-import", files={"file": ("s.csv", good)}
    )
    assert done.status_code == 200 and "The file is imported." in done.text
    assert site.run(lambda: Staff.filter(email="paul.petit@ecole.be", active=True).exists())


def test_the_import_page_is_for_administrators_only(school_site: Site) -> None:
    site = school_site
    _sign_in(site, "marc.dubois@ecole.be")
    assert site.client.get("/staff/admin/staff-import").status_code == 403


# ------------------------------------------------------------------------------ recovery and the two admins


def test_a_recovery_is_shown_to_every_administrator_until_each_has_seen_it(school_site: Site) -> None:
    site = school_site
    site.run(lambda: school_setup.recover_access("els.peeters@ecole.be", now=clock.now()))
    banner = "Access to the school was recovered by the server"
    _sign_in(site, "anne@ecole.be")
    home = site.client.get("/staff?lang=en")
    assert banner in home.text and "Els Peeters was made administrator" in home.text
    assert banner in site.client.get("/staff/messages?lang=en").text  # on every page until seen
    seen = site.post(
        "/staff/admin/recoveries/seen", {"entry": [_recovery_id(site)], "next": "/staff"}, form_page="/staff"
    )
    assert seen.status_code == 303
    assert banner not in site.client.get("/staff?lang=en").text
    _sign_in(site, "sophie@ecole.be")
    assert banner in site.client.get("/staff?lang=en").text  # the other administrator has not seen it yet
    _sign_in(site, "marc.dubois@ecole.be")
    assert banner not in site.client.get("/staff?lang=en").text  # a teacher is not an administrator


def _recovery_id(site: Site) -> int:
    async def find() -> int:
        return (await AuditEntry.get(action=school_setup.RECOVERED)).id

    return site.run(find)


def test_the_settings_page_refuses_to_demote_or_deactivate_one_of_the_last_two_admins(school_site: Site) -> None:
    site = school_site
    _sign_in(site, "anne@ecole.be")
    sophie = _id_of(site, "sophie@ecole.be")
    demote = site.post(
        f"/staff/settings/staff/{sophie}/roles", {"role": "admin", "action": "revoke"}, form_page="/staff/settings"
    )
    assert demote.status_code == 400
    leave = site.post(f"/staff/settings/staff/{sophie}/active", {"active": "0"}, form_page="/staff/settings")
    assert leave.status_code == 400
    assert site.run(lambda: StaffRoleGrant.filter(role=StaffRole.ADMIN, staff_id=sophie, staff__active=True).exists())
    assert _entries(site, "staff.role_revoked") == 0 and _entries(site, "staff.deactivated") == 0
    # With a third administrator, one of them may go: the rule is about the last two.
    marc = _id_of(site, "marc.dubois@ecole.be")
    grant = site.post(
        f"/staff/settings/staff/{marc}/roles", {"role": "admin", "action": "grant"}, form_page="/staff/settings"
    )
    assert grant.status_code == 303
    assert _entries(site, "staff.role_granted", subject_id=str(marc), actor_id=_id_of(site, "anne@ecole.be")) == 1
    assert (
        site.post(
            f"/staff/settings/staff/{sophie}/roles", {"role": "admin", "action": "revoke"}, form_page="/staff/settings"
        ).status_code
        == 303
    )
    assert _entries(site, "staff.role_revoked", subject_id=str(sophie)) == 1


# -------------------------------------------------------------------------------------------------- audit


def _class_3b(site: Site) -> tuple[int, int]:
    async def find() -> tuple[int, int]:
        group = await Group.get(kind=GroupKind.CLASS, code="3B")
        pupil = await Membership.filter(group_id=group.id).order_by("pupil_id").first()
        assert pupil is not None
        return group.id, pupil.pupil_id

    return site.run(find)


def test_each_audited_action_leaves_exactly_one_entry(school_site: Site, at_school_hours: dt.datetime) -> None:
    site = school_site
    group, pupil = _class_3b(site)
    marc = _id_of(site, "marc.dubois@ecole.be")
    _sign_in(site, "marc.dubois@ecole.be")
    # a staff read of a pupil's file and of each of their records
    for part in ("", "/grades", "/absences", "/journal", "/report-cards"):
        assert site.client.get(f"/api/v1/pupils/{pupil}{part}").status_code == 200
    reads = site.run(lambda: AuditEntry.filter(action="pupil.records_read", actor_id=marc, subject_id=str(pupil)).all())
    assert sorted(e.details["what"] for e in reads) == ["absences", "file", "grades", "journal", "report-cards"]
    # a message and its answers as CSV
    form = {"action": "preview", "subject": "Sortie", "body": "Chers parents", "category": "trip", "urgency": "normal"}
    draft = site.post("/staff/compose", {**form, "group": str(group)}, form_page="/staff/compose")
    message = int(draft.headers["location"].split("/")[3])
    assert site.post(f"/staff/compose/{message}/send", form_page=f"/staff/compose/{message}/preview").status_code == 303
    assert site.client.get(f"/staff/messages/{message}/responses.csv").status_code == 200
    assert _entries(site, "export.responses_csv", actor_id=marc, subject_id=str(message)) == 1

    anne = _id_of(site, "anne@ecole.be")
    _sign_in(site, "anne@ecole.be")  # principal and administrator
    assert site.client.get("/staff/report").status_code == 200
    assert _entries(site, "report.viewed", actor_id=anne) == 1
    assert site.client.get("/staff/report.json").status_code == 200
    assert _entries(site, "report.viewed", actor_id=anne) == 2
    assert site.client.get("/staff/report.json?part=funnel").status_code == 200  # the page's own refresh
    assert _entries(site, "report.viewed", actor_id=anne) == 2
    # an emergency
    emergency = {**form, "subject": "Fermeture", "urgency": "emergency", "urgency_reason": "Fuite de gaz"}
    draft = site.post("/staff/compose", {**emergency, "group": str(group)}, form_page="/staff/compose")
    urgent = int(draft.headers["location"].split("/")[3])
    assert site.post(f"/staff/compose/{urgent}/send", form_page=f"/staff/compose/{urgent}/preview").status_code == 303
    assert _entries(site, "message.emergency", subject_id=str(urgent)) == 1
    # the audit log's own export
    assert site.client.get("/staff/audit.csv").status_code == 200
    assert _entries(site, "export.audit_csv", actor_id=anne) == 1
    # a guardian's data export (the GDPR one) is audited where it is made
    assert _entries(site, "guardian.data_exported") == 0


def test_the_audit_page_filters_by_person_and_by_kind_and_exports_what_it_shows(school_site: Site) -> None:
    site = school_site
    _, pupil = _class_3b(site)
    marc, els, anne = (_id_of(site, e) for e in ("marc.dubois@ecole.be", "els.peeters@ecole.be", "anne@ecole.be"))
    _sign_in(site, "marc.dubois@ecole.be")
    assert site.client.get(f"/api/v1/pupils/{pupil}").status_code == 200
    _sign_in(site, "els.peeters@ecole.be")
    site.client.get("/api/v1/groups")
    _sign_in(site, "anne@ecole.be")
    everything = site.client.get("/staff/audit?lang=en")
    assert (
        everything.status_code == 200
        and "pupil.records_read" in everything.text
        and "staff.role_granted" in everything.text
    )

    by_marc = site.client.get(f"/staff/audit?who={marc}&lang=en")
    assert by_marc.status_code == 200
    assert "<code>pupil.records_read</code>" in by_marc.text and "<code>staff.role_granted</code>" not in by_marc.text
    assert by_marc.text.count("<tr data-entry=") == _entries(site, "pupil.records_read", actor_id=marc) + _entries(
        site, "staff.login", actor_id=marc
    )
    by_kind = site.client.get("/staff/audit?what=staff.login&lang=en")
    assert by_kind.text.count("<tr data-entry=") == 3 and "<code>pupil.records_read</code>" not in by_kind.text
    both = site.client.get(f"/staff/audit?what=staff.login&who={els}&lang=en")
    assert both.text.count("<tr data-entry=") == 1 and "Els Peeters" in both.text
    today = clock.now().astimezone(dt.UTC).date()
    later = today + dt.timedelta(days=3)
    assert site.client.get(f"/staff/audit?from={later}&lang=en").text.count("<tr data-entry=") == 0

    exported = site.client.get(f"/staff/audit.csv?who={marc}")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:6] == ["id", "at", "actor_kind", "actor_id", "actor", "action"]
    assert {r[5] for r in rows[1:]} == {"pupil.records_read", "staff.login"}
    assert all(r[4] == "Marc Dubois" for r in rows[1:])
    assert _entries(site, "export.audit_csv", actor_id=anne) == 1

    for bad in ("who=abc", "who=99999999999", "from=2026-13-01", "to=yesterday", "from=2026-12-10&to=2026-12-01"):
        assert site.client.get(f"/staff/audit?{bad}").status_code == 400, bad
        assert site.client.get(f"/staff/audit.csv?{bad}").status_code == 400, bad
    assert site.client.get("/staff/audit?page=abc").status_code == 200

    _sign_in(site, "marc.dubois@ecole.be")
    assert site.client.get("/staff/audit").status_code == 403  # a teacher does not read the log
    assert site.client.get("/staff/audit.csv").status_code == 403
