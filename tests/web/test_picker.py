"""The composer's pupil picker without JavaScript: a search that filters the list (every typed field kept), chosen
pupils as chips that a button removes, and a class labelled by its code everywhere (the browser test drives the
script: tests/browser/test_picker.py)."""

from __future__ import annotations

import re

from hub.enums import GroupKind
from hub.people.models import Group, Membership
from hub.web.picker import build, fold, matches
from tests.web.conftest import Site
from tests.web.test_compose import PRINCIPAL, TEACHER

_ITEM = re.compile(r'<li data-pupil="(\d+)" data-search="([^"]*)"( hidden)?>')
_CHIP = re.compile(r'<li class="chip" data-chip="(\d+)">')


def test_the_search_rule_ignores_case_and_accents_and_matches_word_starts() -> None:
    assert fold("Léa Çelik-Évrard") == "lea celik-evrard"
    assert matches("lea", "Dupont Léa", "3A")
    assert matches("DUP 3a", "Dupont Léa", "3A")
    assert matches("evrard", "Çelik-Évrard Zoé", "5B")  # a part of a double name
    assert matches("", "anyone", "")
    assert not matches("ont", "Dupont Léa", "3A")  # a word's start, not anywhere inside it
    assert not matches("lea 4", "Dupont Léa", "3A")  # every word must match


def test_build_keeps_the_chosen_pupils_shown_whatever_the_search() -> None:
    picker = build([("3A", [(1, "Dupont Léa"), (2, "Martin Hugo")]), ("4B", [(3, "Durand Zoé")])], ["3"], "hugo")
    shown = {item.id: item.shown for item in picker.items}
    assert shown == {1: False, 2: True, 3: True}
    assert [item.id for item in picker.chosen] == [3] and picker.shown == 1
    assert [item.name for item in picker.items] == ["Dupont Léa", "Durand Zoé", "Martin Hugo"]
    assert build([], [], "x" * 500).query == "x" * 100


async def _pupils_by_class() -> dict[str, set[int]]:
    found: dict[str, set[int]] = {}
    for pupil_id, code in await Membership.filter(group__kind=GroupKind.CLASS).values_list("pupil_id", "group__code"):
        found.setdefault(code, set()).add(pupil_id)
    return found


def _items(html: str) -> dict[int, bool]:
    """Pupil id -> shown, as the page lists them."""
    return {int(m.group(1)): not m.group(3) for m in _ITEM.finditer(html)}


def test_the_picker_filters_without_javascript_and_keeps_what_was_typed(site: Site) -> None:
    site.login_staff(TEACHER)
    page = site.client.get("/staff/compose").text
    assert 'name="pupil" multiple' not in page and 'id="pupil-q"' in page
    listed = _items(page)
    assert listed and all(listed.values())  # nothing searched: every pupil the teacher may address
    classes = site.run(_pupils_by_class)
    class_3a = classes["3A"] & set(listed)
    assert class_3a
    other = next(pid for pid in listed if pid not in class_3a)

    csrf = site.csrf("/staff/compose")
    found = site.client.post(
        "/staff/compose",
        data={"csrf_token": csrf, "action": "find_pupils", "pupil_q": "3a", "subject": "Sortie", "pupil": [str(other)]},
    )
    assert found.status_code == 200
    assert 'value="Sortie"' in found.text and 'value="3a"' in found.text  # the typed fields come back
    shown = {pid for pid, visible in _items(found.text).items() if visible}
    assert shown == class_3a | {other}  # the class's pupils and the chosen one
    assert [int(c) for c in _CHIP.findall(found.text)] == [other]
    assert f'value="unpick-{other}"' in found.text
    assert re.search(rf'id="pupil-{other}" name="pupil" value="{other}" checked', found.text)

    removed = site.client.post(
        "/staff/compose",
        data={"csrf_token": csrf, "action": f"unpick-{other}", "pupil_q": "3a", "pupil": [str(other)]},
    )
    assert removed.status_code == 200 and _CHIP.findall(removed.text) == []
    assert {pid for pid, visible in _items(removed.text).items() if visible} == class_3a

    nothing = site.client.post("/staff/compose", data={"csrf_token": csrf, "action": "find_pupils", "pupil_q": "zzzq"})
    assert nothing.status_code == 200 and not any(_items(nothing.text).values())
    assert "Aucun élève trouvé" in nothing.text
    # Words that are not a pupil's id are not choices: the page comes back, nothing is chosen.
    odd = site.client.post(
        "/staff/compose", data={"csrf_token": csrf, "action": "unpick-abc", "pupil": ["-1", "9" * 40]}
    )
    assert odd.status_code == 200 and _CHIP.findall(odd.text) == []


async def _class_names() -> dict[str, str]:
    return dict(await Group.filter(kind=GroupKind.CLASS).values_list("code", "name"))


def test_a_class_reads_as_its_code_on_every_page(site: Site) -> None:
    names = site.run(_class_names)
    assert names["3A"] != "3A"  # the demo names its classes "3e A": the pages say the code
    site.login_staff(PRINCIPAL)
    page = site.client.get("/staff/compose").text
    assert re.search(r'<label class="inline" for="group-\d+">3A</label>', page)
    assert f">{names['3A']}<" not in page and "(3A)" in page
