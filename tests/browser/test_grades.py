"""Entering a class's grades in Chromium, on a 360-pixel-wide phone and on a desktop: the demo teacher creates an
evaluation for 3A, types the scores from the keyboard (Enter goes to the next pupil), is told of a score off the
scale without anything saved, saves and publishes; each page checked with axe-core and photographed."""

from __future__ import annotations

import functools

import pytest
from playwright.sync_api import Page, expect

from hub.demo.school import STAFF_DOMAIN
from hub.enums import GroupKind
from hub.people.models import Group, Membership, Staff, Teaching
from hub.records.models import Evaluation, Grade
from hub.store.db import ids_of
from hub.testing.browser import assert_accessible
from hub.testing.liveserver import LiveServer

TEACHER = f"prof.demo@{STAFF_DOMAIN}"


async def _class_3a() -> tuple[int, str, int]:
    """3A's id, the subject the demo teacher teaches there, and its number of pupils."""
    teacher = await Staff.get(email=TEACHER)
    group = await Group.get(kind=GroupKind.CLASS, code="3A")
    subject = await Teaching.filter(staff_id=teacher.id, group_id=group.id).values_list("subject", flat=True)
    return group.id, str(subject[0]), len(await ids_of(Membership.filter(group_id=group.id), "pupil_id"))


def _sign_in(page: Page) -> None:
    page.goto("/login")
    page.get_by_label("Adresse e-mail", exact=True).fill(TEACHER)
    page.get_by_label("Mot de passe").fill("demo")
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def _fits(page: Page) -> None:
    """Nothing wider than the screen: no sideways scrolling on a phone."""
    width = page.evaluate("document.documentElement.scrollWidth")
    size = page.viewport_size
    assert size is not None and width <= size["width"], width


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_the_teacher_enters_a_classs_grades(page: Page, live_server: LiveServer, viewport: str) -> None:
    group_id, subject, pupils = live_server.run(_class_3a)
    if viewport == "phone":
        page.set_viewport_size({"width": 360, "height": 740})
    title = f"Interro navigateur {viewport}"
    _sign_in(page)
    page.get_by_role("link", name="Notes").first.click()
    expect(page.get_by_role("heading", name="Nouvelle évaluation")).to_be_visible()
    _fits(page)
    assert_accessible(page, f"grades-index-{viewport}")
    page.get_by_label("Classe ou cours").select_option(str(group_id))
    page.get_by_label("Matière", exact=True).fill(subject)
    page.get_by_label("Titre").fill(title)
    page.get_by_label("Date").fill("2026-12-07")
    page.get_by_role("button", name="Créer et encoder les notes").click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    scores = page.locator("input.score")
    expect(scores).to_have_count(pupils)
    _fits(page)
    assert_accessible(page, f"grades-sheet-{viewport}")

    # The keyboard: type a score, Enter to the next pupil.
    scores.nth(0).click()
    page.keyboard.type("15,5")
    page.keyboard.press("Enter")
    page.keyboard.type("24")  # off the scale
    page.keyboard.press("Enter")
    page.keyboard.type("12")
    expect(scores.nth(2)).to_be_focused()
    page.get_by_role("button", name="Enregistrer les notes").click()
    expect(page.get_by_role("alert")).to_contain_text("Rien n’a été enregistré")
    expect(scores.nth(1)).to_have_attribute("aria-invalid", "true")
    expect(scores.nth(0)).to_have_value("15,5")  # what was typed is kept
    assert_accessible(page, f"grades-sheet-error-{viewport}")
    evaluation = live_server.run(functools.partial(_evaluation, title))
    assert live_server.run(functools.partial(_grades, evaluation)) == 0

    scores.nth(1).fill("14")
    page.get_by_role("button", name="Enregistrer les notes").click()
    expect(page.get_by_role("status")).to_contain_text("Les notes sont enregistrées")
    assert live_server.run(functools.partial(_grades, evaluation)) == 3
    page.get_by_role("button", name="Publier", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("L’évaluation est publiée")
    assert live_server.run(functools.partial(_grades, evaluation, published=True)) == 3


async def _evaluation(title: str) -> int:
    return (await Evaluation.get(title=title)).id


async def _grades(evaluation: int, *, published: bool = False) -> int:
    query = Grade.filter(evaluation_id=evaluation)
    return await (query.filter(published_at__isnull=False) if published else query).count()
