"""The demo school: its shape, its families, determinism and replacement, on both backends.

Each generation writes a whole school (a second or so), so the checks are grouped into few tests.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest
from argon2 import PasswordHasher

from hub.demo.guide import demo_guide
from hub.demo.school import DEMO_PASSWORD, DemoError, generate_demo
from hub.enums import Channel, ConsentPurpose, ContactKind, GroupKind, StaffRole
from hub.people.models import (
    ChannelPreference,
    Consent,
    Contact,
    Group,
    Guardian,
    Guardianship,
    Pupil,
    School,
    Staff,
    StaffRoleGrant,
    Teaching,
)
from hub.store.audit import AuditEntry

SEED = 2026
PHONE = re.compile(r"^\+324[5-9]\d{7}$")
EMAIL = re.compile(r"^[a-z0-9.-]+@example\.(be|com|org)$")


async def _snapshot() -> tuple[list[tuple], list[tuple], list[tuple]]:
    guardians = (
        await Guardian.all().order_by("external_id").values_list("external_id", "first_name", "last_name", "language")
    )
    emails = (
        await Contact.filter(kind=ContactKind.EMAIL).order_by("value").values_list("guardian__external_id", "value")
    )
    pupils = (
        await Pupil.all().order_by("external_id").values_list("external_id", "first_name", "last_name", "birth_date")
    )
    return guardians, emails, pupils


async def test_the_demo_school_has_the_stated_shape(db: str) -> None:
    summary = await generate_demo(seed=SEED)
    school = await School.get(id=summary.school_id)
    assert school.school_year == "2026-2027"

    # Groups: the school, 6 levels, 18 classes, course groups across classes.
    assert 440 <= await Pupil.filter(school=school).count() <= 460
    assert await Group.filter(kind=GroupKind.SCHOOL, code="school").count() == 1
    levels = await Group.filter(kind=GroupKind.LEVEL).prefetch_related("parent")
    assert sorted(g.code for g in levels) == ["1", "2", "3", "4", "5", "6"]
    assert {g.parent.code for g in levels} == {"school"}
    classes = await Group.filter(kind=GroupKind.CLASS).prefetch_related("parent")
    assert len(classes) == 18
    assert all(g.parent.code == g.code[0] for g in classes)
    courses = set(await Group.filter(kind=GroupKind.COURSE).values_list("code", flat=True))
    assert {"LAT3", "NL5", "ALL4"} <= courses

    # Guardians and households.
    assert 750 <= await Guardian.filter(school=school).count() <= 850
    links = await Guardianship.all().values_list("pupil_id", "guardian_id", "household_id", "barred", "barred_reason")
    homes_of: defaultdict[int, set[int]] = defaultdict(set)
    for pupil_id, _, household_id, _, _ in links:
        homes_of[pupil_id].add(household_id)
    share = sum(1 for homes in homes_of.values() if len(homes) >= 2) / summary.pupils
    assert share >= 0.15
    assert share == pytest.approx(summary.separated_pupils_share)
    barred = [link for link in links if link[3]]
    assert len(barred) == 1
    assert barred[0][4].startswith("Décision du tribunal de la famille")
    assert summary.barred_guardian is not None and summary.barred_guardian.id == barred[0][1]
    # Siblings share their guardians: one guardian, several guardianships.
    assert max(Counter(guardian_id for _, guardian_id, *_ in links).values()) >= 3

    # Paper-only families: no contact at all, letters only.
    reachable = set(await Contact.all().values_list("guardian_id", flat=True))
    guardian_ids = set(await Guardian.all().values_list("id", flat=True))
    paper_only = guardian_ids - reachable
    assert len(paper_only) == summary.paper_only_guardians > 0
    prefs = await ChannelPreference.filter(guardian_id__in=paper_only).values_list("channel", flat=True)
    assert set(prefs) == {Channel.LETTER}
    assert summary.paper_only_family and {p.id for p in summary.paper_only_family} <= paper_only

    # Every preference list ends with the letter.
    ranked: defaultdict[int, list[tuple[int, str]]] = defaultdict(list)
    for guardian_id, rank, channel in await ChannelPreference.all().values_list("guardian_id", "rank", "channel"):
        ranked[guardian_id].append((rank, channel))
    assert set(ranked) == guardian_ids
    assert all(max(pairs)[1] == Channel.LETTER for pairs in ranked.values())

    # Contacts on reserved domains, Belgian mobiles in E.164, all verified; some Telegram.
    contacts = await Contact.all().values_list("kind", "value", "verified")
    assert all(verified for *_, verified in contacts)
    assert all(EMAIL.match(value) for kind, value, _ in contacts if kind == ContactKind.EMAIL)
    assert all(PHONE.match(value) for kind, value, _ in contacts if kind == ContactKind.PHONE)
    assert any(kind == ContactKind.TELEGRAM for kind, *_ in contacts)
    # Consent history: some SMS consents were withdrawn.
    assert await Consent.filter(purpose=ConsentPurpose.SMS, withdrawn_at__isnull=False).exists()

    languages = Counter(await Guardian.all().values_list("language", flat=True))
    assert {"fr", "nl", "en"} <= set(languages)
    assert languages["fr"] > languages["nl"] > languages["en"]

    # Staff: every role, at least two admins, one titular per class, the demo logins work.
    roles = Counter(await StaffRoleGrant.all().values_list("role", flat=True))
    assert set(roles) == set(StaffRole)
    assert roles[StaffRole.ADMIN] >= 2
    assert 35 <= roles[StaffRole.TEACHER] <= 45
    titulars = Counter(await Teaching.filter(is_titular=True).values_list("group__code", flat=True))
    assert sorted(titulars) == sorted(g.code for g in classes)
    assert set(titulars.values()) == {1}
    hasher = PasswordHasher()
    for prefix in ("prof.demo", "direction", "secretariat", "admin"):
        member = await Staff.get(email=f"{prefix}@athenee-demo.example.be")
        assert hasher.verify(member.password_hash, DEMO_PASSWORD)
    assert {a.email.split("@")[0] for a in summary.accounts} == {"prof.demo", "direction", "secretariat", "admin"}

    assert await AuditEntry.filter(action="demo.generated").count() == 1
    text = summary.describe()
    assert "prof.demo@athenee-demo.example.be" in text
    assert summary.separated_parents[0].name in text
    # The terminal names the families the landing page names (both read them with hub.demo.guide).
    guide = await demo_guide()
    assert guide is not None and summary.separated_pupil and summary.paper_only_pupil
    assert [p.id for p in summary.separated_parents] == [p.guardian_id for p in guide.separated_parents]
    assert summary.separated_pupil.id == guide.separated_pupil_id
    assert [p.id for p in summary.paper_only_family] == [p.guardian_id for p in guide.paper_family]
    assert summary.paper_only_pupil.id == guide.paper_pupil_id


async def test_same_seed_same_school_and_replace_is_explicit(db: str) -> None:
    first = await generate_demo(seed=SEED)
    before = await _snapshot()

    with pytest.raises(DemoError, match="already holds a school"):
        await generate_demo(seed=SEED)
    assert await _snapshot() == before

    again = await generate_demo(seed=SEED, replace=True)
    assert await School.all().count() == 1
    assert await _snapshot() == before
    assert (again.pupils, again.guardians, again.grades) == (first.pupils, first.guardians, first.grades)
    # The audit log is append-only: the first generation's entry stays.
    assert await AuditEntry.filter(action="demo.generated").count() == 2

    await generate_demo(seed=SEED + 1, replace=True)
    assert (await _snapshot())[0] != before[0]


async def test_replace_never_removes_a_school_that_is_not_the_demo(db: str) -> None:
    await School.create(name="Collège réel")
    with pytest.raises(DemoError, match="not the demo school"):
        await generate_demo(seed=SEED, replace=True)
    assert await School.filter(name="Collège réel").exists()
