"""Issue 13: the staff import's problems are said in the reader's language: the admin page through its catalogue
(admin.po, fr and nl), the CLI in the school's language or English."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from hub.people import staff_import
from hub.people.staff_import import StaffImportError, describe_errors, issue_text, parse_staff

ROOT = Path(__file__).resolve().parents[2]
BAD = "staff_id,first_name,last_name,email,roles,language\nS-1,,X,nope,wizard,xx\nS-1,Ann,Y,a@b.be,teacher,fr\n"
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _templates() -> set[str]:
    """Every problem's words the staff import writes (the third argument of each ``_issue(...)`` call)."""
    tree = ast.parse(Path(staff_import.__file__).read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_issue":
            template = node.args[2]
            assert isinstance(template, ast.Constant) and isinstance(template.value, str), ast.dump(node)
            found.add(template.value)
    return found


@pytest.mark.parametrize("lang", ["fr", "nl"])
def test_every_problem_of_the_staff_import_is_in_the_admin_catalogue(lang: str) -> None:
    templates = _templates()
    assert len(templates) >= 20
    with (ROOT / "hub" / "locale" / lang / "LC_MESSAGES" / "admin.po").open("rb") as po:
        catalog = read_po(po, locale=lang)
    for template in templates:
        entry = catalog.get(template)
        assert entry is not None and entry.string, f"{lang}: {template!r} is not translated"
        assert set(_PLACEHOLDER.findall(entry.string)) == set(_PLACEHOLDER.findall(template)), template


def test_the_cli_says_the_problems_in_the_school_s_language_or_english() -> None:
    with pytest.raises(StaffImportError) as refused:
        parse_staff(BAD)
    errors = refused.value.errors
    english = describe_errors(errors, "en")
    assert english == refused.value.describe()  # English: the words as they always were
    assert "line 2, column first_name: is empty but required" in english
    french = describe_errors(errors, "fr")
    assert french.startswith("le fichier du personnel n’a pas été importé, rien n’a été enregistré : 5 erreurs")
    assert "ligne 2, colonne first_name: est vide mais obligatoire" in french
    assert "ligne 2, colonne email: « nope » n’est pas une adresse e-mail valide" in french
    assert "ligne 3, colonne staff_id: S-1 figure déjà à la ligne 2" in french
    assert "« wizard » n’est pas un rôle (enseignant, secrétariat, direction, administrateur)" in french
    dutch = describe_errors(errors, "nl")
    assert "regel 2, kolom first_name: is leeg maar verplicht" in dutch and "5 fouten" in dutch
    assert describe_errors(errors, "de") == english  # a language the product does not speak: English


def test_issue_text_translates_a_staff_problem_and_keeps_its_values() -> None:
    with pytest.raises(StaffImportError) as refused:
        parse_staff("staff_id,first_name,last_name,email,roles\nS-1," + "A" * 101 + ",X,a@b.be,teacher\n")
    (issue,) = refused.value.errors
    words = {
        "is %(length)s characters long, at most %(limit)s are allowed": "compte %(length)s caractères (max %(limit)s)"
    }
    assert issue_text(issue, lambda s: words.get(s, s)) == "compte 101 caractères (max 100)"
    assert issue_text(issue, lambda s: s) == issue.message == "is 101 characters long, at most 100 are allowed"
