"""The office's page of pupils' accounts: a class's pupils and their state, an account given (the enrolment number
by default), a one-time password and a personal link the pupil then signs in with, the account revoked; audited;
a teacher may not; another school's pupil or a bad action is refused."""

from __future__ import annotations

import re

from hub.demo.school import STAFF_DOMAIN
from hub.enums import GroupKind
from hub.people.models import Group, Membership, Pupil, PupilAccount
from hub.store.audit import AuditEntry
from tests.web.conftest import Site

_PASSWORD = re.compile(r"<dt>[^<]*</dt><dd><code>([^<]+)</code></dd>\s*<dt>[^<]*</dt><dd><code>([^<]+)</code></dd>")
_LINK = re.compile(r"<code>http://testserver(/p/[^<]+)</code>")


async def _a_pupil_of_a_class() -> tuple[int, int, str]:
    group = await Group.filter(kind=GroupKind.CLASS).order_by("id").first()
    assert group is not None
    membership = await Membership.filter(group_id=group.id, pupil__active=True).order_by("pupil_id").first()
    assert membership is not None
    pupil = await Pupil.get(id=membership.pupil_id)
    return group.id, pupil.id, pupil.external_id


async def _audits(action: str, pupil_id: int) -> int:
    return await AuditEntry.filter(action=action, subject_type="pupil", subject_id=str(pupil_id)).count()


def _pupil_home(site: Site) -> int:
    return int(site.client.get("/pupil", follow_redirects=False).status_code)


def test_the_office_gives_a_pupil_an_account_and_the_pupil_signs_in_with_it(site: Site) -> None:
    group_id, pupil_id, enrolment = site.run(_a_pupil_of_a_class)
    page = f"/staff/pupil-accounts/{group_id}"
    action = f"{page}/{pupil_id}"
    assert 'href="/pupil/signin"' in site.client.get("/").text  # the landing page leads pupils to sign in
    site.login_staff(f"prof.demo@{STAFF_DOMAIN}")
    assert site.client.get(page, follow_redirects=False).status_code == 403
    site.login_staff(f"secretariat@{STAFF_DOMAIN}")
    assert f'href="{page}"' in site.client.get("/staff/pupil-accounts").text
    assert enrolment in site.client.get(page).text

    # The demo gave accounts: revoke this one, then give it again with the enrolment number as login.
    assert site.post(action, {"action": "revoke"}, form_page=page).status_code == 303
    assert site.run(lambda: PupilAccount.filter(pupil_id=pupil_id).exists()) is False
    assert site.post(action, {"action": "give", "login": ""}, form_page=page).status_code == 303
    account = site.run(lambda: PupilAccount.get(pupil_id=pupil_id))
    assert account.login == enrolment.lower() and account.password_hash == ""

    shown = site.post(action, {"action": "password"}, form_page=page)
    assert shown.status_code == 200
    found = _PASSWORD.search(shown.text)
    assert found, shown.text
    login, password = found.group(1), found.group(2)
    assert login == enrolment.lower() and len(password) >= 10
    staff_cookies = dict(site.client.cookies)

    site.logout()
    signed = site.post("/pupil/signin", {"login": login, "password": password}, form_page="/pupil/signin")
    assert signed.status_code == 303 and _pupil_home(site) == 200

    # A personal link, handed out: it signs the pupil in once.
    site.client.cookies.clear()
    site.client.cookies.update(staff_cookies)
    linked = site.post(action, {"action": "link"}, form_page=page)
    assert linked.status_code == 200
    path = _LINK.search(linked.text)
    assert path, linked.text
    site.logout()
    assert site.post(path.group(1), form_page=path.group(1)).status_code == 303 and _pupil_home(site) == 200
    site.logout()
    assert site.post(path.group(1), form_page=path.group(1)).status_code == 410

    # Revoked: the password no longer signs in.
    site.client.cookies.clear()
    site.client.cookies.update(staff_cookies)
    assert site.post(action, {"action": "revoke"}, form_page=page).status_code == 303
    site.logout()
    refused = site.post("/pupil/signin", {"login": login, "password": password}, form_page="/pupil/signin")
    assert refused.status_code == 401
    for name in ("created", "password", "link"):
        assert site.run(_audits, f"pupil_account.{name}", pupil_id) == 1, name
    assert site.run(_audits, "pupil_account.revoked", pupil_id) == 2


def test_bad_requests_on_the_pupil_accounts_page_are_refused_and_change_nothing(site: Site) -> None:
    group_id, pupil_id, _enrolment = site.run(_a_pupil_of_a_class)
    page = f"/staff/pupil-accounts/{group_id}"

    async def other_pupil() -> int:
        outside = await Pupil.filter(active=True).exclude(memberships__group_id=group_id).order_by("id").first()
        assert outside is not None
        return outside.id

    async def taken_login() -> str:
        other = await PupilAccount.exclude(pupil_id=pupil_id).order_by("id").first()
        assert other is not None
        return other.login

    outsider, taken = site.run(other_pupil), site.run(taken_login)
    before = site.run(lambda: PupilAccount.all().count())
    site.login_staff(f"direction@{STAFF_DOMAIN}")
    assert site.client.get("/staff/pupil-accounts/999999").status_code == 404
    assert site.post(f"{page}/{pupil_id}", {"action": "erase"}, form_page=page).status_code == 400
    assert site.post(f"{page}/{outsider}", {"action": "password"}, form_page=page).status_code == 404
    assert site.post(f"{page}/{pupil_id}", {"action": "revoke"}, form_page=page).status_code == 303
    taken_refused = site.post(f"{page}/{pupil_id}", {"action": "give", "login": taken}, form_page=page)
    assert taken_refused.status_code == 400 and 'role="alert"' in taken_refused.text
    too_long = site.post(f"{page}/{pupil_id}", {"action": "give", "login": "x" * 150}, form_page=page)
    assert too_long.status_code == 400
    assert site.run(lambda: PupilAccount.all().count()) == before - 1
    assert site.client.post(f"{page}/{pupil_id}", data={"action": "link"}, follow_redirects=False).status_code == 403
