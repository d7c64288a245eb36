"""Taking the register in Chromium: the demo teacher opens 3A, marks one pupil absent and one late from the
keyboard, saves; the page is checked with axe-core, on a phone, on a desktop and at 360 pixels wide."""

from __future__ import annotations

import functools

import pytest
from playwright.sync_api import Page, expect

from hub.demo.school import STAFF_DOMAIN
from hub.enums import GroupKind
from hub.people.models import Group, Membership, Pupil
from hub.records.models import Absence, Register
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer


async def _marks(period: int) -> dict[str, tuple[bool, int | None]]:
    """``{pupil "Last First": (late, message id)}`` of the 3A register of ``period``."""
    group = await Group.get(kind=GroupKind.CLASS, code="3A")
    register = await Register.get(group_id=group.id, period=period)
    found = {}
    for absence in await Absence.filter(register_id=register.id):
        pupil = await Pupil.get(id=absence.pupil_id)
        found[f"{pupil.last_name} {pupil.first_name}"] = (absence.late, absence.message_id)
    return found


async def _first_two() -> list[str]:
    group = await Group.get(kind=GroupKind.CLASS, code="3A")
    ids = await Membership.filter(group_id=group.id, pupil__active=True).values_list("pupil_id", flat=True)
    pupils = await Pupil.filter(id__in=list(ids)).order_by("last_name", "first_name", "id").limit(2)
    return [f"{p.last_name} {p.first_name}" for p in pupils]


async def _name_of_3a() -> str:
    return (await Group.get(kind=GroupKind.CLASS, code="3A")).name


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(f"prof.demo@{STAFF_DOMAIN}")
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def _fits(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize(("viewport", "period"), [("phone", 3), ("desktop", 4)])
def test_the_teacher_takes_the_register_of_3a(page: Page, live_server: LiveServer, viewport: str, period: int) -> None:
    _sign_in(page)
    page.get_by_role("link", name="Absences").click()
    name = live_server.run(_name_of_3a)
    page.get_by_label("Classe ou cours").select_option(label=name)
    page.get_by_label("Période").select_option(str(period))
    assert_accessible(page, f"absences-{viewport}")
    page.get_by_role("button", name="Prendre les présences").click()
    expect(page.get_by_role("heading", name=f"Présences de {name}")).to_be_visible()
    assert_accessible(page, f"register-{viewport}")

    first, second = live_server.run(_first_two)
    # From the keyboard: A on the first pupil marks them absent and moves on; L marks the second late.
    page.get_by_role("group", name=first).get_by_label("Présent").focus()
    page.keyboard.press("a")
    page.keyboard.press("l")
    expect(page.get_by_role("group", name=first).get_by_label("Absent")).to_be_checked()
    expect(page.get_by_role("group", name=second).get_by_label("En retard")).to_be_checked()
    page.get_by_role("button", name="Enregistrer les présences").click()
    expect(page.get_by_role("status")).to_contain_text("1 absent(s), 1 en retard")
    assert_accessible(page, f"register-saved-{viewport}")

    marks = live_server.run(functools.partial(_marks, period))
    assert set(marks) == {first, second}
    assert marks[first][0] is False and marks[first][1] is not None  # absent: the family's notice exists
    assert marks[second] == (True, None)  # late: no notice

    # On a 360-pixel phone the whole class fits the width: nothing scrolls sideways.
    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    expect(page.get_by_role("group", name=first).get_by_label("Absent")).to_be_checked()
    assert _fits(page)
    assert_accessible(page, f"register-360-{viewport}")
