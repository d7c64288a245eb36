"""The roster import: parsing and validation without a database, storing on SQLite and PostgreSQL, the CLI."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.enums import ContactKind, GroupKind, Language, Relation
from hub.people.models import Contact, Group, Guardian, Guardianship, Household, Membership, Pupil, School
from hub.people.roster import ImportReport, RosterError, import_roster, parse_roster, read_roster_file
from hub.store import db as hubdb
from hub.store.audit import AuditEntry

DATA = Path(__file__).parent.parent / "data"
VALID = DATA / "roster_valid.csv"
HEADER = (
    "pupil_id,pupil_first_name,pupil_last_name,pupil_birth_date,class,level,courses,guardian_id,"
    "guardian_first_name,guardian_last_name,relation,household_id,street,postal_code,city,country,email,phone,"
    "language,receives,may_answer,barred,barred_reason"
)
NOW = dt.datetime(2026, 8, 25, 9, 0, tzinfo=dt.UTC)
MODELS = (School, Group, Pupil, Membership, Household, Guardian, Contact, Guardianship)


def line(
    pupil: str = "P1",
    guardian: str = "G1",
    *,
    first: str = "Lina",
    last: str = "Peeters",
    birth: str = "2013-04-02",
    klass: str = "3B",
    courses: str = "",
    g_first: str = "Ann",
    g_last: str = "Peeters",
    relation: str = "mother",
    household: str = "H1",
    email: str = "",
    phone: str = "",
    language: str = "fr",
    receives: str = "yes",
    may_answer: str = "yes",
    barred: str = "no",
    reason: str = "",
) -> str:
    return (
        f"{pupil},{first},{last},{birth},{klass},,{courses},{guardian},{g_first},{g_last},{relation},{household},"
        f"Rue Haute 8,1000,Bruxelles,BE,{email},{phone},{language},{receives},{may_answer},{barred},{reason}"
    )


def csv_text(*lines: str) -> str:
    return "\n".join([HEADER, *lines]) + "\n"


def write(tmp_path: Path, name: str, text: str, *, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


async def row_counts() -> dict[str, int]:
    return {model.__name__: await model.all().count() for model in MODELS}


# ------------------------------------------------------------------------------------------- parsing, no database


def test_parse_valid_file() -> None:
    parsed = parse_roster(VALID.read_text(encoding="utf-8"))
    assert set(parsed.pupils) == {"P1", "P2", "P3", "P4", "P5"}
    assert len(parsed.guardians) == 7
    assert len(parsed.links) == 8
    assert parsed.classes == {"3B": "3", "3C": "3", "1A": "1", "5A": "5", "2B": "2"}
    assert parsed.courses == {"LAT3", "GREC3"}
    assert parsed.pupils["P1"].courses == ("GREC3", "LAT3")
    assert parsed.pupils["P2"].birth_date == dt.date(2013, 9, 2)  # DD/MM/YYYY
    relations = {(link.pupil_id, link.guardian_id): link.relation for link in parsed.links}
    assert relations[("P1", "G1")] is Relation.MOTHER  # "mère"
    assert relations[("P1", "G3")] is Relation.STEPFATHER  # "beau-père"
    assert relations[("P3", "G6")] is Relation.GRANDMOTHER  # "grand-mère"
    assert parsed.guardians["G2"].language is Language.NL
    assert parsed.warnings == []


def test_phone_numbers_are_stored_in_e164() -> None:
    parsed = parse_roster(VALID.read_text(encoding="utf-8"))
    assert parsed.guardians["G1"].phone == "+32470123456"  # "0470 12 34 56": Belgian without country code
    assert parsed.guardians["G2"].phone == "+31612345678"  # "+31 6 12345678": stays Dutch
    assert parsed.guardians["G6"].phone == "+3225123456"  # a Brussels landline
    assert parsed.guardians["G3"].phone == ""


def test_semicolon_delimiter_and_bom_read_the_same() -> None:
    text = VALID.read_text(encoding="utf-8")
    excel = "\ufeff" + text.replace(",", ";")
    comma, semicolon = parse_roster(text), parse_roster(excel)
    assert semicolon.delimiter == ";"
    assert semicolon.pupils == comma.pupils
    assert semicolon.guardians == comma.guardians
    assert semicolon.links == comma.links


def test_a_quoted_cell_may_hold_the_delimiter() -> None:
    text = csv_text(line(g_last="Peeters")).replace(",", ";").replace(";Peeters;mother", ';"Peeters; Van Damme";mother')
    parsed = parse_roster(text)
    assert parsed.delimiter == ";"
    assert parsed.guardians["G1"].last_name == "Peeters; Van Damme"


def test_three_errors_on_three_lines_are_all_reported() -> None:
    text = csv_text(
        line("P1", "G1", birth="31/02/2013"),
        line("P2", "G2", first="Tom", relation="aunt"),
        line("P3", "G3", first="Emma", phone="+32 12"),
    )
    with pytest.raises(RosterError) as caught:
        parse_roster(text)
    errors = [(e.line, e.column) for e in caught.value.errors]
    assert errors == [(2, "pupil_birth_date"), (3, "relation"), (4, "phone")]
    described = caught.value.describe()
    assert 'line 4, column phone: "+32 12" is not a valid phone number' in described
    assert 'line 2, column pupil_birth_date: "31/02/2013" is not a date' in described
    assert 'line 3, column relation: "aunt" is not a known relation' in described


def test_every_kind_of_cell_error_is_collected() -> None:
    text = csv_text(
        line("P1", "G1", email="not-an-email"),
        line("P2", "G2", first="Tom", language="es"),
        line("P3", "G3", first="Emma", receives="maybe"),
        line("", "G4", first=""),
        line("P5", "G5", first="Noah", klass="ACC"),
    )
    with pytest.raises(RosterError) as caught:
        parse_roster(text)
    errors = {(e.line, e.column) for e in caught.value.errors}
    assert errors == {
        (2, "email"),
        (3, "language"),
        (4, "receives"),
        (5, "pupil_id"),
        (5, "pupil_first_name"),
        (6, "level"),  # "ACC" has no leading digits to derive the level from
    }


def test_inconsistent_repeats_are_errors() -> None:
    text = csv_text(
        line("P1", "G1", email="ann@example.be"),
        line("P1", "G2", first="Lena", g_first="Marc", household="H2"),  # same pupil, another first name
        line("P2", "G1", first="Tom", email="ann.other@example.be"),  # same guardian, another email
        line("P1", "G1"),  # the same link twice (and G1's email differs)
    )
    with pytest.raises(RosterError) as caught:
        parse_roster(text)
    described = caught.value.describe()
    assert 'line 3, column pupil_first_name: pupil P1 has "Lina" on line 2 but "Lena" here' in described
    assert "line 4, column email: guardian G1 has" in described
    assert "line 5, column guardian_id: pupil P1 and guardian G1 are already linked on line 2" in described


def test_missing_required_columns_are_reported_on_the_header_line() -> None:
    text = HEADER.replace(",class,", ",klass,").replace(",relation", "") + "\n" + line() + "\n"
    with pytest.raises(RosterError) as caught:
        parse_roster(text)
    assert {(e.line, e.column) for e in caught.value.errors} == {(1, "class"), (1, "relation")}
    assert "line 1, column class: required column is missing from the header" in caught.value.describe()


def test_barred_and_receives_is_accepted_with_a_warning() -> None:
    parsed = parse_roster(csv_text(line(barred="yes", receives="yes", reason="court order")))
    assert parsed.links[0].barred and parsed.links[0].receives
    assert [(w.line, w.column) for w in parsed.warnings] == [(2, "barred")]
    assert "barred wins" in parsed.warnings[0].message


def test_a_household_spelt_two_ways_keeps_the_first_address_with_a_warning() -> None:
    text = csv_text(line("P1", "G1"), line("P1", "G2", g_first="Paul", relation="beau-père"))
    text = text.replace("G2,Paul,Peeters,beau-père,H1,Rue Haute 8", "G2,Paul,Peeters,beau-père,H1,rue Haute 8")
    parsed = parse_roster(text)
    assert parsed.households["H1"].street == "Rue Haute 8"
    assert parsed.guardians["G2"].street == "rue Haute 8"
    assert [(w.line, w.column) for w in parsed.warnings] == [(3, "street")]


def test_a_file_not_in_utf8_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "latin1.csv", csv_text(line(), line("P2", "G2", first="Léa")), encoding="latin-1")
    with pytest.raises(RosterError) as caught:
        read_roster_file(path)
    assert caught.value.errors[0].line == 3
    assert "not UTF-8" in caught.value.describe()


def test_optional_columns_may_be_left_out() -> None:
    header = "pupil_id,pupil_first_name,pupil_last_name,class,guardian_id,guardian_first_name,guardian_last_name,"
    header += "relation,household_id,street,postal_code,city"
    parsed = parse_roster(f"{header}\nP1,Lina,Peeters,3B,G1,Ann,Peeters,mère,H1,Rue Haute 8,1000,Bruxelles\n")
    link, guardian = parsed.links[0], parsed.guardians["G1"]
    assert (link.receives, link.may_answer, link.barred) == (True, True, False)
    assert guardian.country == "BE" and guardian.language is None
    assert parsed.pupils["P1"].level_code == "3"
    assert not parsed.has_courses


# ------------------------------------------------------------------------------------------- storing


async def test_valid_file_imports_families(db: str) -> None:
    report = await import_roster(VALID, now=NOW)
    assert report.counts["pupils"].created == 5
    assert report.counts["guardians"].created == 7
    assert report.counts["households"].created == 6
    assert report.counts["guardianships"].created == 8
    assert report.counts["contacts"].created == 9
    # the school group, levels 1 2 3 5, classes 1A 2B 3B 3C 5A, courses GREC3 LAT3
    assert report.counts["groups"].created == 1 + 4 + 5 + 2
    school = await School.get()
    assert school.name == "École"

    # separated parents: two households, each guardian with their own
    lina = await Pupil.get(external_id="P1")
    links = {g.guardian.external_id: g for g in await Guardianship.filter(pupil=lina).prefetch_related("guardian")}
    assert set(links) == {"G1", "G2", "G3"}
    mother_home = await Household.get(external_id="H1")
    father_home = await Household.get(external_id="H2")
    assert links["G1"].household_id == links["G3"].household_id == mother_home.id
    assert links["G2"].household_id == father_home.id
    assert (father_home.city, father_home.country) == ("Maastricht", "NL")
    assert links["G3"].relation == Relation.STEPFATHER and not links["G3"].may_answer
    father = await Guardian.get(external_id="G2")
    assert father.household_id == father_home.id and father.language == Language.NL and father.street == "Markt 1"

    # a barred guardian
    barred = await Guardianship.get(pupil__external_id="P2", guardian__external_id="G5")
    assert barred.barred and not barred.receives and barred.barred_reason == "court order 2024/123"

    # a grandparent
    grandma = await Guardianship.get(guardian__external_id="G6")
    assert grandma.relation == Relation.GRANDMOTHER

    # one guardian, two children: one guardian row, two guardianships
    claire = await Guardian.get(external_id="G7")
    assert await Guardianship.filter(guardian=claire).count() == 2
    assert await Guardian.filter(external_id="G7").count() == 1

    # contacts: normalised and verified
    phones = set(await Contact.filter(kind=ContactKind.PHONE).values_list("value", flat=True))
    assert {"+32470123456", "+31612345678", "+3225123456"} <= phones
    assert await Contact.filter(verified=False).count() == 0
    contact = await Contact.get(value="+32470123456")
    assert contact.verified_at == NOW

    # groups and memberships: school, level, class, courses
    school_group = await Group.get(kind=GroupKind.SCHOOL, code="school")
    klass = await Group.get(kind=GroupKind.CLASS, code="3B")
    level = await Group.get(kind=GroupKind.LEVEL, code="3")
    assert klass.parent_id == level.id and level.parent_id == school_group.id
    codes = set(await Membership.filter(pupil=lina).values_list("group__code", flat=True))
    assert codes == {"school", "3", "3B", "LAT3", "GREC3"}
    assert await Membership.filter(group=school_group).count() == 5

    entry = await AuditEntry.get(action="roster.imported")
    assert entry.details["file"] == "roster_valid.csv"
    assert entry.details["counts"]["pupils"]["created"] == 5


async def test_semicolon_file_with_bom_imports(db: str, tmp_path: Path) -> None:
    text = VALID.read_text(encoding="utf-8").replace(",", ";")
    path = write(tmp_path, "excel.csv", text, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    report = await import_roster(path)
    assert report.counts["pupils"].created == 5
    assert (await Guardian.get(external_id="G1")).first_name == "Ann"


async def test_bad_file_stores_nothing(db: str, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.csv",
        csv_text(
            line("P1", "G1", birth="2013-13-01"),
            line("P2", "G2", first="Tom", relation="neighbour"),
            line("P3", "G3", first="Emma", phone="+32 12"),
        ),
    )
    with pytest.raises(RosterError) as caught:
        await import_roster(path)
    assert [(e.line, e.column) for e in caught.value.errors] == [(2, "pupil_birth_date"), (3, "relation"), (4, "phone")]
    assert await Pupil.all().count() == 0
    assert await AuditEntry.all().count() == 0


async def test_one_bad_line_stores_nothing(db: str, tmp_path: Path) -> None:
    before = await row_counts()
    lines = VALID.read_text(encoding="utf-8").splitlines()
    lines[4] = lines[4].replace("sophie.dubois@example.be", "sophie.dubois@@example")
    path = write(tmp_path, "almost.csv", "\n".join(lines) + "\n")
    with pytest.raises(RosterError) as caught:
        await import_roster(path)
    assert [(e.line, e.column) for e in caught.value.errors] == [(5, "email")]
    assert await row_counts() == before
    assert await Pupil.all().count() == 0


async def test_importing_twice_changes_nothing(db: str) -> None:
    await import_roster(VALID, now=NOW)
    counts = await row_counts()
    second = await import_roster(VALID, now=NOW + dt.timedelta(days=1))
    assert second.created == 0
    assert second.updated == 0
    assert second.removed == 0
    assert second.deactivated == []
    assert not second.changed
    assert second.counts["pupils"].unchanged == 5
    assert second.counts["guardianships"].unchanged == 8
    assert "nothing changed" in second.describe()
    assert await row_counts() == counts
    assert await AuditEntry.filter(action="roster.imported").count() == 2


async def test_next_year_file_moves_updates_and_deactivates(db: str, tmp_path: Path) -> None:
    await import_roster(VALID, now=NOW)
    old_email = await Contact.get(value="ann.peeters@example.be")
    text = VALID.read_text(encoding="utf-8")
    text = text.replace(",3B,,LAT3|GREC3,", ",4A,,LAT4,")  # Lina moves up a year, changes courses
    text = text.replace("ann.peeters@example.be", "ann@peeters.be")  # a new email
    text = text.replace("Kerkstraat 3", "Kerkstraat 5")  # grandma moves house
    text = "\n".join(ln for ln in text.splitlines() if not ln.startswith("P4,")) + "\n"  # Noah left
    report = await import_roster(write(tmp_path, "2027.csv", text), now=NOW)

    lina = await Pupil.get(external_id="P1")
    codes = set(await Membership.filter(pupil=lina).values_list("group__code", flat=True))
    assert codes == {"school", "4", "4A", "LAT4"}
    assert report.counts["memberships"].removed == 4  # 3, 3B, LAT3, GREC3
    emails = set(
        await Contact.filter(guardian__external_id="G1", kind=ContactKind.EMAIL).values_list("value", flat=True)
    )
    assert emails == {"ann.peeters@example.be", "ann@peeters.be"}  # contacts are never deleted
    assert (await Contact.get(id=old_email.id)).verified
    noah = await Pupil.get(external_id="P4")
    assert not noah.active
    assert await Membership.filter(pupil=noah).count() == 3  # school, 5, 5A: history kept
    assert report.deactivated == ["P4 Noah Lambert"]
    assert "P4 Noah Lambert" in report.describe()
    assert (await Household.get(external_id="H5")).street == "Kerkstraat 5"
    assert (await Guardian.get(external_id="G6")).street == "Kerkstraat 5"
    assert report.counts["households"].updated == 1
    assert report.counts["guardians"].updated == 1
    assert report.counts["contacts"].created == 1
    assert await Pupil.filter(active=True).count() == 4

    # Noah comes back the year after: active again, nothing duplicated
    again = await import_roster(VALID, now=NOW)
    assert (await Pupil.get(external_id="P4")).active
    assert again.counts["pupils"].updated == 1
    assert await Pupil.all().count() == 5


async def test_a_guardian_taken_off_a_pupil_loses_the_link(db: str, tmp_path: Path) -> None:
    await import_roster(VALID, now=NOW)
    text = "\n".join(ln for ln in VALID.read_text(encoding="utf-8").splitlines() if ",G3," not in ln) + "\n"
    report = await import_roster(write(tmp_path, "new.csv", text), now=NOW)
    assert report.counts["guardianships"].removed == 1
    assert not await Guardianship.filter(guardian__external_id="G3").exists()
    assert await Guardian.filter(external_id="G3").exists()  # the guardian row stays
    assert any("G3 is no longer linked to pupil P1" in w for w in report.warnings)


async def test_parents_who_separate_get_two_households(db: str, tmp_path: Path) -> None:
    together = csv_text(line("P1", "G1"), line("P1", "G2", g_first="Marc", relation="père"))
    await import_roster(write(tmp_path, "a.csv", together))
    assert await Household.all().count() == 1
    apart = together.replace(
        "G2,Marc,Peeters,père,H1,Rue Haute 8,1000,Bruxelles", "G2,Marc,Peeters,père,H2,Rue Neuve 1,1000,Bruxelles"
    )
    report = await import_roster(write(tmp_path, "b.csv", apart))
    assert report.counts["households"].created == 1
    assert report.counts["guardians"].updated == 1
    assert report.counts["guardianships"].updated == 1
    marc = await Guardian.get(external_id="G2").prefetch_related("household")
    assert marc.household is not None and marc.household.external_id == "H2" and marc.street == "Rue Neuve 1"
    link = await Guardianship.get(guardian=marc)
    assert link.household_id == marc.household.id


async def test_language_left_empty_keeps_the_guardians_choice(db: str, tmp_path: Path) -> None:
    await import_roster(write(tmp_path, "a.csv", csv_text(line(language=""))))
    guardian = await Guardian.get(external_id="G1")
    assert guardian.language == Language.FR
    guardian.language = Language.NL  # changed on the portal
    await guardian.save()
    report = await import_roster(write(tmp_path, "b.csv", csv_text(line(language=""))))
    assert not report.changed
    assert (await Guardian.get(external_id="G1")).language == Language.NL


async def test_an_erased_guardian_is_not_filled_in_again(db: str) -> None:
    await import_roster(VALID, now=NOW)
    ann = await Guardian.get(external_id="G1")
    ann.first_name, ann.last_name, ann.erased_at = "", "", NOW
    await ann.save()
    await Contact.filter(guardian=ann).delete()
    report = await import_roster(VALID, now=NOW)
    ann = await Guardian.get(external_id="G1")
    assert (ann.first_name, ann.last_name) == ("", "")
    assert not await Contact.filter(guardian=ann).exists()
    assert report.counts["contacts"].created == 0
    assert any("G1 was erased" in w for w in report.warnings)


def test_the_documented_example_parses() -> None:
    doc = (Path(__file__).parent.parent.parent / "docs" / "roster.md").read_text(encoding="utf-8")
    example = doc.split("```csv\n", 1)[1].split("```", 1)[0]
    parsed = parse_roster(example)
    assert parsed.delimiter == ";" and len(parsed.links) == 4
    assert parsed.links[2].barred


async def test_dry_run_stores_nothing(db: str) -> None:
    report = await import_roster(VALID, dry_run=True)
    assert report.dry_run
    assert report.counts["pupils"].created == 5
    assert "dry run" in report.describe()
    assert await row_counts() == dict.fromkeys((m.__name__ for m in MODELS), 0)
    assert await AuditEntry.all().count() == 0


async def test_existing_school_is_used(db: str) -> None:
    school = await School.create(name="Athénée Royal")
    await import_roster(VALID)
    assert await School.all().count() == 1
    assert await Pupil.filter(school=school).count() == 5
    assert (await Group.get(kind=GroupKind.SCHOOL)).name == "Athénée Royal"


def big_roster(pupils: int = 450) -> str:
    """About 800 guardians: most pupils have two, siblings share theirs."""
    lines = []
    for i in range(pupils):
        family = i - 1 if i % 20 == 1 else i  # one pupil in twenty is the sibling of the previous one
        klass = f"{1 + i % 6}{'ABCD'[i % 4]}"
        for k, relation in enumerate(("mother", "father")):
            if i % 9 == 0 and k == 1:  # some families have one guardian
                continue
            g = f"G{family}-{k}"
            lines.append(
                f"P{i},Pupil{i},Family{family},2014-01-01,{klass},,LAT{1 + i % 6},{g},First{k},Family{family},"
                f"{relation},H{family}-{k},Rue {family},1000,Bruxelles,BE,{g.lower()}@example.be,"
                f"+32470{family:06d},fr,yes,yes,no,"
            )
    return csv_text(*lines)


async def test_a_school_sized_file_imports_in_seconds(db: str, tmp_path: Path) -> None:
    path = write(tmp_path, "big.csv", big_roster())
    parsed = parse_roster(path.read_text(encoding="utf-8"))
    assert len(parsed.pupils) == 450 and len(parsed.guardians) > 750
    start = time.perf_counter()
    report = await import_roster(path)
    elapsed = time.perf_counter() - start
    assert report.counts["pupils"].created == 450
    assert await Guardianship.all().count() == len(parsed.links)
    assert elapsed < 10, f"import took {elapsed:.1f}s"
    start = time.perf_counter()
    again = await import_roster(path)
    assert not again.changed
    assert time.perf_counter() - start < 10


def test_report_describe_lists_counts_and_warnings() -> None:
    report = ImportReport(file_name="x.csv", lines=3, deactivated=["P9 Ann Old"], warnings=["line 2: note"])
    report.counts["pupils"].created = 2
    text = report.describe()
    assert "roster x.csv: 3 lines" in text
    assert "P9 Ann Old" in text and "line 2: note" in text
    assert "total: 2 created, 0 updated, 0 removed" in text


# ------------------------------------------------------------------------------------------- the command


def _carnet(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CARNET_DATABASE_URL=f"sqlite://{tmp_path / 'x.sqlite3'}", CARNET_DATA_DIR=str(tmp_path))
    carnet = Path(sys.executable).parent / "carnet"
    return subprocess.run(
        [str(carnet), "import", *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_cli_imports_a_file(tmp_path: Path) -> None:
    done = _carnet(tmp_path, str(VALID), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "roster roster_valid.csv: 8 lines" in done.stdout
    assert "total: " in done.stdout

    async def count() -> int:
        await hubdb.init(f"sqlite://{tmp_path / 'x.sqlite3'}")
        try:
            return await Pupil.all().count()
        finally:
            await hubdb.close()

    assert asyncio.run(count()) == 5
    again = _carnet(tmp_path, str(VALID))  # with the progress bar (on stderr)
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stdout


def test_cli_dry_run(tmp_path: Path) -> None:
    done = _carnet(tmp_path, str(VALID), "--dry-run", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "dry run" in done.stdout


def test_cli_rejects_a_bad_file_with_exit_code_2(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "bad.csv",
        csv_text(line("P1", "G1", phone="+32 12"), line("P2", "G2", first="Tom", receives="peut-être")),
    )
    done = _carnet(tmp_path, str(bad), "--quiet")
    assert done.returncode == 2
    assert 'line 2, column phone: "+32 12" is not a valid phone number' in done.stderr
    assert 'line 3, column receives: "peut-être" is not yes or no' in done.stderr
    assert done.stdout == ""
