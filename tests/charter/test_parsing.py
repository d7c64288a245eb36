"""Reading charter files: every mistake is reported with the file, the key and what is wrong."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from charter import CharterError, load_charter, parse_charter
from charter.rules import Window
from hub.enums import Language, StaffRole

VALID = """
[school]
name = "Athénée de test"

[calendar]
extra_days_off = [2026-11-02, { date = 2026-11-03, name = "Journée pédagogique" }]

[[calendar.closed]]
name = "Toussaint"
start = 2026-10-19
end = 2026-10-30

[sending.normal]
monday = ["07:30-20:00"]
tuesday = ["07:30-20:00"]
wednesday = ["07:30-12:30", "14:00-18:00"]
thursday = ["07:30-20:00"]
friday = ["07:30-20:00"]
saturday = []
sunday = []

[sending.urgent]
monday = ["07:00-21:00"]
tuesday = ["07:00-21:00"]
wednesday = ["07:00-21:00"]
thursday = ["07:00-21:00"]
friday = ["07:00-21:00"]
saturday = ["07:00-21:00"]
sunday = ["22:00-02:00"]
holiday = ["09:00-18:00"]

[limits]
max_non_urgent_per_day = 3
release_spread_minutes = 30

[senders]
urgent = ["principal", "admin", "secretary"]
emergency = ["principal", "admin"]

[staff_hours]
monday = ["08:00-17:30"]
tuesday = ["08:00-17:30"]
wednesday = ["08:00-12:30"]
thursday = ["08:00-17:30"]
friday = ["08:00-24:00"]
saturday = []
sunday = []
reply_expected_within_days = 2
"""


def broken(old: str, new: str) -> str:
    assert old in VALID, old
    return VALID.replace(old, new, 1)


def problems_of(text: str, source: str = "ecole.toml") -> CharterError:
    with pytest.raises(CharterError) as caught:
        parse_charter(text, source=source)
    return caught.value


def test_valid_charter_and_defaults() -> None:
    charter = parse_charter(VALID, source="ecole.toml")
    assert charter.name == "Athénée de test"
    assert charter.timezone == "Europe/Brussels" and charter.country == "BE"
    assert charter.language is Language.FR
    assert charter.normal.days[2] == (Window(450, 750), Window(840, 1080))
    assert charter.normal.holiday == ()
    assert charter.urgent.days[6] == (Window(1320, 120),) and charter.urgent.days[6][0].crosses_midnight
    assert charter.staff.days[4] == (Window(480, 1440),) and not charter.staff.days[4][0].crosses_midnight
    assert charter.school_weekdays == frozenset(range(5))
    assert [d.day for d in charter.extra_days_off] == [date(2026, 11, 2), date(2026, 11, 3)]
    assert charter.extra_days_off[1].name == "Journée pédagogique"
    assert charter.normal_senders == frozenset(StaffRole)
    assert charter.emergency_senders == {StaffRole.PRINCIPAL, StaffRole.ADMIN}
    assert charter.document.title == "Charte de communication — Athénée de test"
    assert charter.source == "ecole.toml"


@pytest.mark.parametrize(
    ("old", "new", "key", "what"),
    [
        (
            'monday = ["07:30-20:00"]',
            'monday = ["25:00-20:00"]',
            "sending.normal.monday[0]",
            "bad time '25:00'",
        ),
        (
            'monday = ["07:30-20:00"]',
            'monday = ["07:30-20:60"]',
            "sending.normal.monday[0]",
            "bad time '20:60'",
        ),
        (
            'monday = ["07:30-20:00"]',
            'monday = ["24:00-02:00"]',
            "sending.normal.monday[0]",
            "bad time '24:00'",
        ),
        ('monday = ["07:30-20:00"]', 'monday = ["8h-20h"]', "sending.normal.monday[0]", "bad time '8h'"),
        ('monday = ["07:30-20:00"]', 'monday = ["07:30 à 20:00"]', "sending.normal.monday[0]", "bad window"),
        ('monday = ["07:30-20:00"]', 'monday = ["08:00-08:00"]', "sending.normal.monday[0]", "empty window"),
        ('monday = ["07:30-20:00"]', "monday = [730]", "sending.normal.monday[0]", "as a string"),
        ('monday = ["07:30-20:00"]', 'monday = "07:30-20:00"', "sending.normal.monday", "list of windows"),
        ('monday = ["07:30-20:00"]', 'lundi = ["07:30-20:00"]', "sending.normal.lundi", "unknown weekday"),
        ('monday = ["07:30-20:00"]', 'lundi = ["07:30-20:00"]', "sending.normal.monday", "missing required"),
        ('"admin", "secretary"]', '"admin", "janitor"]', "senders.urgent[2]", "unknown role 'janitor'"),
        ("[senders]", '[senders]\ncritical = ["admin"]', "senders.critical", "unknown urgency"),
        ("[limits]", "[sending.critical]\nmonday = []\n[limits]", "sending.critical", "unknown urgency"),
        ("[limits]", "[sending.emergency]\nmonday = []\n[limits]", "sending.emergency", "always allowed"),
        ("end = 2026-10-30", "end = 2026-10-01", "calendar.closed[0].end", "before it starts"),
        ("end = 2026-10-30", 'end = "30/10/2026"', "calendar.closed[0].end", "bad date"),
        ('name = "Toussaint"\n', "", "calendar.closed[0].name", "missing required key"),
        (
            "extra_days_off = [2026-11-02,",
            'extra_days_off = ["demain",',
            "calendar.extra_days_off[0]",
            "bad date",
        ),
        (
            'name = "Athénée de test"',
            'name = "X"\ntimezone = "Europe/Bruxelles"',
            "school.timezone",
            "unknown timezone",
        ),
        ('name = "Athénée de test"', 'name = "X"\ncountry = "XX"', "school.country", "unknown country"),
        ('name = "Athénée de test"', 'name = "X"\nlanguage = "es"', "school.language", "unknown language"),
        ('name = "Athénée de test"', "", "school.name", "missing required key"),
        ('name = "Athénée de test"', "name = 42", "school.name", "non-empty string"),
        (
            "max_non_urgent_per_day = 3",
            "max_non_urgent_per_day = 0",
            "limits.max_non_urgent_per_day",
            "between 1",
        ),
        (
            "max_non_urgent_per_day = 3",
            'max_non_urgent_per_day = "3"',
            "limits.max_non_urgent_per_day",
            "whole",
        ),
        (
            "release_spread_minutes = 30",
            "release_spread_minutes = -5",
            "limits.release_spread_minutes",
            "range",
        ),
        (
            "reply_expected_within_days = 2",
            "reply_expected_within_days = 0",
            "staff_hours.reply_expected",
            "range",
        ),
        ('emergency = ["principal", "admin"]', "emergency = []", "senders.emergency", "at least one role"),
        ("[limits]", "[quiet_hours]\n[limits]", "quiet_hours", "unknown key"),
        (
            "release_spread_minutes = 30",
            "release_spread_minutes = 30\nburst = 2",
            "limits.burst",
            "unknown key",
        ),
        (
            "[calendar]",
            '[calendar]\nschool_weekdays = ["monday", "funday"]',
            "calendar.school_weekdays[1]",
            "funday",
        ),
    ],
)
def test_each_mistake_names_the_file_the_key_and_the_problem(old: str, new: str, key: str, what: str) -> None:
    error = problems_of(broken(old, new))
    assert isinstance(error, ValueError)
    assert any(k.startswith(key) and what in w for k, w in error.problems), error.problems
    line = next(line for line in str(error).splitlines() if what in line)
    assert line.startswith("ecole.toml: ") and key in line


def test_normal_sending_without_any_window_is_refused() -> None:
    text = VALID
    for window in ('["07:30-20:00"]', '["07:30-12:30", "14:00-18:00"]'):
        text = text.replace(f"= {window}", "= []")
    error = problems_of(text)
    assert (
        "sending.normal",
        "no sending window on any weekday: messages could never be sent",
    ) in error.problems


def test_staff_hours_without_any_school_weekday_window_are_refused() -> None:
    text = VALID
    for window in ('["08:00-17:30"]', '["08:00-12:30"]', '["08:00-24:00"]'):
        text = text.replace(f"= {window}", "= []")
    error = problems_of(text)
    assert any(key == "staff_hours" and "no staff hours" in what for key, what in error.problems)


def test_missing_tables_are_reported() -> None:
    error = problems_of('[school]\nname = "X"\n')
    keys = {key for key, _ in error.problems}
    assert {"sending", "staff_hours"} <= keys


def test_several_mistakes_are_reported_at_once() -> None:
    text = broken('monday = ["07:30-20:00"]', 'monday = ["25:00-20:00"]')
    text = text.replace("end = 2026-10-30", "end = 2026-10-01").replace('"secretary"]', '"janitor"]')
    error = problems_of(text)
    assert len(error.problems) == 3
    assert len(str(error).splitlines()) == 3


def test_toml_syntax_error() -> None:
    error = problems_of("[school\nname = 'x'")
    assert error.problems[0][0] == "(file)"
    assert str(error).startswith("ecole.toml: (file): not valid TOML")


def test_load_charter_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "charte.toml"
    path.write_text(broken("max_non_urgent_per_day = 3", "max_non_urgent_per_day = 0"), encoding="utf-8")
    with pytest.raises(CharterError, match=r"charte\.toml: limits\.max_non_urgent_per_day"):
        load_charter(path)
    with pytest.raises(CharterError, match=r"absente\.toml: \(file\): cannot read"):
        load_charter(tmp_path / "absente.toml")
    path.write_text(VALID, encoding="utf-8")
    assert load_charter(path).source == str(path)
